//! The REST API v1 resources, one module each. Every handler authenticates ([`Authed`]),
//! parses, calls one use case on the blocking pool and renders EXACT's JSON.

mod activity;
pub(crate) mod admin;
mod annotation_bulk;
mod annotation_meta;
mod annotation_types;
mod annotations;
mod common;
mod events;
mod exports;
mod files;
mod image_sets;
mod images;
mod interop;
mod legacy;
mod legacy_sync;
mod manage;
mod maps;
mod messages;
mod overview;
mod parity;
mod parity_sets;
mod processing;
mod products;
mod registrations;
mod session;
mod set_meta;
mod slides;
mod teams;
pub(crate) mod tiles;
mod tokens;
mod users;
mod verifications;
mod viewer;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::expand::expand;
use crate::pagination;
use crate::query::ListQuery;
use axum::Router;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use exact_core::permissions::Actor;
use exact_store::Exact;
use serde::Serialize;
use serde_json::Value;

pub(crate) use crate::auth::Authed;
pub(crate) use crate::blocking;
pub(crate) use crate::body::Body;
pub(crate) use common::Req;

/// Every resource's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(users::routes())
        .merge(teams::routes())
        .merge(products::routes())
        .merge(annotation_types::routes())
        .merge(image_sets::routes())
        .merge(images::routes())
        .merge(annotations::routes())
        .merge(verifications::routes())
        .merge(set_meta::routes())
        .merge(activity::routes())
        .merge(tokens::routes())
        .merge(tiles::routes())
        .merge(files::routes())
        .merge(session::routes())
        .merge(annotation_meta::routes())
        .merge(legacy::routes())
        .merge(legacy_sync::routes())
        .merge(events::routes())
        .merge(overview::routes())
        .merge(admin::routes())
        .merge(manage::routes())
        .merge(interop::routes())
        .merge(exports::routes())
        .merge(annotation_bulk::routes())
        .merge(maps::routes())
        .merge(slides::routes())
        .merge(parity::routes())
        .merge(parity_sets::routes())
        .merge(messages::routes())
        .merge(registrations::routes())
        .merge(processing::routes())
        .merge(viewer::routes())
}

/// The numeric id in a `…/{id}/` path; anything else is a 404 with a JSON body.
pub(crate) struct Id(pub u64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad("id", e.body_text()))?;
        raw.parse().map(Id).map_err(|_| {
            ApiError::Core(exact_core::Error::not_found(format!(
                "no object with id {raw:?}"
            )))
        })
    }
}

/// The JSON of a model value.
pub(crate) fn json<T: Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

/// Filters, orders by id, pages and shapes `items`.
pub(crate) fn list(
    exact: &Exact,
    actor: &Actor,
    q: &ListQuery,
    items: Vec<Value>,
    skip: &[&str],
) -> ApiResult<Value> {
    let mut items = q.filter(items, skip)?;
    items.sort_by_key(|v| v.get("id").and_then(Value::as_u64).unwrap_or(0));
    pagination::page(q, items, |page| expand(exact, actor, q, page))
}

/// One object, expanded and shaped by `fields`/`omit`.
pub(crate) fn one(exact: &Exact, actor: &Actor, q: &ListQuery, item: Value) -> Value {
    let mut items = [item];
    expand(exact, actor, q, &mut items);
    q.shape(&mut items);
    let [item] = items;
    item
}

/// Inserts `key: value` into a JSON object.
pub(crate) fn with(mut v: Value, key: &str, value: Value) -> Value {
    if let Value::Object(m) = &mut v {
        m.insert(key.to_owned(), value);
    }
    v
}
