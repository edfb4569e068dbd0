//! `users/users/`: users sharing a team with the requester (and themself); superusers create.

use super::{Authed, Body, Id, blocking, json, list, one, with};
use crate::AppState;
use crate::auth::hash_password;
use crate::error::ApiResult;
use crate::query::ListQuery;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
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

async fn index(
    State(s): State<AppState>,
    Authed(actor): Authed,
    q: ListQuery,
) -> ApiResult<Json<Value>> {
    blocking(move || {
        let teams = team_sets(&s.exact, &actor)?;
        let team = q.u64("team")?;
        let items = s
            .exact
            .users()
            .list(&actor)?
            .iter()
            .filter(|u| team.is_none_or(|t| teams.get(&u.id).is_some_and(|ts| ts.contains(&t))))
            .map(|u| render(u, &teams))
            .collect();
        list(&s.exact, &actor, &q, items, &["team"]).map(Json)
    })
    .await
}

async fn show(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Id(id): Id,
    q: ListQuery,
) -> ApiResult<Json<Value>> {
    blocking(move || {
        let u = s.exact.users().get(&actor, UserId(id))?;
        Ok(Json(one(
            &s.exact,
            &actor,
            &q,
            render(&u, &team_sets(&s.exact, &actor)?),
        )))
    })
    .await
}

async fn create(
    State(s): State<AppState>,
    Authed(actor): Authed,
    q: ListQuery,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let b = body.object()?;
    let new = NewUser {
        username: b.req_str("username")?,
        email: b.str("email")?.unwrap_or_default(),
        is_superuser: b.bool("is_superuser")?.unwrap_or(false),
        is_staff: b.bool("is_staff")?.unwrap_or(false),
    };
    let password = b.str("password")?;
    blocking(move || {
        let u = s.exact.users().create(&actor, new)?;
        if let Some(p) = password {
            let phc = hash_password(&p)?;
            s.exact.catalog().credentials().set_password(u.id, phc)?;
        }
        let v = render(&u, &team_sets(&s.exact, &actor)?);
        Ok((StatusCode::CREATED, Json(one(&s.exact, &actor, &q, v))))
    })
    .await
}

async fn update(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Id(id): Id,
    q: ListQuery,
    body: Body,
) -> ApiResult<Json<Value>> {
    let b = body.object()?;
    let patch = UserPatch {
        email: b.str("email")?,
        is_active: b.bool("is_active")?,
        is_superuser: b.bool("is_superuser")?,
        is_staff: b.bool("is_staff")?,
    };
    blocking(move || {
        let u = s.exact.users().update(&actor, UserId(id), patch)?;
        Ok(Json(one(
            &s.exact,
            &actor,
            &q,
            render(&u, &team_sets(&s.exact, &actor)?),
        )))
    })
    .await
}
