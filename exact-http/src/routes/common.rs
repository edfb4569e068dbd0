//! The handler shapes every resource shares. A handler takes a [`Req`] (library handle,
//! authenticated actor, query), parses its body on the async side, then hands one closure to
//! [`Req::list`], [`Req::one`], [`Req::created`] or [`Req::gone`], which run it on the
//! blocking pool and render the answer the same way everywhere: lists filtered, ordered by id,
//! paged and expanded; single objects expanded and shaped by `fields`/`omit`.

use super::{list, one};
use crate::AppState;
use crate::auth::Authed;
use crate::error::ApiResult;
use crate::query::ListQuery;
use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use exact_core::permissions::Actor;
use exact_store::Exact;
use serde_json::Value;

/// An authenticated REST request: who asks, through which library, with which query.
pub(crate) struct Req {
    /// The library handle.
    pub exact: Exact,
    /// The requester and their team roles.
    pub actor: Actor,
    /// Filters, paging, `fields`/`omit`/`expand`.
    pub q: ListQuery,
}

impl FromRequestParts<AppState> for Req {
    type Rejection = crate::error::ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Authed(actor) = Authed::from_request_parts(parts, state).await?;
        let Ok(q) = ListQuery::from_request_parts(parts, state).await;
        Ok(Req {
            exact: state.exact.clone(),
            actor,
            q,
        })
    }
}

impl Req {
    /// A paged list of what `items` returns; `skip` names the query parameters `items` has
    /// already applied, so the generic filters leave them alone.
    pub async fn list(
        self,
        skip: &'static [&'static str],
        items: impl FnOnce(&Req) -> ApiResult<Vec<Value>> + Send + 'static,
    ) -> ApiResult<Json<Value>> {
        crate::blocking(move || {
            let items = items(&self)?;
            list(&self.exact, &self.actor, &self.q, items, skip).map(Json)
        })
        .await
    }

    /// Like [`Req::list`] over model values, with `derive` filling in computed fields of the
    /// page's results only (before expansion). When no generic filter applies, the values are
    /// ordered and paged first and only the page is rendered to JSON (large annotation lists).
    pub async fn list_models<T: serde::Serialize + Send + 'static>(
        self,
        skip: &'static [&'static str],
        items: impl FnOnce(&Req) -> ApiResult<Vec<T>> + Send + 'static,
        id: fn(&T) -> u64,
        derive: impl FnOnce(&Req, &[T], &mut [Value]) -> ApiResult<()> + Send + 'static,
    ) -> ApiResult<Json<Value>> {
        crate::blocking(move || {
            let mut items = items(&self)?;
            let filtered = match items.first() {
                Some(first) => self.q.filters(&super::json(first), skip)?,
                None => false,
            };
            items.sort_by_key(id);
            let (count, models, page): (usize, Vec<T>, Vec<Value>) = if filtered {
                // Filter on the JSON, keeping each value's model beside it.
                let json: Vec<Value> = items.iter().map(super::json).collect();
                let keep: std::collections::HashSet<u64> = self
                    .q
                    .filter(json, skip)?
                    .iter()
                    .filter_map(|v| v.get("id").and_then(Value::as_u64))
                    .collect();
                items.retain(|t| keep.contains(&id(t)));
                let range = crate::pagination::window(&self.q, items.len())?;
                let count = items.len();
                let models: Vec<T> = items.drain(range).collect();
                let page = models.iter().map(super::json).collect();
                (count, models, page)
            } else {
                let range = crate::pagination::window(&self.q, items.len())?;
                let count = items.len();
                let models: Vec<T> = items.drain(range).collect();
                let page = models.iter().map(super::json).collect();
                (count, models, page)
            };
            let mut failed = None;
            let page = crate::pagination::envelope(&self.q, count, page, |page| {
                match derive(&self, &models, page) {
                    Ok(()) => crate::expand::expand(&self.exact, &self.actor, &self.q, page),
                    Err(e) => failed = Some(e),
                }
            })?;
            match failed {
                Some(e) => Err(e),
                None => Ok(Json(page)),
            }
        })
        .await
    }

    /// One object (show, update).
    pub async fn one(
        self,
        item: impl FnOnce(&Req) -> ApiResult<Value> + Send + 'static,
    ) -> ApiResult<Json<Value>> {
        crate::blocking(move || {
            let v = item(&self)?;
            Ok(Json(one(&self.exact, &self.actor, &self.q, v)))
        })
        .await
    }

    /// A new object: 201 with its JSON.
    pub async fn created(
        self,
        item: impl FnOnce(&Req) -> ApiResult<Value> + Send + 'static,
    ) -> ApiResult<(StatusCode, Json<Value>)> {
        self.one(item).await.map(|j| (StatusCode::CREATED, j))
    }

    /// A delete: 204.
    pub async fn gone(
        self,
        action: impl FnOnce(&Req) -> ApiResult<()> + Send + 'static,
    ) -> ApiResult<StatusCode> {
        crate::blocking(move || action(&self).map(|()| StatusCode::NO_CONTENT)).await
    }
}
