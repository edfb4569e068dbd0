//! The REST API v1 driven through the router: auth, pagination, filters, team scoping, bad
//! input. One in-memory store per test.

mod kit;

use kit::{Api, basic};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use exact_http::auth::{hash_password, new_token};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

#[tokio::test]
async fn anonymous_and_wrong_credentials_get_401_with_json() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let (s, v) = api.call("GET", "/api/v1/users/teams/", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(
        v["detail"].as_str().unwrap().contains("not provided"),
        "{v}"
    );
    let (s, _) = api
        .call(
            "GET",
            "/api/v1/users/teams/",
            Some(&basic("alice", "nope")),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = api
        .call(
            "GET",
            "/api/v1/users/teams/",
            Some(&basic("nobody", "x")),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = api
        .call(
            "GET",
            "/api/v1/users/teams/",
            Some("Token exact_nope"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Twice: the second answer comes from the verified-credential cache.
    for _ in 0..2 {
        let v = api.ok("GET", "/api/v1/users/teams/", &alice, None).await;
        assert_eq!(v["count"], 0);
    }
}

#[tokio::test]
async fn tokens_and_bearer_authenticate_and_password_change_invalidates_basic() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let id = api.exact.users().by_username("alice").unwrap().unwrap().id;
    let (secret, digest) = new_token();
    let token = api
        .exact
        .catalog()
        .credentials()
        .add_token(id, "t", digest, None)
        .unwrap();
    for scheme in ["Token", "Bearer"] {
        api.ok(
            "GET",
            "/api/v1/users/users/",
            &format!("{scheme} {secret}"),
            None,
        )
        .await;
    }
    api.exact
        .catalog()
        .credentials()
        .revoke(id, token.id)
        .unwrap();
    let (s, _) = api
        .call(
            "GET",
            "/api/v1/users/users/",
            Some(&format!("Bearer {secret}")),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    api.ok("GET", "/api/v1/users/users/", &alice, None).await;
    api.exact
        .catalog()
        .credentials()
        .set_password(id, hash_password("new").unwrap())
        .unwrap();
    let (s, _) = api
        .call("GET", "/api/v1/users/users/", Some(&alice), None)
        .await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "the cached old password must not work"
    );
    api.ok("GET", "/api/v1/users/users/", &basic("alice", "new"), None)
        .await;
}

#[tokio::test]
async fn annotations_page_with_absolute_links_and_keep_client_times() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let (_, _, kind, image) = api.world(&alice, "lab").await;
    let items: Vec<Value> = (0..120)
        .map(|n| {
            json!({
                "annotation_type": kind, "image": image,
                "vector": {"x1": n * 10, "y1": n * 10, "x2": n * 10 + 5, "y2": n * 10 + 5},
                "time": "2021-06-15T10:20:30.123456", "last_edit_time": "2021-06-15T10:20:31.000001",
                "deleted": n % 10 == 0, "uploaded_media_files": [], "annotationversion_set": []
            })
        })
        .collect();
    let (s, created) = api
        .call(
            "POST",
            "/api/v1/annotations/annotations/",
            Some(&alice),
            Some(Value::Array(items)),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    assert_eq!(created.as_array().unwrap().len(), 120);
    assert_eq!(created[0]["time"], "2021-06-15T10:20:30.123456");
    assert_eq!(created[0]["last_edit_time"], "2021-06-15T10:20:31.000001");

    let first = api
        .ok(
            "GET",
            &format!("/api/v1/annotations/annotations/?image={image}&omit=meta_data"),
            &alice,
            None,
        )
        .await;
    assert_eq!(first["count"], 120);
    assert_eq!(first["results"].as_array().unwrap().len(), 50);
    assert!(first["previous"].is_null());
    assert!(first["results"][0].get("meta_data").is_none());
    let next = first["next"].as_str().unwrap();
    assert!(
        next.starts_with("http://testserver/api/v1/annotations/annotations/?"),
        "{next}"
    );
    assert!(
        next.contains("limit=50") && next.contains("offset=50"),
        "{next}"
    );
    // Walk every page: ids ascend and none repeats.
    let mut ids = Vec::new();
    let mut url = Some(format!("/api/v1/annotations/annotations/?image={image}"));
    while let Some(u) = url {
        let page = api.ok("GET", &u, &alice, None).await;
        ids.extend(
            page["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["id"].as_u64().unwrap()),
        );
        url = page["next"]
            .as_str()
            .map(|n| n.trim_start_matches("http://testserver").to_owned());
    }
    assert_eq!(ids.len(), 120);
    assert!(ids.windows(2).all(|w| w[0] < w[1]));

    for (q, n) in [
        ("deleted=True", 12),
        ("deleted=false", 108),
        ("deleted=1", 12),
    ] {
        let v = api
            .ok(
                "GET",
                &format!("/api/v1/annotations/annotations/?image={image}&{q}&limit=1"),
                &alice,
                None,
            )
            .await;
        assert_eq!(v["count"], n, "{q}");
    }
    let v = api
        .ok("GET", &format!("/api/v1/annotations/annotations/?image={image}&vector_x_max=95&vector_y_max=95&fields=id,vector"), &alice, None)
        .await;
    assert_eq!(v["count"], 10, "{v}");
    assert_eq!(v["results"][0].as_object().unwrap().len(), 2);
    // Counts without listing: the same numbers, per type, for a viewport too.
    let typed = format!("&annotation_type={kind}&deleted=false&vector_x_min=100");
    for (q, n) in [
        ("", 120),
        ("&deleted=false", 108),
        ("&deleted=true", 12),
        ("&vector_x_max=95&vector_y_max=95", 10),
        (typed.as_str(), 99),
    ] {
        let v = api
            .ok(
                "GET",
                &format!("/api/v1/annotations/annotations/counts/?image={image}{q}"),
                &alice,
                None,
            )
            .await;
        assert_eq!(v["count"], n, "{q}: {v}");
        assert_eq!(v["by_type"][kind.to_string()], n, "{q}: {v}");
    }
    let paged = format!("?image={image}&offset=5");
    for bad in ["", paged.as_str()] {
        let (s, v) = api
            .call(
                "GET",
                &format!("/api/v1/annotations/annotations/counts/{bad}"),
                Some(&alice),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
        assert!(v["detail"].is_string(), "{v}");
    }
    let some: Vec<String> = ids[..3].iter().map(u64::to_string).collect();
    let v = api
        .ok(
            "GET",
            &format!(
                "/api/v1/annotations/annotations/?id__in={}&unknown_param=1",
                some.join(",")
            ),
            &alice,
            None,
        )
        .await;
    assert_eq!(v["count"], 3);
    let (s, v) = api
        .call(
            "GET",
            "/api/v1/annotations/annotations/?deleted=maybe",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");

    // Update, verify, soft-delete.
    let a = ids[1];
    let v = api
        .ok(
            "PATCH",
            &format!("/api/v1/annotations/annotations/{a}/"),
            &alice,
            Some(json!({"description": "checked", "last_edit_time": "2022-01-01T00:00:00.000000"})),
        )
        .await;
    assert_eq!(v["description"], "checked");
    assert_eq!(v["last_edit_time"], "2022-01-01T00:00:00.000000");
    let v = api
        .ok(
            "POST",
            "/api/v1/annotations/verifications/",
            &alice,
            Some(json!({"annotation": a, "verified": true})),
        )
        .await;
    assert_eq!(v["verified"], true);
    let v = api
        .ok(
            "GET",
            &format!("/api/v1/annotations/verifications/?annotation={a}"),
            &alice,
            None,
        )
        .await;
    assert_eq!(v["count"], 1);
    let (s, _) = api
        .call(
            "DELETE",
            &format!("/api/v1/annotations/annotations/{a}/"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let v = api
        .ok(
            "GET",
            &format!("/api/v1/annotations/annotations/{a}/"),
            &alice,
            None,
        )
        .await;
    assert_eq!(v["deleted"], true);
}

#[tokio::test]
async fn other_teams_are_invisible_and_their_ids_refused() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let bob = api.user("bob", false);
    let (_, set, kind, image) = api.world(&alice, "alpha").await;
    api.world(&bob, "beta").await;
    for path in [
        "users/teams",
        "images/image_sets",
        "images/images",
        "administration/products",
        "annotations/annotation_types",
    ] {
        let v = api.ok("GET", &format!("/api/v1/{path}/"), &bob, None).await;
        assert_eq!(v["count"], 1, "{path}: {v}");
    }
    let v = api
        .ok(
            "GET",
            "/api/v1/images/image_sets/?name__contains=alpha",
            &bob,
            None,
        )
        .await;
    assert_eq!(v["count"], 0);
    let v = api
        .ok(
            "GET",
            "/api/v1/images/image_sets/?name__contains=alpha",
            &alice,
            None,
        )
        .await;
    assert_eq!(v["count"], 1);
    let (s, _) = api
        .call(
            "GET",
            &format!("/api/v1/images/image_sets/{set}/"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = api
        .call("POST", "/api/v1/annotations/annotations/", Some(&bob), Some(json!({"annotation_type": kind, "image": image, "vector": {"x1": 1, "y1": 1, "x2": 2, "y2": 2}})))
        .await;
    assert!(s.is_client_error(), "{s} {v}");
    let (s, _) = api
        .call(
            "POST",
            "/api/v1/images/images/",
            Some(&bob),
            Some(json!({"name": "x.svs", "image_set": set})),
        )
        .await;
    assert!(s.is_client_error());
}

#[tokio::test]
async fn bad_bodies_are_400_with_a_reason() {
    let api = Api::new();
    let alice = api.user("alice", true);
    for path in [
        "users/users",
        "users/team_membership",
        "annotations/verifications",
        "annotations/annotations",
        "users/teams",
    ] {
        let (s, v) = api
            .call("POST", &format!("/api/v1/{path}/"), Some(&alice), None)
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path}: {v}");
        assert!(v["detail"].is_string(), "{path}: {v}");
    }
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/users/teams/")
        .header(header::AUTHORIZATION, &alice)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{not json"))
        .unwrap();
    let res = api.app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let (s, _) = api
        .call(
            "POST",
            "/api/v1/users/teams/",
            Some(&alice),
            Some(json!({"name": ["x"]})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = api
        .call("GET", "/api/v1/users/teams/abc/", Some(&alice), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn set_tags_versions_and_unimplemented_routes() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let bob = api.user("bob", false);
    let (_, set, kind, image) = api.world(&alice, "alpha").await;
    api.ok("POST", "/api/v1/annotations/annotations/", &alice, Some(json!({"annotation_type": kind, "image": image, "vector": {"x1": 1, "y1": 1, "x2": 9, "y2": 9}})))
        .await;
    let t = api
        .ok(
            "POST",
            "/api/v1/images/set_tags/",
            &alice,
            Some(json!({"name": "lung", "imagesets": [set]})),
        )
        .await;
    assert_eq!(t["name"], "lung");
    let v = api
        .ok(
            "GET",
            "/api/v1/images/set_tags/?name__contains=lu",
            &alice,
            None,
        )
        .await;
    assert_eq!(v["count"], 1);
    let v = api.ok("GET", "/api/v1/images/set_tags/", &bob, None).await;
    assert_eq!(v["count"], 0, "another team's tags stay hidden");
    let version = api
        .ok(
            "POST",
            "/api/v1/images/set_versions/",
            &alice,
            Some(json!({"name": "v1", "imagesets": [set]})),
        )
        .await;
    let id = version["id"].as_u64().unwrap();
    api.ok(
        "GET",
        &format!("/api/v1/images/set_versions/{id}/"),
        &alice,
        None,
    )
    .await;
    let (s, _) = api
        .call(
            "GET",
            &format!("/api/v1/images/set_versions/{id}/"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = api
        .call("GET", "/api/v1/processing/plugins/", Some(&alice), None)
        .await;
    assert_eq!(s, StatusCode::NOT_IMPLEMENTED);
    assert!(v["detail"].is_string());
}

#[tokio::test]
async fn logs_and_screening() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let bob = api.user("bob", false);
    let (_, _, _, image) = api.world(&alice, "alpha").await;
    api.ok(
        "POST",
        "/api/v1/annotations/log_image_actions/",
        &alice,
        Some(json!({"image": image, "action": 1, "ip": "1.2.3.4"})),
    )
    .await;
    let v = api
        .ok(
            "GET",
            &format!("/api/v1/annotations/log_image_actions/?image={image}&action=1"),
            &alice,
            None,
        )
        .await;
    assert_eq!(v["count"], 1, "{v}");
    let (s, _) = api
        .call(
            "POST",
            "/api/v1/annotations/log_image_actions/",
            Some(&bob),
            Some(json!({"image": image, "action": 1})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let m = api
        .ok(
            "POST",
            "/api/v1/images/screening_modes/",
            &alice,
            Some(json!({"image": image, "x_resolution": 1000, "y_resolution": 1000})),
        )
        .await;
    let id = m["id"].as_u64().unwrap();
    let m = api
        .ok(
            "PATCH",
            &format!("/api/v1/images/screening_modes/{id}/"),
            &alice,
            Some(json!({"current_index": 3})),
        )
        .await;
    assert_eq!(m["current_index"], 3);
    assert_eq!(m["screening_tiles"]["3"]["Screened"], true, "{m}");
}

#[tokio::test]
async fn expand_replaces_visible_relations() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let (team, set, kind, image) = api.world(&alice, "alpha").await;
    api.ok("POST", "/api/v1/annotations/annotations/", &alice, Some(json!({"annotation_type": kind, "image": image, "vector": {"x1": 1, "y1": 1, "x2": 9, "y2": 9}})))
        .await;
    let v = api
        .ok("GET", &format!("/api/v1/annotations/annotations/?image={image}&expand=annotation_type&fields=id,annotation_type.name"), &alice, None)
        .await;
    assert_eq!(
        v["results"][0]["annotation_type"],
        json!({"name": "mitosis"}),
        "{v}"
    );
    let v = api
        .ok(
            "GET",
            &format!("/api/v1/images/image_sets/{set}/?expand=team,images"),
            &alice,
            None,
        )
        .await;
    assert_eq!(v["team"]["id"], team);
    assert_eq!(v["images"][0]["id"], image);
    let v = api
        .ok(
            "GET",
            &format!("/api/v1/images/image_sets/{set}/"),
            &alice,
            None,
        )
        .await;
    assert_eq!(v["team"], team);
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_with_json() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let big = vec![b' '; exact_http::body::BODY_LIMIT + 1];
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/annotations/annotations/")
        .header(header::AUTHORIZATION, &alice)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(big))
        .unwrap();
    let res = api.app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert!(v["detail"].is_string());
}

#[tokio::test]
async fn personal_access_tokens_over_http() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let bob = api.user("bob", false);
    let v = api
        .ok(
            "POST",
            "/users/api/tokens/",
            &alice,
            Some(json!({"name": "laptop"})),
        )
        .await;
    let secret = v["token"].as_str().unwrap().to_owned();
    let id = v["id"].as_u64().unwrap();
    let bearer = format!("Bearer {secret}");
    let me = api.ok("GET", "/api/v1/users/users/", &bearer, None).await;
    assert_eq!(me["results"][0]["username"], "alice");
    let list = api.ok("GET", "/users/api/tokens/", &alice, None).await;
    assert_eq!(list[0]["name"], "laptop");
    assert!(list[0].get("token").is_none() && list[0].get("digest").is_none());
    let (s, _) = api
        .call(
            "POST",
            &format!("/users/api/tokens/{id}/revoke/"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "only the owner revokes");
    api.ok(
        "POST",
        &format!("/users/api/tokens/{id}/revoke/"),
        &alice,
        None,
    )
    .await;
    let (s, _) = api
        .call("GET", "/api/v1/users/users/", Some(&bearer), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

/// A raw request with extra headers; returns status, headers and JSON.
async fn raw(
    app: &Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, String)>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, "testserver");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = match body {
        Some((ct, b)) => req.header(header::CONTENT_TYPE, ct).body(Body::from(b)),
        None => req.body(Body::empty()),
    }
    .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (parts.status, parts.headers, v)
}

fn set_cookie(h: &axum::http::HeaderMap, name: &str) -> (String, String) {
    let c = h
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie in {h:?}"));
    let value = c.split(';').next().unwrap()[name.len() + 1..].to_owned();
    (value, c)
}

#[tokio::test]
async fn session_cookie_login_csrf_and_logout() {
    let api = Api::new();
    let alice = api.user("alice", false);
    // Anonymous: 401 JSON.
    let (s, _, v) = raw(&api.app, "GET", "/api/v1/auth/me/", &[], None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(v["detail"].is_string());
    // A wrong password: 401, no cookie.
    let (s, h, _) = raw(
        &api.app,
        "POST",
        "/api/v1/auth/login/",
        &[],
        Some((
            "application/json",
            json!({"username": "alice", "password": "nope"}).to_string(),
        )),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(h.get(header::SET_COOKIE).is_none());
    // Form login sets both cookies.
    let (s, h, v) = raw(
        &api.app,
        "POST",
        "/api/v1/auth/login/",
        &[],
        Some((
            "application/x-www-form-urlencoded",
            "username=alice&password=alice-secret".into(),
        )),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["user"]["username"], "alice");
    let (session, sc) = set_cookie(&h, "sessionid");
    assert!(
        sc.contains("HttpOnly") && sc.contains("SameSite=Lax"),
        "{sc}"
    );
    let (csrf, cc) = set_cookie(&h, "csrftoken");
    assert!(!cc.contains("HttpOnly"), "{cc}");
    let cookie = format!("sessionid={session}; csrftoken={csrf}");
    let (s, _, v) = raw(
        &api.app,
        "GET",
        "/api/v1/auth/me/",
        &[("cookie", &cookie)],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["username"], "alice");
    // Unsafe methods need X-CSRFToken equal to the cookie.
    let team = json!({"name": "cookies"}).to_string();
    for bad in [None, Some("wrong")] {
        let mut hs = vec![("cookie", cookie.as_str())];
        if let Some(b) = bad {
            hs.push(("x-csrftoken", b));
        }
        let (s, _, v) = raw(
            &api.app,
            "POST",
            "/api/v1/users/teams/",
            &hs,
            Some(("application/json", team.clone())),
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
        assert!(v["detail"].as_str().unwrap().contains("CSRF"));
    }
    let (s, _, v) = raw(
        &api.app,
        "POST",
        "/api/v1/users/teams/",
        &[("cookie", &cookie), ("x-csrftoken", &csrf)],
        Some(("application/json", team.clone())),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    // A session secret is no bearer token, and sessions are not personal tokens.
    let bearer = format!("Bearer {session}");
    let (s, _, _) = raw(
        &api.app,
        "GET",
        "/api/v1/auth/me/",
        &[("authorization", &bearer)],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let tokens = api.ok("GET", "/users/api/tokens/", &alice, None).await;
    assert_eq!(tokens, json!([]));
    // Logout needs the CSRF header too, then the cookie is dead.
    let (s, _, _) = raw(
        &api.app,
        "POST",
        "/api/v1/auth/logout/",
        &[("cookie", &cookie)],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, h, _) = raw(
        &api.app,
        "POST",
        "/api/v1/auth/logout/",
        &[("cookie", &cookie), ("x-csrftoken", &csrf)],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(set_cookie(&h, "sessionid").1.contains("Max-Age=0"));
    let (s, _, _) = raw(
        &api.app,
        "GET",
        "/api/v1/auth/me/",
        &[("cookie", &cookie)],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn empty_teams_and_sets_are_deleted_full_ones_refused() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let bob = api.user("bob", false);
    let (team, set, _kind, _image) = api.world(&alice, "delteam").await;
    let (s, v) = api
        .call(
            "DELETE",
            &format!("/api/v1/users/teams/{team}/"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("image set"));
    let (s, _) = api
        .call(
            "DELETE",
            &format!("/api/v1/images/image_sets/{set}/"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let empty = api
        .ok(
            "POST",
            "/api/v1/images/image_sets/",
            &alice,
            Some(json!({"name": "empty", "team": team})),
        )
        .await["id"]
        .as_u64()
        .unwrap();
    let (s, _) = api
        .call(
            "DELETE",
            &format!("/api/v1/images/image_sets/{empty}/"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = api
        .call(
            "GET",
            &format!("/api/v1/images/image_sets/{empty}/"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let scratch = api
        .ok(
            "POST",
            "/api/v1/users/teams/",
            &alice,
            Some(json!({"name": "scratch"})),
        )
        .await["id"]
        .as_u64()
        .unwrap();
    let (s, _) = api
        .call(
            "DELETE",
            &format!("/api/v1/users/teams/{scratch}/"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn derived_fields_versions_media_and_nested_expand() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let bob = api.user("bob", false);
    let (_team, set, kind, image) = api.world(&alice, "derive").await;
    let a = api
        .ok("POST", "/api/v1/annotations/annotations/", &alice, Some(json!({"annotation_type": kind, "image": image, "vector": {"x1": 1, "y1": 1, "x2": 9, "y2": 9}})))
        .await;
    let id = a["id"].as_u64().unwrap();
    assert_eq!(a["verified_by_user"], false);
    assert_eq!(a["uploaded_media_files"], json!([]));
    assert_eq!(a["annotationversion_set"], json!([]));
    api.ok(
        "POST",
        "/api/v1/annotations/verifications/",
        &alice,
        Some(json!({"annotation": id, "verified": true})),
    )
    .await;
    api.ok(
        "POST",
        "/api/v1/images/set_versions/",
        &alice,
        Some(json!({"name": "v1", "imagesets": [set]})),
    )
    .await;
    // Media bytes as the body; the metadata in the query.
    let req = Request::builder()
        .method("POST")
        .uri(format!("/api/v1/annotations/annotation_media_files/?annotation={id}&name=cell.png&media_file_type=2"))
        .header(header::AUTHORIZATION, &alice)
        .header(header::CONTENT_TYPE, "image/png")
        .body(Body::from(&b"\x89PNG fake"[..]))
        .unwrap();
    let res = api.app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let m: Value =
        serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
    let file = m["file"].as_str().unwrap().to_owned();
    let req = Request::builder()
        .uri(&file)
        .header(header::AUTHORIZATION, &alice)
        .body(Body::empty())
        .unwrap();
    let res = api.app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        &res.into_body().collect().await.unwrap().to_bytes()[..],
        b"\x89PNG fake"
    );
    // Others see neither the file nor its bytes.
    let (s, _) = api.call("GET", &file, Some(&bob), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let v = api
        .ok(
            "GET",
            "/api/v1/annotations/annotation_media_files/",
            &bob,
            None,
        )
        .await;
    assert_eq!(v["count"], 0);
    // A JSON body is refused with a reason, nothing stored.
    let (s, v) = api
        .call(
            "POST",
            &format!("/api/v1/annotations/annotation_media_files/?annotation={id}&name=x"),
            Some(&alice),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let v = api
        .ok(
            "GET",
            &format!("/api/v1/annotations/annotations/{id}/"),
            &alice,
            None,
        )
        .await;
    assert_eq!(v["verified_by_user"], true);
    assert_eq!(v["uploaded_media_files"], json!([m["id"]]));
    assert_eq!(v["annotationversion_set"].as_array().unwrap().len(), 1);
    // Versions: unchanged, then changed after an edit.
    let v = api
        .ok(
            "GET",
            "/api/v1/annotations/annotation_versions/?has_changes=true",
            &alice,
            None,
        )
        .await;
    assert_eq!(v["count"], 0, "{v}");
    api.ok(
        "PATCH",
        &format!("/api/v1/annotations/annotations/{id}/"),
        &alice,
        Some(json!({"vector": {"x1": 2, "y1": 2, "x2": 9, "y2": 9}})),
    )
    .await;
    let v = api
        .ok(
            "GET",
            "/api/v1/annotations/annotation_versions/?has_changes=true",
            &alice,
            None,
        )
        .await;
    assert_eq!(v["count"], 1, "{v}");
    assert_eq!(v["results"][0]["annotation"], id);
    let v = api
        .ok(
            "GET",
            "/api/v1/annotations/annotation_versions/",
            &bob,
            None,
        )
        .await;
    assert_eq!(v["count"], 0);
    // Nested expand follows dot paths.
    let v = api
        .ok(
            "GET",
            &format!("/api/v1/annotations/annotations/{id}/?expand=annotation_type.product"),
            &alice,
            None,
        )
        .await;
    assert_eq!(
        v["annotation_type"]["product"]["name"], "derive product",
        "{v}"
    );
}

#[tokio::test]
async fn legacy_annotation_endpoints_for_sliderunner() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let bob = api.user("bob", false);
    let (_team, _set, kind, image) = api.world(&alice, "legacy").await;
    let base = "/annotations/api/annotation";
    let (s, v) = api
        .call("POST", &format!("{base}/create/"), Some(&alice), Some(json!({"image_id": image, "annotation_type_id": kind, "vector": {"x1": 10, "y1": 10, "x2": 20, "y2": 20}, "tempid": 7})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["tempid"], 7);
    assert_eq!(v["annotations"]["verified_by_user"], true);
    let id = v["annotations"]["id"].as_u64().unwrap();
    let v = api
        .ok(
            "GET",
            &format!("{base}/load/?image_id={image}&min_x=0&min_y=0&max_x=100&max_y=100"),
            &alice,
            None,
        )
        .await;
    assert_eq!(v["annotations"].as_array().unwrap().len(), 1);
    let v = api
        .ok(
            "GET",
            &format!("{base}/load/?image_id={image}&min_x=500&min_y=500&max_x=600&max_y=600"),
            &alice,
            None,
        )
        .await;
    assert_eq!(v["annotations"], json!([]));
    let v = api
        .ok("POST", &format!("{base}/update/"), &alice, Some(json!({"annotation_id": id, "image_id": image, "annotation_type_id": kind, "vector": {"x1": 11, "y1": 11, "x2": 20, "y2": 20}})))
        .await;
    assert_eq!(v["annotations"]["vector"]["x1"], 11);
    let v = api
        .ok(
            "POST",
            &format!("{base}/verify/"),
            &alice,
            Some(json!({"annotation_id": id, "state": "reject"})),
        )
        .await;
    assert_eq!(v["annotation"]["verified_by_user"], false);
    let (s, _) = api
        .call(
            "POST",
            &format!("{base}/verify/"),
            Some(&alice),
            Some(json!({"annotation_id": id, "state": "maybe"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // Other teams: not found, nothing changed.
    let (s, _) = api
        .call(
            "GET",
            &format!("{base}/loadone/?annotation_id={id}"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = api
        .call(
            "DELETE",
            &format!("{base}/delete/?annotation_id={id}"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = api
        .call(
            "GET",
            &format!("{base}/load/?image_id={image}"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = api
        .call("GET", &format!("{base}/load/"), Some(&alice), None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let v = api
        .ok(
            "DELETE",
            &format!("{base}/delete/?annotation_id={id}"),
            &alice,
            None,
        )
        .await;
    assert_eq!(v["annotations"]["deleted"], true);
    let v = api
        .ok(
            "GET",
            &format!("{base}/loadone/?annotation_id={id}"),
            &alice,
            None,
        )
        .await;
    assert_eq!(v["annotation"]["deleted"], true);
    let v = api
        .ok(
            "GET",
            &format!("{base}/load/?image_id={image}"),
            &alice,
            None,
        )
        .await;
    assert_eq!(v["annotations"], json!([]));
}

#[tokio::test]
async fn openapi_documents_only_served_routes() {
    let api = Api::new();
    let root = api.user("root", true);
    let (s, doc) = api.call("GET", "/api/v1/openapi", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.0.3");
    let ops = exact_http::openapi::operations();
    assert!(ops.len() > 60);
    for (method, path) in ops {
        if path.starts_with("/health") || path == "/metrics" || path.ends_with("/file/") {
            continue; // not JSON
        }
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing from the document"
        );
        let uri = path.replace("{id}", "999999");
        let (s, v) = api
            .call(&method.to_uppercase(), &uri, Some(&root), None)
            .await;
        assert_ne!(s, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}: {v}");
        assert!(
            !(s == StatusCode::NOT_FOUND && v["detail"] == "Not found."),
            "{method} {uri} is documented but not routed"
        );
        assert!(!s.is_server_error(), "{method} {uri}: {s} {v}");
    }
    // Wrong methods answer 405 with JSON.
    let (s, v) = api
        .call("DELETE", "/api/v1/users/users/", Some(&root), None)
        .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert!(v["detail"].is_string());
}

#[tokio::test]
async fn request_ids_and_prometheus_metrics() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let (_, h, _) = raw(
        &api.app,
        "GET",
        "/api/v1/users/users/",
        &[("authorization", &alice), ("x-request-id", "trace-me-42")],
        None,
    )
    .await;
    assert_eq!(h["x-request-id"], "trace-me-42");
    let (_, h, _) = raw(
        &api.app,
        "GET",
        "/api/v1/users/users/7/",
        &[("authorization", &alice)],
        None,
    )
    .await;
    assert_eq!(h["x-request-id"].len(), 36);
    let req = Request::builder()
        .uri("/metrics")
        .body(Body::empty())
        .unwrap();
    let res = api.app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let text =
        String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(
        text.contains(
            r#"exact_http_requests_total{route="/api/v1/users/users/",method="GET",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains(r#"exact_http_requests_total{route="/api/v1/users/users/{id}/",method="GET",status="404"} 1"#), "{text}");
    assert!(text.contains(r#"exact_http_request_duration_seconds_bucket{route="/api/v1/users/users/",method="GET",le="+Inf"} 1"#), "{text}");
}
