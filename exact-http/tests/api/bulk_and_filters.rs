//! The annotation list's filters are honest (each known filter is applied; a bad value is a
//! 400 naming it), the list form of `multiple_update/` is one atomic batch refused whole on
//! mixed rights, and history, revision restore and `multiple_restore/` answer over HTTP.

use crate::kit::Api;
use axum::http::StatusCode;
use serde_json::{Value, json};

const LIST: &str = "/api/v1/annotations/annotations/";

async fn annotate(api: &Api, auth: &str, image: u64, kind: u64, x: i64, text: &str) -> Value {
    api.ok(
        "POST",
        LIST,
        auth,
        Some(
            json!({"annotation_type": kind, "image": image, "description": text,
                    "vector": {"x1": x, "y1": 10, "x2": x + 50, "y2": 60}}),
        ),
    )
    .await
}

fn ids(v: &Value) -> Vec<u64> {
    let mut out: Vec<u64> = v["results"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {v}"))
        .iter()
        .map(|a| a["id"].as_u64().unwrap())
        .collect();
    out.sort();
    out
}

/// A team of `admin` with `member` in it, in a second-opinion set (members edit only their own).
async fn second_opinion(api: &Api, name: &str) -> (String, String, u64, u64) {
    let admin = api.user(&format!("{name}-admin"), false);
    let member = api.user(&format!("{name}-member"), false);
    let (team, set, kind, image) = api.world(&admin, name).await;
    let id = |n: &str| api.exact.users().by_username(n).unwrap().unwrap().id;
    let a = api.exact.actor(id(&format!("{name}-admin"))).unwrap();
    api.exact
        .teams()
        .add_member(
            &a,
            exact_core::TeamId(team),
            id(&format!("{name}-member")),
            false,
        )
        .unwrap();
    api.ok(
        "PATCH",
        &format!("/api/v1/images/image_sets/{set}/"),
        &admin,
        Some(json!({"collaboration_type": 2})),
    )
    .await;
    (admin, member, kind, image)
}

#[tokio::test]
async fn every_known_annotation_filter_is_applied_and_bad_values_are_named() {
    let api = Api::new();
    let admin = api.user("admin", false);
    let other = api.user("other", false);
    let (team, set, kind, image) = api.world(&admin, "filters").await;
    let uid = |n: &str| api.exact.users().by_username(n).unwrap().unwrap().id;
    let a = api.exact.actor(uid("admin")).unwrap();
    api.exact
        .teams()
        .add_member(&a, exact_core::TeamId(team), uid("other"), false)
        .unwrap();
    let first = annotate(&api, &admin, image, kind, 10, "mitosis here").await;
    let second = annotate(&api, &admin, image, kind, 100, "nothing").await;
    let third = annotate(&api, &admin, image, kind, 200, "another mitosis").await;
    let [one, two, three] = [&first, &second, &third].map(|v| v["id"].as_u64().unwrap());
    let q = |params: &str| format!("{LIST}?image={image}&{params}");

    // verified_by, verified_by__in, verified_by__range: who judged it.
    for (who, id) in [(&admin, one), (&other, two)] {
        api.ok(
            "POST",
            "/api/v1/annotations/verifications/",
            who,
            Some(json!({"annotation": id, "verified": true})),
        )
        .await;
    }
    let (ua, uo) = (uid("admin").0, uid("other").0);
    assert_eq!(
        ids(&api
            .ok("GET", &q(&format!("verified_by={uo}")), &admin, None)
            .await),
        [two]
    );
    assert_eq!(
        ids(&api
            .ok(
                "GET",
                &q(&format!("verified_by__in={ua},{uo}")),
                &admin,
                None
            )
            .await),
        [one, two]
    );
    assert_eq!(
        ids(&api
            .ok("GET", &q(&format!("verified_by__in={uo}")), &admin, None)
            .await),
        [two]
    );
    assert_eq!(
        ids(&api
            .ok(
                "GET",
                &q(&format!("verified_by__range={ua},{ua}")),
                &admin,
                None
            )
            .await),
        [one]
    );

    // annotationversion: the annotation a set-version snapshot is of.
    api.ok(
        "POST",
        "/api/v1/images/set_versions/",
        &admin,
        Some(json!({"name": "v1", "imagesets": [set]})),
    )
    .await;
    let snaps = api
        .ok(
            "GET",
            &format!("/api/v1/annotations/annotation_versions/?annotation={three}"),
            &admin,
            None,
        )
        .await;
    let snap = snaps["results"][0]["id"]
        .as_u64()
        .expect("a snapshot of the third");
    assert_eq!(
        ids(&api
            .ok(
                "GET",
                &q(&format!("annotationversion={snap}")),
                &admin,
                None
            )
            .await),
        [three]
    );
    assert_eq!(
        ids(&api
            .ok("GET", &q("annotationversion=999999"), &admin, None)
            .await),
        Vec::<u64>::new()
    );

    // EXACT's other filters on the annotation list.
    assert_eq!(
        ids(&api
            .ok("GET", &q("description__contains=mitosis"), &admin, None)
            .await),
        [one, three]
    );
    let uuid = second["unique_identifier"].as_str().unwrap();
    assert_eq!(
        ids(&api
            .ok(
                "GET",
                &q(&format!("unique_identifier__in={uuid}")),
                &admin,
                None
            )
            .await),
        [two]
    );
    assert_eq!(
        ids(&api
            .ok("GET", &q("vector__isnull=false"), &admin, None)
            .await),
        [one, two, three]
    );
    assert_eq!(
        ids(&api
            .ok("GET", &q("meta_data__isnull=true"), &admin, None)
            .await),
        [one, two, three]
    );
    let t = third["time"].as_str().unwrap();
    assert_eq!(
        ids(&api
            .ok("GET", &q(&format!("time__lt={t}")), &admin, None)
            .await),
        [one, two]
    );
    assert_eq!(
        ids(&api
            .ok("GET", &q(&format!("time__gte={t}")), &admin, None)
            .await),
        [three]
    );
    assert_eq!(
        ids(&api
            .ok("GET", &q(&format!("last_edit_time__lt={t}")), &admin, None)
            .await),
        [one, two]
    );
    assert_eq!(
        ids(&api
            .ok("GET", &q("time__gte=2000-01-01"), &admin, None)
            .await),
        [one, two, three]
    );
    assert_eq!(
        ids(&api
            .ok(
                "GET",
                &q(&format!("time__range=2000-01-01,{t}")),
                &admin,
                None
            )
            .await),
        [one, two, three]
    );
    assert_eq!(
        ids(&api
            .ok(
                "GET",
                &q(&format!("id__in={one},{three},999999")),
                &admin,
                None
            )
            .await),
        [one, three]
    );
    // An unknown parameter is ignored, as django-filter does.
    assert_eq!(
        ids(&api.ok("GET", &q("no_such_filter=3"), &admin, None).await),
        [one, two, three]
    );

    // A known filter with a bad value: 400 naming it, from either list path.
    for (param, value) in [
        ("verified_by__in", "1,x"),
        ("verified_by", "me"),
        ("verified_by__range", "3"),
        ("annotationversion", "first"),
        ("vector_type", "9"),
        ("time__lte", "yesterday"),
        ("last_edit_time__gte", "soon"),
        ("time__range", "2000-01-01,later"),
        ("deleted", "maybe"),
        ("id__in", "1,two"),
    ] {
        for shaped in ["", "&omit=annotationversion_set"] {
            let (s, v) = api
                .call(
                    "GET",
                    &q(&format!("{param}={value}{shaped}")),
                    Some(&admin),
                    None,
                )
                .await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{param}={value}{shaped}: {v}");
            assert!(
                v.get(param).is_some(),
                "{param}={value}: the error names it: {v}"
            );
        }
    }
}

#[tokio::test]
async fn bulk_update_is_one_batch_refused_whole_on_mixed_rights() {
    let api = Api::new();
    let (admin, member, kind, image) = second_opinion(&api, "bulk").await;
    let theirs = annotate(&api, &admin, image, kind, 10, "admin's").await["id"]
        .as_u64()
        .unwrap();
    let mine = annotate(&api, &member, image, kind, 100, "member's").await["id"]
        .as_u64()
        .unwrap();
    let url = "/api/v1/annotations/annotations/multiple_update/";

    // The member may edit their own but not the admin's: refused whole, naming the item.
    let (s, v) = api
        .call(
            "POST",
            url,
            Some(&member),
            Some(json!([{"id": mine, "description": "changed"}, {"id": theirs, "description": "changed"}])),
        )
        .await;
    assert!(
        s == StatusCode::FORBIDDEN || s == StatusCode::NOT_FOUND,
        "{s} {v}"
    );
    let text = v.to_string();
    assert!(text.contains("[1]"), "names the offending item: {text}");
    let now = api
        .ok("GET", &format!("{LIST}{mine}/"), &member, None)
        .await;
    assert_eq!(now["description"], "member's", "nothing written");
    let now = api
        .ok("GET", &format!("{LIST}{theirs}/"), &admin, None)
        .await;
    assert_eq!(now["description"], "admin's", "nothing written");

    // A bad item: 400 naming its index and field, nothing written.
    let (s, v) = api
        .call(
            "POST",
            url,
            Some(&admin),
            Some(json!([{"id": theirs, "description": "ok"}, {"id": theirs + 1000}, ])),
        )
        .await;
    assert!(
        s == StatusCode::NOT_FOUND || s == StatusCode::BAD_REQUEST,
        "{s} {v}"
    );
    assert!(v.to_string().contains("[1]"), "{v}");
    let (s, v) = api
        .call(
            "POST",
            url,
            Some(&admin),
            Some(json!([{"description": "no id"}])),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v.get("[0].id").is_some(), "{v}");
    let (s, v) = api
        .call(
            "POST",
            url,
            Some(&admin),
            Some(json!([{"id": theirs, "vector": {"x1": "left"}}])),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(
        api.ok("GET", &format!("{LIST}{theirs}/"), &admin, None)
            .await["description"],
        "admin's"
    );

    // All editable: every patch applies, answered in the order given.
    let v = api
        .ok(
            "POST",
            url,
            &admin,
            Some(json!([{"id": theirs, "description": "both", "deleted": true}])),
        )
        .await;
    assert_eq!(v[0]["id"], theirs);
    assert_eq!(v[0]["description"], "both");
    assert_eq!(v[0]["deleted"], true);
    // The object form (relabel) still works.
    let v = api
        .ok(
            "POST",
            url,
            &member,
            Some(json!({"ids": [mine], "annotation_type": kind})),
        )
        .await;
    assert_eq!(v["updated"], 1);
}

#[tokio::test]
async fn history_revision_restore_and_bulk_restore_over_http() {
    let api = Api::new();
    let (admin, member, kind, image) = second_opinion(&api, "history").await;
    let a = annotate(&api, &admin, image, kind, 10, "v0").await["id"]
        .as_u64()
        .unwrap();
    let b = annotate(&api, &admin, image, kind, 100, "b").await["id"]
        .as_u64()
        .unwrap();
    api.ok(
        "PATCH",
        &format!("{LIST}{a}/"),
        &admin,
        Some(json!({"description": "v1"})),
    )
    .await;
    let h = api
        .ok("GET", &format!("{LIST}{a}/history/"), &admin, None)
        .await;
    let h = h.as_array().unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(h[0]["number"], 0);
    assert_eq!(h[0]["after"]["description"], "v0");
    assert_eq!(h[1]["before"]["description"], "v0");
    assert_eq!(h[1]["after"]["description"], "v1");
    // The member cannot restore the admin's annotation (second opinion: sees only their own).
    let (s, _) = api
        .call(
            "POST",
            &format!("{LIST}{a}/history/0/restore/"),
            Some(&member),
            None,
        )
        .await;
    assert!(
        s == StatusCode::NOT_FOUND || s == StatusCode::FORBIDDEN,
        "{s}"
    );
    let v = api
        .ok(
            "POST",
            &format!("{LIST}{a}/history/0/restore/"),
            &admin,
            None,
        )
        .await;
    assert_eq!(v["description"], "v0");
    let (s, _) = api
        .call(
            "POST",
            &format!("{LIST}{a}/history/9/restore/"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // multiple_delete to the trash, multiple_restore back: both all or none.
    api.ok(
        "DELETE",
        &format!("{LIST}multiple_delete/?id__in={a},{b}"),
        &admin,
        None,
    )
    .await;
    let (s, _) = api
        .call(
            "POST",
            &format!("{LIST}multiple_restore/"),
            Some(&admin),
            Some(json!({"ids": [a, 999_999]})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = api
        .call("GET", &format!("{LIST}{a}/"), Some(&admin), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "nothing restored");
    let v = api
        .ok(
            "POST",
            &format!("{LIST}multiple_restore/"),
            &admin,
            Some(json!({"ids": [a, b]})),
        )
        .await;
    let back: Vec<u64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert_eq!(back, [a, b]);
    api.ok("GET", &format!("{LIST}{b}/"), &admin, None).await;
}
