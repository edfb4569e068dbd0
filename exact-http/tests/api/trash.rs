//! EXACT's DELETE without losing data: `DELETE` and `multiple_delete` make annotations gone
//! (404, in no list) while the trash keeps them restorable by their editors; `PATCH
//! deleted=true` stays the visible soft delete. And `product_set` on a new image set.

use crate::kit::Api;
use axum::http::StatusCode;
use serde_json::{Value, json};

async fn annotate(api: &Api, auth: &str, image: u64, kind: u64, x: i64) -> u64 {
    api.ok(
        "POST",
        "/api/v1/annotations/annotations/",
        auth,
        Some(json!({"annotation_type": kind, "image": image, "vector": {"x1": x, "y1": 10, "x2": x + 50, "y2": 60}})),
    )
    .await["id"]
        .as_u64()
        .unwrap()
}

fn ids(v: &Value) -> Vec<u64> {
    let mut out: Vec<u64> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_u64().unwrap())
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn deleted_annotations_are_gone_but_restorable_from_the_trash() {
    let api = Api::new();
    let admin = api.user("admin", false);
    let member = api.user("member", false);
    let (team, set, kind, image) = api.world(&admin, "trash").await;
    let id = |name: &str| api.exact.users().by_username(name).unwrap().unwrap().id;
    let a = api.exact.actor(id("admin")).unwrap();
    api.exact
        .teams()
        .add_member(&a, exact_core::TeamId(team), id("member"), false)
        .unwrap();
    // Second opinion: the member edits (and sees) only their own annotations.
    api.ok(
        "PATCH",
        &format!("/api/v1/images/image_sets/{set}/"),
        &admin,
        Some(json!({"collaboration_type": 2})),
    )
    .await;
    let one = annotate(&api, &admin, image, kind, 10).await;
    let two = annotate(&api, &admin, image, kind, 100).await;
    let three = annotate(&api, &admin, image, kind, 200).await;
    let soft = annotate(&api, &admin, image, kind, 300).await;
    let mine = annotate(&api, &member, image, kind, 400).await;
    let item = |id: u64| format!("/api/v1/annotations/annotations/{id}/");
    let list = |deleted: &str| format!("/api/v1/annotations/annotations/?image={image}{deleted}");

    // PATCH deleted=true: EXACT's visible soft delete.
    let v = api
        .ok("PATCH", &item(soft), &admin, Some(json!({"deleted": true})))
        .await;
    assert_eq!(v["deleted"], true);
    assert_eq!(
        api.ok("GET", &item(soft), &admin, None).await["deleted"],
        true
    );

    // DELETE and multiple_delete: gone from retrieve and every list.
    let (s, _) = api.call("DELETE", &item(one), Some(&admin), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let v = api
        .ok(
            "DELETE",
            &format!("/api/v1/annotations/annotations/multiple_delete/?id__in={two}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(v["deleted"], 1);
    for gone in [one, two] {
        let (s, _) = api.call("GET", &item(gone), Some(&admin), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _) = api.call("DELETE", &item(gone), Some(&admin), None).await;
        assert_eq!(
            s,
            StatusCode::NOT_FOUND,
            "a second DELETE is a 404, as in EXACT"
        );
    }
    assert_eq!(
        ids(&api.ok("GET", &list(""), &admin, None).await),
        [three, soft, mine]
    );
    assert_eq!(
        ids(&api.ok("GET", &list("&deleted=true"), &admin, None).await),
        [soft]
    );
    assert_eq!(
        ids(&api.ok("GET", &list("&deleted=false"), &admin, None).await),
        [three, mine]
    );

    // The trash lists them for their editor only; a member cannot restore them.
    let trash = format!("/api/v1/annotations/annotations/trash/?image={image}");
    assert_eq!(ids(&api.ok("GET", &trash, &admin, None).await), [one, two]);
    assert_eq!(
        ids(&api.ok("GET", &trash, &member, None).await),
        Vec::<u64>::new()
    );
    let restore = |id: u64| format!("/api/v1/annotations/annotations/{id}/restore/");
    let (s, _) = api.call("POST", &restore(one), Some(&member), None).await;
    assert!(
        s == StatusCode::FORBIDDEN || s == StatusCode::NOT_FOUND,
        "{s}"
    );
    let (s, _) = api.call("POST", &restore(three), Some(&admin), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "not in the trash");

    // Restored: live again, with its history (created, deleted, restored).
    let v = api.ok("POST", &restore(one), &admin, None).await;
    assert_eq!(
        (v["id"].as_u64(), v["deleted"].as_bool()),
        (Some(one), Some(false))
    );
    assert_eq!(api.ok("GET", &item(one), &admin, None).await["id"], one);
    assert_eq!(
        ids(&api.ok("GET", &list("&deleted=false"), &admin, None).await),
        [one, three, mine]
    );
    assert_eq!(ids(&api.ok("GET", &trash, &admin, None).await), [two]);
    let a = api.exact.actor(id("admin")).unwrap();
    let actions: Vec<_> = api
        .exact
        .annotations()
        .history(&a, exact_core::AnnotationId(one))
        .unwrap()
        .iter()
        .map(|r| r.action)
        .collect();
    use exact_core::model::ChangeAction::*;
    assert_eq!(actions, [Created, Deleted, Restored]);

    // The member trashes and restores their own.
    let (s, _) = api.call("DELETE", &item(mine), Some(&member), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    api.ok("POST", &restore(mine), &member, None).await;

    // fsck finds nothing wrong with a trashed annotation's history.
    let report = api.exact.catalog().fsck(false).unwrap();
    assert!(report.findings.is_empty(), "{:?}", report.findings);
}

#[tokio::test]
async fn a_new_image_set_links_its_product_set() {
    let api = Api::new();
    let admin = api.user("admin", false);
    let (team, _, _, _) = api.world(&admin, "links").await;
    let product = api
        .ok(
            "POST",
            "/api/v1/administration/products/",
            &admin,
            Some(json!({"name": "second", "team": team})),
        )
        .await["id"]
        .as_u64()
        .unwrap();
    let set = api
        .ok(
            "POST",
            "/api/v1/images/image_sets/",
            &admin,
            Some(json!({"name": "linked", "team": team, "product_set": [product]})),
        )
        .await;
    assert_eq!(set["product_set"], json!([product]), "{set}");
    let p = api
        .ok(
            "GET",
            &format!("/api/v1/administration/products/{product}/"),
            &admin,
            None,
        )
        .await;
    assert_eq!(p["imagesets"], json!([set["id"]]), "{p}");
    // An unknown product is a 400 naming the field, and no set is left behind.
    let (s, v) = api
        .call(
            "POST",
            "/api/v1/images/image_sets/",
            Some(&admin),
            Some(json!({"name": "broken", "team": team, "product_set": [999]})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["product_set"].is_array(), "{v}");
    let sets = api
        .ok(
            "GET",
            "/api/v1/images/image_sets/?name=broken",
            &admin,
            None,
        )
        .await;
    assert_eq!(sets["count"], 0, "{sets}");
}
