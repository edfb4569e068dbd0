//! Issue 18's EXACT parity endpoints, driven with the requests EXACT's viewer JavaScript and
//! SlideRunner send.

use crate::kit::Api;
use axum::http::StatusCode;
use serde_json::{Value, json};

/// A member `name` of `team` (added by the team's admin `admin`); returns their auth and id.
pub async fn member(api: &Api, admin: &str, team: u64, name: &str) -> (String, u64) {
    let auth = api.user(name, false);
    let id = api.exact.users().by_username(name).unwrap().unwrap().id.0;
    api.ok(
        "POST",
        "/api/v1/users/team_membership/",
        admin,
        Some(json!({"team": team, "user": id, "is_admin": false})),
    )
    .await;
    (auth, id)
}

fn row<'a>(stats: &'a Value, kind: u64) -> &'a Value {
    stats["statistics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == kind)
        .unwrap_or_else(|| panic!("no row for type {kind} in {stats}"))
}

#[tokio::test]
async fn image_statistics_and_whole_image_verification() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let stranger = api.user("mallory", false);
    let (team, _set, kind, image) = api.world(&alice, "stats").await;
    let (carol, _) = member(&api, &alice, team, "carol").await;
    let base = "/api/v1/annotations/annotations/";
    let mut ids = Vec::new();
    for (i, vector) in [
        json!({"x1": 10, "y1": 10, "x2": 20, "y2": 20}),
        json!({"x1": 30, "y1": 30, "x2": 40, "y2": 40}),
        json!({"x1": 50, "y1": 50, "x2": 60, "y2": 60}),
        Value::Null,
    ]
    .into_iter()
    .enumerate()
    {
        let v = api
            .ok("POST", base, &alice, Some(json!({"annotation_type": kind, "image": image, "vector": vector, "description": format!("n{i}")})))
            .await;
        ids.push(v["id"].as_u64().unwrap());
    }
    // A soft-deleted annotation counts nowhere.
    api.ok(
        "PATCH",
        &format!("{base}{}/", ids[2]),
        &alice,
        Some(json!({"deleted": true})),
    )
    .await;
    let url = format!("/images/api/image/statistics/?image_id={image}");
    let s = api.ok("GET", &url, &alice, None).await;
    let r = row(&s, kind);
    assert_eq!(r["name"], "mitosis");
    assert_eq!(r["vector_type"], 1);
    assert_eq!(
        (
            r["count"].clone(),
            r["in_image_count"].clone(),
            r["not_in_image_count"].clone()
        ),
        (json!(3), json!(2), json!(1)),
        "{s}"
    );
    assert_eq!(
        (r["verified_count"].clone(), r["unverified_count"].clone()),
        (json!(0), json!(3))
    );

    // The viewer's `f`: carol accepts the whole image in one call.
    let v = api
        .ok(
            "POST",
            "/images/api/image/verify/",
            &carol,
            Some(json!({"image_id": image, "state": "accept"})),
        )
        .await;
    assert_eq!(v["count"], 3, "{v}");
    let s = api.ok("GET", &url, &alice, None).await;
    assert_eq!(row(&s, kind)["verified_count"], 3, "{s}");
    assert_eq!(row(&s, kind)["unverified_count"], 0);
    // Alice, the creator, earned one point per accepted annotation.
    let me = api
        .ok("GET", "/api/v1/users/users/?username=alice", &alice, None)
        .await;
    let alice_id = me["results"][0]["id"].as_u64().unwrap();
    let points = api
        .exact
        .catalog()
        .users()
        .by_username("alice")
        .unwrap()
        .unwrap()
        .points;
    assert_eq!(points, 3, "user {alice_id}");
    // Each annotation holds exactly one verdict of carol's; rejecting flips them, not adds.
    let v = api
        .ok(
            "POST",
            "/images/api/image/verify/",
            &carol,
            Some(json!({"image_id": image, "state": "reject"})),
        )
        .await;
    assert_eq!(v["count"], 3);
    let all = api
        .ok(
            "GET",
            &format!("/api/v1/annotations/verifications/?annotation={}", ids[0]),
            &alice,
            None,
        )
        .await;
    let verdicts = all["results"].as_array().unwrap();
    assert_eq!(verdicts.len(), 1, "{all}");
    assert_eq!(verdicts[0]["verified"], false);
    let s = api.ok("GET", &url, &alice, None).await;
    assert_eq!(row(&s, kind)["verified_count"], 0);
    assert_eq!(
        api.exact
            .catalog()
            .users()
            .by_username("alice")
            .unwrap()
            .unwrap()
            .points,
        0
    );

    // Bad input and foreign images: clear errors, nothing written.
    let (st, v) = api
        .call(
            "POST",
            "/images/api/image/verify/",
            Some(&carol),
            Some(json!({"image_id": image, "state": "maybe"})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(v.to_string().contains("state"), "{v}");
    let (st, _) = api
        .call("GET", "/images/api/image/statistics/", Some(&alice), None)
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, _) = api.call("GET", &url, Some(&stranger), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = api
        .call(
            "POST",
            "/images/api/image/verify/",
            Some(&stranger),
            Some(json!({"image_id": image, "state": "accept"})),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let s = api.ok("GET", &url, &alice, None).await;
    assert_eq!(row(&s, kind)["verified_count"], 0);
}
