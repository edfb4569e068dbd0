//! Accounts through HTTP: users made and changed by superusers, passwords, personal tokens
//! (the reserved `session` name), logging out everywhere, and self-registration.

use crate::kit::{Api, basic};
use crate::{raw, set_cookie};
use axum::http::StatusCode;
use serde_json::json;

fn field_error(v: &serde_json::Value, field: &str) -> bool {
    v[field].is_array() && v["detail"].as_str().is_some_and(|d| d.contains(field))
}

#[tokio::test]
async fn superusers_manage_users_and_bad_input_names_the_field() {
    let api = Api::new();
    let root = api.user("root", true);
    let alice = api.user("alice", false);
    let users = "/api/v1/users/users/";
    // Bad input: 400 naming the field, and no user left behind.
    for (body, field) in [
        (json!({"username": "bob", "password": ""}), "password"),
        (json!({"username": "bob", "password": "short"}), "password"),
        (json!({"username": "bob", "password": "bob"}), "password"),
        (
            json!({"username": "b/ob", "password": "long-enough-pw"}),
            "username",
        ),
        (
            json!({"username": "alice", "password": "long-enough-pw"}),
            "username",
        ),
    ] {
        let (s, v) = api
            .call("POST", users, Some(&root), Some(body.clone()))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert!(field_error(&v, field), "{body}: {v}");
    }
    let (_, v) = api.call("GET", users, Some(&root), None).await;
    let names: Vec<_> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].clone())
        .collect();
    assert_eq!(names, [json!("root"), json!("alice")]);
    // Only superusers create.
    let (s, _) = api
        .call(
            "POST",
            users,
            Some(&alice),
            Some(json!({"username": "eve", "password": "long-enough-pw"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let bob = api
        .ok(
            "POST",
            users,
            &root,
            Some(json!({"username": "bob", "password": "bob-password", "email": "b@x.org"})),
        )
        .await;
    let id = bob["id"].as_u64().unwrap();
    let bob_basic = basic("bob", "bob-password");
    api.ok("GET", "/api/v1/auth/me/", &bob_basic, None).await;

    // Bob has a token and a session; deactivating him ends both, and his password stops working.
    let token = api
        .ok(
            "POST",
            "/users/api/tokens/",
            &bob_basic,
            Some(json!({"name": "ci"})),
        )
        .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, h, _) = raw(
        &api.app,
        "POST",
        "/api/v1/auth/login/",
        &[],
        Some((
            "application/json",
            json!({"username": "bob", "password": "bob-password"}).to_string(),
        )),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (session, _) = set_cookie(&h, "sessionid");
    let cookie = format!("sessionid={session}");
    let (s, _) = api
        .call(
            "PATCH",
            &format!("{users}{id}/"),
            Some(&alice),
            Some(json!({"is_active": false})),
        )
        .await;
    // Alice shares no team with Bob: she cannot even see him.
    assert_eq!(s, StatusCode::NOT_FOUND);
    let v = api
        .ok(
            "PATCH",
            &format!("{users}{id}/"),
            &root,
            Some(json!({"is_active": false})),
        )
        .await;
    assert_eq!(v["is_active"], false);
    let bob_user = exact_core::UserId(id);
    assert!(
        api.exact
            .trusted_accounts()
            .all_tokens(bob_user)
            .unwrap()
            .iter()
            .all(|t| t.revoked),
        "deactivation leaves live tokens"
    );
    for auth in [bob_basic.clone(), format!("Token {token}")] {
        let (s, _) = api.call("GET", "/api/v1/auth/me/", Some(&auth), None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{auth}");
    }
    let (s, _, _) = raw(
        &api.app,
        "GET",
        "/api/v1/auth/me/",
        &[("cookie", &cookie)],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Reactivated, the password works again; the old token and session do not.
    api.ok(
        "PATCH",
        &format!("{users}{id}/"),
        &root,
        Some(json!({"is_active": true, "email": "bob@x.org"})),
    )
    .await;
    api.ok("GET", "/api/v1/auth/me/", &bob_basic, None).await;
    let (s, _) = api
        .call(
            "GET",
            "/api/v1/auth/me/",
            Some(&format!("Token {token}")),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn passwords_need_the_old_one_unless_a_superuser_resets() {
    let api = Api::new();
    let root = api.user("root", true);
    let alice = api.user("alice", false);
    let bob = api.user("bob", false);
    let alice_id = api
        .exact
        .users()
        .by_username("alice")
        .unwrap()
        .unwrap()
        .id
        .0;
    let root_id = api.exact.users().by_username("root").unwrap().unwrap().id.0;
    let url = |id: u64| format!("/api/v1/users/users/{id}/set_password/");
    // Herself: the old password is required and must match.
    let (s, v) = api
        .call(
            "POST",
            &url(alice_id),
            Some(&alice),
            Some(json!({"password": "alice-second"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(field_error(&v, "old_password"), "{v}");
    let (s, v) = api
        .call(
            "POST",
            &url(alice_id),
            Some(&alice),
            Some(json!({"password": "alice-second", "old_password": "wrong-one"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(field_error(&v, "old_password"), "{v}");
    let (s, v) = api
        .call(
            "POST",
            &url(alice_id),
            Some(&alice),
            Some(json!({"password": "2short", "old_password": "alice-secret"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(field_error(&v, "password"), "{v}");
    api.ok(
        "POST",
        &url(alice_id),
        &alice,
        Some(json!({"password": "alice-second", "old_password": "alice-secret"})),
    )
    .await;
    let (s, _) = api
        .call("GET", "/api/v1/auth/me/", Some(&alice), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "the old password still works");
    let alice = basic("alice", "alice-second");
    api.ok("GET", "/api/v1/auth/me/", &alice, None).await;
    // Others: only superusers, without the old password; a user cannot reach a superuser's.
    let (s, _) = api
        .call(
            "POST",
            &url(root_id),
            Some(&bob),
            Some(json!({"password": "taken-over", "old_password": "x"})),
        )
        .await;
    assert!(
        s == StatusCode::FORBIDDEN || s == StatusCode::NOT_FOUND,
        "{s}"
    );
    api.ok(
        "POST",
        &url(alice_id),
        &root,
        Some(json!({"password": "reset-by-root"})),
    )
    .await;
    api.ok(
        "GET",
        "/api/v1/auth/me/",
        &basic("alice", "reset-by-root"),
        None,
    )
    .await;
}

#[tokio::test]
async fn tokens_reserved_name_expiry_revoke_and_logout_all() {
    let api = Api::new();
    let alice = api.user("alice", false);
    let bob = api.user("bob", false);
    let tokens = "/users/api/tokens/";
    // The session name is reserved; expiry is bounded; nothing is minted by a refusal.
    for (body, field) in [
        (json!({"name": "session"}), "name"),
        (
            json!({"name": "t", "expires_in_days": 0}),
            "expires_in_days",
        ),
        (
            json!({"name": "t", "expires_in_days": 100000}),
            "expires_in_days",
        ),
    ] {
        let (s, v) = api
            .call("POST", tokens, Some(&alice), Some(body.clone()))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert!(field_error(&v, field), "{body}: {v}");
    }
    assert_eq!(api.ok("GET", tokens, &alice, None).await, json!([]));
    let made = api
        .ok(
            "POST",
            tokens,
            &alice,
            Some(json!({"name": "notebook", "expires_in_days": 30})),
        )
        .await;
    let secret = made["token"].as_str().unwrap().to_owned();
    assert!(made["expires_at"].is_string(), "{made}");
    let bearer = format!("Bearer {secret}");
    let me = api.ok("GET", "/api/v1/auth/me/", &bearer, None).await;
    assert_eq!(me["username"], "alice");
    assert_eq!(me["registration_open"], false);
    let listed = api.ok("GET", tokens, &alice, None).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(
        listed[0].get("token").is_none() && listed[0].get("digest").is_none(),
        "{listed}"
    );
    // Bob cannot revoke Alice's token.
    let id = made["id"].as_u64().unwrap();
    let (s, _) = api
        .call("POST", &format!("{tokens}{id}/revoke/"), Some(&bob), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Two browser sessions; logout_all ends both, the token stays.
    let mut cookies = Vec::new();
    for _ in 0..2 {
        let (s, h, _) = raw(
            &api.app,
            "POST",
            "/api/v1/auth/login/",
            &[],
            Some((
                "application/json",
                json!({"username": "alice", "password": "alice-secret"}).to_string(),
            )),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        cookies.push(set_cookie(&h, "sessionid").0);
    }
    let v = api
        .ok("POST", "/api/v1/auth/logout_all/", &bearer, None)
        .await;
    assert_eq!(v["sessions_ended"], 2, "{v}");
    for c in &cookies {
        let (s, _, _) = raw(
            &api.app,
            "GET",
            "/api/v1/auth/me/",
            &[("cookie", &format!("sessionid={c}"))],
            None,
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    api.ok("GET", "/api/v1/auth/me/", &bearer, None).await;
    api.ok("POST", &format!("{tokens}{id}/revoke/"), &alice, None)
        .await;
    let (s, _) = api
        .call("GET", "/api/v1/auth/me/", Some(&bearer), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn registration_is_off_unless_enabled() {
    let api = Api::new();
    let body = json!({"username": "newbie", "password": "newbie-password"});
    let (s, v) = api
        .call("POST", "/api/v1/auth/register/", None, Some(body.clone()))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert!(
        v["detail"].as_str().unwrap().contains("registration"),
        "{v}"
    );
    let (s, v) = api.call("GET", "/api/v1/auth/me/", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["registration_open"], false, "{v}");

    let exact = api.exact.clone();
    let app = exact_http::router_with(
        exact.clone(),
        exact_http::RouterOptions {
            allow_registration: true,
            ..Default::default()
        },
    );
    let open = Api { exact, app };
    let (s, v) = open.call("GET", "/api/v1/auth/me/", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["registration_open"], true, "{v}");
    // The login page offers "create an account" only where registration is open.
    for (app, offered) in [(&api.app, false), (&open.app, true)] {
        use http_body_util::BodyExt;
        use tower::ServiceExt;
        let req = axum::http::Request::get("/user/login/")
            .body(axum::body::Body::empty())
            .unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        let html = res.into_body().collect().await.unwrap().to_bytes();
        let html = String::from_utf8_lossy(&html);
        assert_eq!(html.contains("data-registration=\"1\""), offered, "{html}");
    }
    for (bad, field) in [
        (
            json!({"username": "newbie", "password": "short"}),
            "password",
        ),
        (
            json!({"username": "new/bie", "password": "newbie-password"}),
            "username",
        ),
        (json!({"username": "newbie"}), "password"),
    ] {
        let (s, v) = open
            .call("POST", "/api/v1/auth/register/", None, Some(bad.clone()))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
        assert!(field_error(&v, field), "{bad}: {v}");
    }
    let (s, v) = open
        .call("POST", "/api/v1/auth/register/", None, Some(body.clone()))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["username"], "newbie");
    assert_eq!(v["is_superuser"], false);
    let me = open
        .ok(
            "GET",
            "/api/v1/auth/me/",
            &basic("newbie", "newbie-password"),
            None,
        )
        .await;
    assert_eq!(me["registration_open"], true);
    let (s, v) = open
        .call("POST", "/api/v1/auth/register/", None, Some(body))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(field_error(&v, "username"), "{v}");
}
