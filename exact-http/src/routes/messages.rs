//! Team and global messages (EXACT's tagger_messages) at `/api/v1/messages/`: list the ones
//! showing now (`?unread=true`: not yet read), write (team admins to their team, superusers to
//! everybody), mark read, delete.

use super::{Body, Req, json};
use crate::AppState;
use crate::error::ApiResult;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use exact_core::catalog::NewMessage;
use exact_core::{MessageId, TeamId};
use serde_json::Value;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/messages/", get(index).post(create))
        .route("/api/v1/messages/{id}/", get(show).delete(destroy))
        .route("/api/v1/messages/{id}/read/", post(read))
}

async fn index(r: Req) -> ApiResult<Json<Value>> {
    r.list(&["unread"], |r| {
        let unread = r.q.bool("unread")?.unwrap_or(false);
        Ok(r.exact
            .messages()
            .current(&r.actor, unread)?
            .iter()
            .map(json)
            .collect())
    })
    .await
}

/// `{title, content, team?, start_time?, expire_time?, admins_only? (or EXACT's
/// team_admins_only), staff_only?}`.
async fn create(r: Req, body: Body) -> ApiResult<(StatusCode, Json<Value>)> {
    let b = body.object()?;
    let mut new = NewMessage::new(
        b.req_str("title")?,
        b.str("content")?.unwrap_or_default(),
        b.u64("team")?.map(TeamId),
    );
    new.start_time = b.time("start_time")?;
    new.expire_time = b.time("expire_time")?;
    new.admins_only = b
        .bool("admins_only")?
        .or(b.bool("team_admins_only")?)
        .unwrap_or(false);
    new.staff_only = b.bool("staff_only")?.unwrap_or(false);
    crate::blocking(move || {
        let m = r.exact.messages().create(&r.actor, new)?;
        Ok((StatusCode::CREATED, Json(json(&m))))
    })
    .await
}

async fn show(r: Req, super::Id(id): super::Id) -> ApiResult<Json<Value>> {
    crate::blocking(move || {
        Ok(Json(json(
            &r.exact.messages().get(&r.actor, MessageId(id))?,
        )))
    })
    .await
}

async fn read(r: Req, super::Id(id): super::Id) -> ApiResult<Json<Value>> {
    crate::blocking(move || {
        Ok(Json(json(
            &r.exact.messages().mark_read(&r.actor, MessageId(id))?,
        )))
    })
    .await
}

async fn destroy(r: Req, super::Id(id): super::Id) -> ApiResult<StatusCode> {
    crate::blocking(move || {
        r.exact.messages().delete(&r.actor, MessageId(id))?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}
