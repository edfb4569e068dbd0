//! `users/teams/` and `users/team_membership/`: the requester's teams and their members;
//! creating a team makes the creator its admin, team admins manage members.

use super::{Authed, Body, Id, blocking, json, list, one, with};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::query::ListQuery;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use exact_core::catalog::{NewTeam, TeamPatch};
use exact_core::model::{Team, TeamMembership};
use exact_core::permissions::Actor;
use exact_core::{TeamId, UserId};
use exact_store::Exact;
use serde_json::Value;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/users/teams/", get(index).post(create))
        .route(
            "/api/v1/users/teams/{id}/",
            get(show).patch(update).put(update),
        )
        .route(
            "/api/v1/users/team_membership/",
            get(memberships).post(add_member),
        )
        .route(
            "/api/v1/users/team_membership/{id}/",
            get(membership)
                .patch(update_member)
                .put(update_member)
                .delete(remove_member),
        )
}

/// A team with its members, image sets and products (ids), as EXACT serializes it.
fn render(exact: &Exact, actor: &Actor, teams: &[Team]) -> ApiResult<Vec<Value>> {
    let sets = exact.image_sets().list(actor)?;
    let products = exact.products().list(actor)?;
    let mut out = Vec::with_capacity(teams.len());
    for t in teams {
        let members = exact.teams().members(actor, t.id)?;
        let mut v = json(t);
        v = with(
            v,
            "members",
            json(&members.iter().map(|m| m.user.0).collect::<Vec<_>>()),
        );
        v = with(
            v,
            "memberships",
            json(&members.iter().map(|m| m.id.0).collect::<Vec<_>>()),
        );
        v = with(
            v,
            "image_sets",
            json(
                &sets
                    .iter()
                    .filter(|s| s.team == Some(t.id))
                    .map(|s| s.id.0)
                    .collect::<Vec<_>>(),
            ),
        );
        v = with(
            v,
            "product_set",
            json(
                &products
                    .iter()
                    .filter(|p| p.team == Some(t.id))
                    .map(|p| p.id.0)
                    .collect::<Vec<_>>(),
            ),
        );
        out.push(v);
    }
    Ok(out)
}

fn render_one(exact: &Exact, actor: &Actor, team: Team) -> ApiResult<Value> {
    Ok(render(exact, actor, &[team])?.pop().unwrap_or(Value::Null))
}

async fn index(
    State(s): State<AppState>,
    Authed(actor): Authed,
    q: ListQuery,
) -> ApiResult<Json<Value>> {
    blocking(move || {
        let teams = s.exact.teams().list(&actor)?;
        list(&s.exact, &actor, &q, render(&s.exact, &actor, &teams)?, &[]).map(Json)
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
        let t = s.exact.teams().get(&actor, TeamId(id))?;
        Ok(Json(one(
            &s.exact,
            &actor,
            &q,
            render_one(&s.exact, &actor, t)?,
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
    let new = NewTeam {
        name: b.req_str("name")?,
        website: b.str("website")?.unwrap_or_default(),
    };
    blocking(move || {
        let t = s.exact.teams().create(&actor, new)?;
        // The creator is now the team's admin: reload the actor to see the team's relations.
        let actor = s.exact.actor(actor.user)?;
        Ok((
            StatusCode::CREATED,
            Json(one(&s.exact, &actor, &q, render_one(&s.exact, &actor, t)?)),
        ))
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
    let patch = TeamPatch {
        name: b.str("name")?,
        website: b.str("website")?,
    };
    blocking(move || {
        let t = s.exact.teams().update(&actor, TeamId(id), patch)?;
        Ok(Json(one(
            &s.exact,
            &actor,
            &q,
            render_one(&s.exact, &actor, t)?,
        )))
    })
    .await
}

fn find_membership(exact: &Exact, actor: &Actor, id: u64) -> ApiResult<TeamMembership> {
    exact
        .teams()
        .memberships(actor)?
        .into_iter()
        .find(|m| m.id.0 == id)
        .ok_or_else(|| {
            ApiError::Core(exact_core::Error::not_found(format!(
                "team membership {id}"
            )))
        })
}

async fn memberships(
    State(s): State<AppState>,
    Authed(actor): Authed,
    q: ListQuery,
) -> ApiResult<Json<Value>> {
    blocking(move || {
        let items = s
            .exact
            .teams()
            .memberships(&actor)?
            .iter()
            .map(json)
            .collect();
        list(&s.exact, &actor, &q, items, &[]).map(Json)
    })
    .await
}

async fn membership(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Id(id): Id,
    q: ListQuery,
) -> ApiResult<Json<Value>> {
    blocking(move || {
        Ok(Json(one(
            &s.exact,
            &actor,
            &q,
            json(&find_membership(&s.exact, &actor, id)?),
        )))
    })
    .await
}

async fn add_member(
    State(s): State<AppState>,
    Authed(actor): Authed,
    q: ListQuery,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let b = body.object()?;
    let team = TeamId(b.req_u64("team")?);
    let user = UserId(b.req_u64("user")?);
    let is_admin = b.bool("is_admin")?.unwrap_or(false);
    blocking(move || {
        let m = s.exact.teams().add_member(&actor, team, user, is_admin)?;
        Ok((
            StatusCode::CREATED,
            Json(one(&s.exact, &actor, &q, json(&m))),
        ))
    })
    .await
}

async fn update_member(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Id(id): Id,
    q: ListQuery,
    body: Body,
) -> ApiResult<Json<Value>> {
    let b = body.object()?;
    let is_admin = b.bool("is_admin")?;
    blocking(move || {
        let m = find_membership(&s.exact, &actor, id)?;
        let m = match is_admin {
            Some(a) if a != m.is_admin => s.exact.teams().set_admin(&actor, m.team, m.user, a)?,
            _ => m,
        };
        Ok(Json(one(&s.exact, &actor, &q, json(&m))))
    })
    .await
}

async fn remove_member(
    State(s): State<AppState>,
    Authed(actor): Authed,
    Id(id): Id,
) -> ApiResult<StatusCode> {
    blocking(move || {
        let m = find_membership(&s.exact, &actor, id)?;
        s.exact.teams().remove_member(&actor, m.team, m.user)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}
