//! `users/users/`: users sharing a team with the requester (and themself); superusers create
//! and change them (deactivating one ends their sessions and tokens). `…/<id>/set_password/`
//! sets a password: the user themself with `old_password`, a superuser for anyone else.

use super::{Body, Id, Req, json, with};
use crate::AppState;
use crate::error::ApiResult;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use exact_core::UserId;
use exact_core::catalog::{NewUser, UserPatch};
use exact_core::model::User;
use exact_core::permissions::Actor;
use exact_store::Exact;
use serde_json::Value;
use std::collections::HashMap;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/users/users/", get(index).post(create))
        .route(
            "/api/v1/users/users/{id}/",
            get(show).patch(update).put(update),
        )
        .route("/api/v1/users/users/{id}/set_password/", post(set_password))
}

/// Team ids per user, from the memberships the actor can see.
fn team_sets(exact: &Exact, actor: &Actor) -> ApiResult<HashMap<UserId, Vec<u64>>> {
    let mut out: HashMap<UserId, Vec<u64>> = HashMap::new();
    for m in exact.teams().memberships(actor)? {
        out.entry(m.user).or_default().push(m.team.0);
    }
    Ok(out)
}

fn render(u: &User, teams: &HashMap<UserId, Vec<u64>>) -> Value {
    let mut v = json(u);
    if let Value::Object(m) = &mut v {
        m.remove("points");
        m.remove("email");
    }
    with(
        v,
        "team_set",
        json(&teams.get(&u.id).cloned().unwrap_or_default()),
    )
}

async fn index(r: Req) -> ApiResult<Json<Value>> {
    r.list(&["team"], |r| {
        let teams = team_sets(&r.exact, &r.actor)?;
        let team = r.q.u64("team")?;
        Ok(r.exact
            .users()
            .list(&r.actor)?
            .iter()
            .filter(|u| team.is_none_or(|t| teams.get(&u.id).is_some_and(|ts| ts.contains(&t))))
            .map(|u| render(u, &teams))
            .collect())
    })
    .await
}

async fn show(r: Req, Id(id): Id) -> ApiResult<Json<Value>> {
    r.one(move |r| {
        let u = r.exact.users().get(&r.actor, UserId(id))?;
        Ok(render(&u, &team_sets(&r.exact, &r.actor)?))
    })
    .await
}

async fn create(r: Req, body: Body) -> ApiResult<(StatusCode, Json<Value>)> {
    let b = body.object()?;
    let new = NewUser {
        username: b.req_str("username")?,
        email: b.str("email")?.unwrap_or_default(),
        is_superuser: b.bool("is_superuser")?.unwrap_or(false),
        is_staff: b.bool("is_staff")?.unwrap_or(false),
    };
    let password = b.str("password")?;
    r.created(move |r| {
        let u = r
            .exact
            .accounts()
            .create_user(&r.actor, new, password.as_deref())?;
        Ok(render(&u, &team_sets(&r.exact, &r.actor)?))
    })
    .await
}

async fn update(r: Req, Id(id): Id, body: Body) -> ApiResult<Json<Value>> {
    let b = body.object()?;
    let patch = UserPatch {
        email: b.str("email")?,
        is_active: b.bool("is_active")?,
        is_superuser: b.bool("is_superuser")?,
        is_staff: b.bool("is_staff")?,
    };
    r.one(move |r| {
        let u = r
            .exact
            .accounts()
            .update_user(&r.actor, UserId(id), patch)?;
        Ok(render(&u, &team_sets(&r.exact, &r.actor)?))
    })
    .await
}

async fn set_password(r: Req, Id(id): Id, body: Body) -> ApiResult<Json<Value>> {
    let b = body.object()?;
    let password = b.req_str("password")?;
    let old = b.str("old_password")?;
    r.one(move |r| {
        r.exact
            .accounts()
            .set_password(&r.actor, UserId(id), &password, old.as_deref())?;
        Ok(serde_json::json!({"detail": "Password changed."}))
    })
    .await
}
