//! `users/teams/` and `users/team_membership/`: the requester's teams and their members;
//! creating a team makes the creator its admin, team admins manage members. DELETE of a team
//! is refused while it owns image sets or products.

use super::{Body, Id, Req, json, with};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use exact_core::catalog::{NewTeam, TeamPatch};
use exact_core::model::{Team, TeamMembership};
use exact_core::{TeamId, UserId};
use serde_json::Value;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/users/teams/", get(index).post(create))
        .route(
            "/api/v1/users/teams/{id}/",
            get(show).patch(update).put(update).delete(destroy),
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

/// Teams with their members, image sets and products (ids), as EXACT serializes them.
fn render(r: &Req, teams: &[Team]) -> ApiResult<Vec<Value>> {
    let (exact, actor) = (&r.exact, &r.actor);
    let sets = exact.image_sets().list(actor)?;
    let products = exact.products().list(actor)?;
    let mut out = Vec::with_capacity(teams.len());
    for t in teams {
        let members = exact.teams().members(actor, t.id)?;
        let ids = |it: Vec<u64>| json(&it);
        let mut v = json(t);
        v = with(
            v,
            "members",
            ids(members.iter().map(|m| m.user.0).collect()),
        );
        v = with(
            v,
            "memberships",
            ids(members.iter().map(|m| m.id.0).collect()),
        );
        v = with(
            v,
            "image_sets",
            ids(sets
                .iter()
                .filter(|s| s.team == Some(t.id))
                .map(|s| s.id.0)
                .collect()),
        );
        v = with(
            v,
            "product_set",
            ids(products
                .iter()
                .filter(|p| p.team == Some(t.id))
                .map(|p| p.id.0)
                .collect()),
        );
        out.push(v);
    }
    Ok(out)
}

fn render_one(r: &Req, team: Team) -> ApiResult<Value> {
    Ok(render(r, &[team])?.pop().unwrap_or(Value::Null))
}

async fn index(r: Req) -> ApiResult<Json<Value>> {
    r.list(&[], |r| render(r, &r.exact.teams().list(&r.actor)?))
        .await
}

async fn show(r: Req, Id(id): Id) -> ApiResult<Json<Value>> {
    r.one(move |r| render_one(r, r.exact.teams().get(&r.actor, TeamId(id))?))
        .await
}

async fn create(mut r: Req, body: Body) -> ApiResult<(StatusCode, Json<Value>)> {
    let b = body.object()?;
    let new = NewTeam {
        name: b.req_str("name")?,
        website: b.str("website")?.unwrap_or_default(),
    };
    let t = {
        let (exact, actor) = (r.exact.clone(), r.actor.clone());
        crate::blocking(move || Ok(exact.teams().create(&actor, new)?)).await?
    };
    // The creator is now the team's admin: reload the actor to see the team's relations.
    let (exact, user) = (r.exact.clone(), r.actor.user);
    r.actor = crate::blocking(move || Ok(exact.actor(user)?)).await?;
    r.created(move |r| render_one(r, t)).await
}

async fn update(r: Req, Id(id): Id, body: Body) -> ApiResult<Json<Value>> {
    let b = body.object()?;
    let patch = TeamPatch {
        name: b.str("name")?,
        website: b.str("website")?,
    };
    r.one(move |r| render_one(r, r.exact.teams().update(&r.actor, TeamId(id), patch)?))
        .await
}

async fn destroy(r: Req, Id(id): Id) -> ApiResult<StatusCode> {
    r.gone(move |r| Ok(r.exact.teams().delete(&r.actor, TeamId(id))?))
        .await
}

fn find_membership(r: &Req, id: u64) -> ApiResult<TeamMembership> {
    r.exact
        .teams()
        .memberships(&r.actor)?
        .into_iter()
        .find(|m| m.id.0 == id)
        .ok_or_else(|| {
            ApiError::Core(exact_core::Error::not_found(format!(
                "team membership {id}"
            )))
        })
}

async fn memberships(r: Req) -> ApiResult<Json<Value>> {
    r.list(&[], |r| {
        Ok(r.exact
            .teams()
            .memberships(&r.actor)?
            .iter()
            .map(json)
            .collect())
    })
    .await
}

async fn membership(r: Req, Id(id): Id) -> ApiResult<Json<Value>> {
    r.one(move |r| Ok(json(&find_membership(r, id)?))).await
}

async fn add_member(r: Req, body: Body) -> ApiResult<(StatusCode, Json<Value>)> {
    let b = body.object()?;
    let team = TeamId(b.req_u64("team")?);
    let user = UserId(b.req_u64("user")?);
    let is_admin = b.bool("is_admin")?.unwrap_or(false);
    r.created(move |r| {
        Ok(json(
            &r.exact.teams().add_member(&r.actor, team, user, is_admin)?,
        ))
    })
    .await
}

async fn update_member(r: Req, Id(id): Id, body: Body) -> ApiResult<Json<Value>> {
    let is_admin = body.object()?.bool("is_admin")?;
    r.one(move |r| {
        let m = find_membership(r, id)?;
        let m = match is_admin {
            Some(a) if a != m.is_admin => r.exact.teams().set_admin(&r.actor, m.team, m.user, a)?,
            _ => m,
        };
        Ok(json(&m))
    })
    .await
}

async fn remove_member(r: Req, Id(id): Id) -> ApiResult<StatusCode> {
    r.gone(move |r| {
        let m = find_membership(r, id)?;
        Ok(r.exact.teams().remove_member(&r.actor, m.team, m.user)?)
    })
    .await
}
