//! `images/image_sets/`: sets of the requester's teams, with their images, products and tags.
//! DELETE (team admins, the set's creator) is refused while the set holds images.

use super::{Body, Id, Req, json, with};
use crate::AppState;
use crate::body::Obj;
use crate::error::ApiResult;
use crate::query::ListQuery;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use exact_core::ImageSetId;
use exact_core::catalog::ImageSetPatch;
use exact_core::model::ImageSet;
use exact_core::permissions::Actor;
use exact_store::Exact;
use serde_json::Value;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/images/image_sets/", get(index).post(create))
        .route(
            "/api/v1/images/image_sets/{id}/",
            get(show).patch(update).put(update).delete(destroy),
        )
}

/// Sets with their derived to-many relations (ids).
fn render(exact: &Exact, actor: &Actor, sets: &[ImageSet]) -> ApiResult<Vec<Value>> {
    let images = exact.images().list(actor)?;
    let products = exact.products().list(actor)?;
    let tags = exact.set_tags().list(actor)?;
    Ok(sets
        .iter()
        .map(|set| {
            let ids = |it: Vec<u64>| json(&it);
            let mut v = json(set);
            if let Value::Object(m) = &mut v {
                m.remove("pinned_by");
                // Whether the requester pinned it (others' pins stay private).
                m.insert(
                    "pinned".into(),
                    Value::Bool(set.pinned_by.contains(&actor.user)),
                );
            }
            let v = with(
                v,
                "images",
                ids(images
                    .iter()
                    .filter(|i| i.image_set == set.id)
                    .map(|i| i.id.0)
                    .collect()),
            );
            let v = with(
                v,
                "product_set",
                ids(products
                    .iter()
                    .filter(|p| p.imagesets.contains(&set.id))
                    .map(|p| p.id.0)
                    .collect()),
            );
            with(
                v,
                "set_tags",
                ids(tags
                    .iter()
                    .filter(|t| t.imagesets.contains(&set.id))
                    .map(|t| t.id.0)
                    .collect()),
            )
        })
        .collect())
}

pub(super) fn render_one(exact: &Exact, actor: &Actor, set: ImageSet) -> ApiResult<Value> {
    Ok(render(exact, actor, &[set])?.pop().unwrap_or(Value::Null))
}

async fn index(r: Req) -> ApiResult<Json<Value>> {
    r.list(&["product"], |r| {
        let sets = r.exact.image_sets().list(&r.actor)?;
        // `product=<id>` filters on the derived `product_set`.
        Ok(rename(&r.q, render(&r.exact, &r.actor, &sets)?))
    })
    .await
}

/// `product=<id>` filters on `product_set`.
fn rename(q: &ListQuery, items: Vec<Value>) -> Vec<Value> {
    match q.get("product").and_then(|p| p.parse::<u64>().ok()) {
        None => items,
        Some(p) => items
            .into_iter()
            .filter(|v| {
                v["product_set"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x.as_u64() == Some(p)))
            })
            .collect(),
    }
}

async fn show(r: Req, Id(id): Id) -> ApiResult<Json<Value>> {
    r.one(move |r| {
        let set = r.exact.image_sets().get(&r.actor, ImageSetId(id))?;
        render_one(&r.exact, &r.actor, set)
    })
    .await
}

async fn destroy(r: Req, Id(id): Id) -> ApiResult<StatusCode> {
    r.gone(move |r| Ok(r.exact.image_sets().delete(&r.actor, ImageSetId(id))?))
        .await
}

fn patch_of(b: &Obj) -> ApiResult<ImageSetPatch> {
    Ok(exact_core::wire::image_set_patch(b)?)
}

async fn create(r: Req, body: Body) -> ApiResult<(StatusCode, Json<Value>)> {
    let b = body.object()?;
    let new = exact_core::wire::new_image_set(&b)?;
    // EXACT's serializer links the products named in `product_set` to the new set.
    let products: Vec<exact_core::ProductId> = b
        .ids("product_set")?
        .unwrap_or_default()
        .into_iter()
        .map(exact_core::ProductId)
        .collect();
    r.created(move |r| {
        let set = r
            .exact
            .image_sets()
            .create_with_products(&r.actor, new, &products)?;
        render_one(&r.exact, &r.actor, set)
    })
    .await
}

async fn update(r: Req, Id(id): Id, body: Body) -> ApiResult<Json<Value>> {
    let patch = patch_of(&body.object()?)?;
    r.one(move |r| {
        let set = r
            .exact
            .image_sets()
            .update(&r.actor, ImageSetId(id), patch)?;
        render_one(&r.exact, &r.actor, set)
    })
    .await
}
