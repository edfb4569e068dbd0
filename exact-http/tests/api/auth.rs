//! Logins: Basic, bearer and personal access tokens, session cookies with CSRF.

use crate::kit::{Api, basic};
use crate::{raw, set_cookie};
use axum::http::{StatusCode, header};
use serde_json::json;

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
    let minted = api
        .exact
        .trusted_accounts()
        .mint_token(id, "t", None)
        .unwrap();
    let secret = minted.secret;
    for scheme in ["Token", "Bearer"] {
        api.ok(
            "GET",
            "/api/v1/users/users/",
            &format!("{scheme} {secret}"),
            None,
        )
        .await;
    }
    let actor = api.exact.actor(id).unwrap();
    api.exact
        .accounts()
        .revoke_token(&actor, minted.token.id)
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
        .trusted_accounts()
        .set_password(id, "a-new-password")
        .unwrap();
    let (s, _) = api
        .call("GET", "/api/v1/users/users/", Some(&alice), None)
        .await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "the cached old password must not work"
    );
    api.ok(
        "GET",
        "/api/v1/users/users/",
        &basic("alice", "a-new-password"),
        None,
    )
    .await;
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
