//! `GET /api/v1/processing/agreement/`: the agreement use case over HTTP — the numbers of a
//! small hand-computed example, and 400s/404s naming what is wrong.

use crate::kit::Api;
use axum::http::StatusCode;
use serde_json::json;

async fn add(
    api: &Api,
    auth: &str,
    kind: u64,
    image: u64,
    x: i64,
    w: i64,
    meta: serde_json::Value,
) {
    let body = json!({"annotation_type": kind, "image": image, "meta_data": meta,
        "vector": {"x1": x, "y1": 0, "x2": x + w, "y2": 100}});
    api.ok("POST", "/api/v1/annotations/annotations/", auth, Some(body))
        .await;
}

#[tokio::test]
async fn agreement_over_http() {
    let api = Api::new();
    let admin = api.user("admin", false);
    let member = api.user("member", false);
    let outsider = api.user("outsider", false);
    let (team, set, kind, image) = api.world(&admin, "agree").await;
    let id = |name: &str| api.exact.users().by_username(name).unwrap().unwrap().id;
    let a = api.exact.actor(id("admin")).unwrap();
    api.exact
        .teams()
        .add_member(&a, exact_core::TeamId(team), id("member"), false)
        .unwrap();
    // The member: boxes at 0 and 200. The admin: the same box at 0, one at 1000 (missed
    // by the member). A model: a box over half of 200's (IoU 50/150: no match) and one at 0.
    add(&api, &member, kind, image, 0, 100, json!({})).await;
    add(&api, &member, kind, image, 200, 100, json!({})).await;
    add(&api, &admin, kind, image, 0, 100, json!({})).await;
    add(&api, &admin, kind, image, 1000, 100, json!({})).await;
    let proposal = json!({"generated": true, "model": "m1", "score": 0.5});
    add(&api, &admin, kind, image, 250, 100, proposal.clone()).await;
    add(&api, &admin, kind, image, 0, 100, proposal).await;

    let url = format!("/api/v1/processing/agreement/?image_set={set}&reference=member");
    let r = api.ok("GET", &url, &admin, None).await;
    assert_eq!(r["images"], 1);
    assert_eq!(r["reference"], "member");
    let pairs = r["pairs"].as_array().unwrap();
    assert_eq!(pairs.len(), 2, "{r}");
    // admin vs member: TP 1, FP 1, FN 1 → 0.5 each; one class only: kappa null.
    assert_eq!(pairs[0]["annotator"], "admin");
    assert_eq!(
        (
            &pairs[0]["true_positives"],
            &pairs[0]["false_positives"],
            &pairs[0]["false_negatives"]
        ),
        (&json!(1), &json!(1), &json!(1))
    );
    assert_eq!(pairs[0]["precision"], 0.5);
    assert_eq!(pairs[0]["f1"], 0.5);
    assert!(pairs[0]["kappa"].is_null());
    // model vs member: the same counts; at IoU 0.3 the half box matches too.
    assert_eq!(pairs[1]["annotator"], "model:m1");
    assert_eq!(pairs[1]["model"], true);
    assert_eq!(pairs[1]["recall"], 0.5);
    let loose = api
        .ok("GET", &format!("{url}&iou=0.3&image={image}"), &admin, None)
        .await;
    assert_eq!(loose["pairs"][1]["true_positives"], 2, "{loose}");
    assert_eq!(loose["pairs"][1]["f1"], 1.0);

    // Bad input names the parameter; another team's user sees nothing.
    for (q, field) in [
        ("", "image_set"),
        ("&image_set=1&iou=2", "iou"),
        ("&image_set=1&iou=x", "iou"),
        ("&image_set=1&reference=nobody", "reference"),
    ] {
        let (s, v) = api
            .call(
                "GET",
                &format!("/api/v1/processing/agreement/?x=1{q}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}: {v}");
        assert!(v.to_string().contains(field), "{q}: {v}");
    }
    let (s, _) = api
        .call(
            "GET",
            &format!("/api/v1/processing/agreement/?image_set={set}"),
            Some(&outsider),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
