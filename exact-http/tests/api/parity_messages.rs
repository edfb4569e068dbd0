//! Issue 18: team and global messages, `exact demo`'s data, and image registrations as
//! EXACT-Sync's ImageRegistrationApi sends them.

use crate::kit::Api;
use crate::parity::member;
use axum::http::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn team_and_global_messages() {
    let api = Api::new();
    let root = api.user("root", true);
    let alice = api.user("alice", false);
    let stranger = api.user("mallory", false);
    let (team, _, _, _) = api.world(&alice, "msgs").await;
    let (carol, _) = member(&api, &alice, team, "carol").await;
    let url = "/api/v1/messages/";
    // Team admins write to their team; members may not, nor may anyone write globally.
    let (s, v) = api
        .call(
            "POST",
            url,
            Some(&alice),
            Some(json!({"title": "Scanner down", "content": "until noon", "team": team})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let team_msg = v["id"].as_u64().unwrap();
    let (s, _) = api
        .call(
            "POST",
            url,
            Some(&carol),
            Some(json!({"title": "x", "team": team})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = api
        .call(
            "POST",
            url,
            Some(&alice),
            Some(json!({"title": "everyone"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = api
        .call(
            "POST",
            url,
            Some(&alice),
            Some(json!({"title": "", "team": team})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = api
        .call("POST", url, Some(&alice), Some(json!({"title": "backwards", "team": team, "start_time": "2030-01-02T00:00:00.000000", "expire_time": "2030-01-01T00:00:00.000000"})))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    // Superusers write globally; staff-only ones reach only them; future ones show later.
    api.ok(
        "POST",
        url,
        &root,
        Some(json!({"title": "Maintenance", "content": "Sunday"})),
    )
    .await;
    api.ok(
        "POST",
        url,
        &root,
        Some(json!({"title": "Staff", "staff_only": true})),
    )
    .await;
    api.ok(
        "POST",
        url,
        &root,
        Some(json!({"title": "Admins", "team_admins_only": true})),
    )
    .await;
    api.ok("POST", url, &alice, Some(json!({"title": "Later", "team": team, "start_time": "2999-01-01T00:00:00.000000", "expire_time": "2999-02-01T00:00:00.000000"}))).await;
    let titles = |v: &Value| -> Vec<String> {
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["title"].as_str().unwrap().to_owned())
            .collect()
    };
    let mut t = titles(
        &api.ok("GET", &format!("{url}?unread=true"), &carol, None)
            .await,
    );
    t.sort();
    assert_eq!(t, vec!["Maintenance", "Scanner down"]);
    let mut t = titles(
        &api.ok("GET", &format!("{url}?unread=true"), &alice, None)
            .await,
    );
    t.sort();
    assert_eq!(t, vec!["Admins", "Maintenance", "Scanner down"]);
    assert_eq!(
        titles(&api.ok("GET", url, &stranger, None).await),
        vec!["Maintenance"]
    );
    // Marking read (twice is fine) hides it from the unread list only.
    api.ok("POST", &format!("{url}{team_msg}/read/"), &carol, None)
        .await;
    api.ok("POST", &format!("{url}{team_msg}/read/"), &carol, None)
        .await;
    assert_eq!(
        titles(
            &api.ok("GET", &format!("{url}?unread=true"), &carol, None)
                .await
        ),
        vec!["Maintenance"]
    );
    assert_eq!(api.ok("GET", url, &carol, None).await["count"], 2);
    let (s, _) = api
        .call(
            "POST",
            &format!("{url}{team_msg}/read/"),
            Some(&stranger),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Deleting: the writer or an admin; members may not.
    let (s, _) = api
        .call("DELETE", &format!("{url}{team_msg}/"), Some(&carol), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = api
        .call("DELETE", &format!("{url}{team_msg}/"), Some(&alice), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        titles(&api.ok("GET", url, &carol, None).await),
        vec!["Maintenance"]
    );
}

#[tokio::test]
async fn demo_data_loads_once_and_is_served() {
    let api = Api::new();
    let root = api.user("root", true);
    let me = api
        .exact
        .actor(api.exact.users().by_username("root").unwrap().unwrap().id)
        .unwrap();
    let demo = exact_store::demo::load(&api.exact, &me).await.unwrap();
    assert_eq!((demo.image.width, demo.image.height), (2220, 2967));
    assert_eq!(demo.annotations, 8);
    let image = demo.image.id.0;
    let s = api
        .ok(
            "GET",
            &format!("/images/api/image/statistics/?image_id={image}"),
            &root,
            None,
        )
        .await;
    let counts: Vec<(String, u64)> = s["statistics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                r["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        vec![
            ("Mitotic figure".into(), 4),
            ("Tumor region".into(), 1),
            ("Lymphocyte".into(), 3)
        ]
    );
    let info = api
        .ok(
            "GET",
            &format!("/api/v1/images/images/{image}/slide_information/"),
            &root,
            None,
        )
        .await;
    assert!(info["levels"].as_u64().unwrap() >= 1, "{info}");
    let m = api
        .ok("GET", "/api/v1/messages/?unread=true", &root, None)
        .await;
    assert_eq!(m["results"][0]["title"], "Welcome");
    // A second load is refused and writes nothing.
    let again = exact_store::demo::load(&api.exact, &me).await;
    assert_eq!(
        again.unwrap_err().kind(),
        exact_core::ErrorKind::AlreadyExists
    );
    assert_eq!(
        api.ok("GET", "/api/v1/images/image_sets/", &root, None)
            .await["count"],
        1
    );
}

#[tokio::test]
async fn image_registrations_store_invert_and_convert() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let bob = api.user("bob", false);
    let (_team, set, _, he) = api.world(&alice, "reg").await;
    let ihc = api
        .ok(
            "POST",
            "/api/v1/images/images/",
            &alice,
            Some(json!({"name": "ihc.svs", "image_set": set, "width": 20000, "height": 16000})),
        )
        .await["id"]
        .as_u64()
        .unwrap();
    let (_, _, _, foreign) = api.world(&bob, "bobreg").await;
    let url = "/api/v1/images/registration/";
    // Scale by 2, shift by (100, -50): x' = 2x + 100, y' = 2y - 50.
    let m = json!({"t_00": 2.0, "t_01": 0.0, "t_02": 100.0, "t_10": 0.0, "t_11": 2.0, "t_12": -50.0,
                   "t_20": 0.0, "t_21": 0.0, "t_22": 1.0});
    let (s, r) = api
        .call("POST", url, Some(&alice), Some(json!({"source_image": he, "target_image": ihc, "transformation_matrix": m, "registration_error": 1.5, "runtime": 0.2})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["transformation_matrix"], m);
    let id = r["id"].as_u64().unwrap();
    // EXACT-Sync's convert_coodinates: GET ?vector= → 202 with the target's coordinates.
    let v = json!({"x1": 10, "y1": 20, "x2": 30, "y2": 40}).to_string();
    let (s, out) = api
        .call(
            "GET",
            &format!("{url}{id}/convert_coodinates/?vector={}", urlencode(&v)),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{out}");
    assert_eq!(out, json!({"x1": 120, "y1": -10, "x2": 160, "y2": 30}));
    // The inverse maps them back.
    let (s, inv) = api
        .call(
            "GET",
            &format!("{url}{id}/create_inverse_registration/"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{inv}");
    assert_eq!(
        (inv["source_image"].as_u64(), inv["target_image"].as_u64()),
        (Some(ihc), Some(he))
    );
    let back = json!({"x1": 120, "y1": -10}).to_string();
    let (_, out) = api
        .call(
            "GET",
            &format!(
                "{url}{}/convert_coodinates/?vector={}",
                inv["id"],
                urlencode(&back)
            ),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(out, json!({"x1": 10, "y1": 20}));
    let listed = api
        .ok("GET", &format!("{url}?source_image={he}"), &alice, None)
        .await;
    assert_eq!(listed["count"], 1, "{listed}");

    // Bad input: degenerate matrices, pairs across teams, duplicates, strangers.
    let flat = json!({"t_00": 1.0, "t_01": 2.0, "t_02": 0.0, "t_10": 2.0, "t_11": 4.0, "t_12": 0.0,
                      "t_20": 0.0, "t_21": 0.0, "t_22": 1.0});
    let (s, v) = api
        .call(
            "PATCH",
            &format!("{url}{id}/"),
            Some(&alice),
            Some(json!({"transformation_matrix": flat})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v.to_string().contains("degenerate"), "{v}");
    let (s, v) = api
        .call(
            "POST",
            url,
            Some(&alice),
            Some(json!({"source_image": he, "target_image": ihc})),
        )
        .await;
    assert_eq!(s.as_u16() / 100, 4, "{v}");
    let (s, v) = api
        .call(
            "POST",
            url,
            Some(&bob),
            Some(json!({"source_image": foreign, "target_image": he})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = api.call("POST", url, Some(&alice), Some(json!({"source_image": he, "target_image": ihc, "transformation_matrix": {"t_00": 1}}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, _) = api
        .call("GET", &format!("{url}{id}/"), Some(&bob), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = api
        .call(
            "POST",
            &format!("/api/v1/images/images/{he}/register_images/"),
            Some(&alice),
            Some(json!({"target_image": ihc})),
        )
        .await;
    // Automatic estimation needs pixels: these images were registered by metadata only
    // (tests/http/test_registration.py registers real slides).
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert!(v.to_string().contains("never uploaded"), "{v}");
    let (s, _) = api
        .call("DELETE", &format!("{url}{id}/"), Some(&alice), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(api.ok("GET", url, &alice, None).await["count"], 1);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
