//! `GET /api/v1/viewer/{id}/`: everything the viewer needs before its first paint, in one
//! request instead of a chain (me and the image, then the set, then its types): the user (as
//! `/auth/me/`), the image (as `/images/images/{id}/?omit=annotations`), its set (as
//! `/images/image_sets/{id}/`), the set's active types (as `/annotation_types/?product=` for
//! each of its products), the set's images (as `/images/images/?image_set=`) and the overview
//! tiles' version (as `…/annotation_tiles/generation`). Each part is read through the same use
//! case with the same permission check as its own endpoint. It also gets the image's overview
//! raster ready, as the overview's `.dzi` does.

use super::overview::{overview_version, prepare_overview};
use super::{Req, json};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use exact_core::ImageId;
use serde_json::{Value, json};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/viewer/{id}/", get(bootstrap))
}

async fn bootstrap(
    State(s): State<AppState>,
    Path(id): Path<String>,
    r: Req,
) -> ApiResult<Json<Value>> {
    let id = id
        .parse()
        .map(ImageId)
        .map_err(|_| ApiError::Core(exact_core::Error::not_found(format!("image {id:?}"))))?;
    let (e, actor, open) = (r.exact.clone(), r.actor.clone(), s.allow_registration);
    let (mut out, image, set, types) = crate::blocking(move || {
        let mut me = super::session::user_json(json(&e.users().get(&actor, actor.user)?));
        me["registration_open"] = Value::Bool(open);
        let image = e.images().get(&actor, id)?;
        let set = e.image_sets().get(&actor, image.image_set)?;
        let types = e.annotation_types().of_set(&actor, set.id)?;
        let images: Vec<Value> = e
            .image_sets()
            .images(&actor, set.id)?
            .iter()
            .map(json)
            .collect();
        let out = json!({
            "me": me,
            "image": json(&image),
            "image_set": super::image_sets::render_one(&e, &actor, set.clone())?,
            "annotation_types": types.iter().map(json).collect::<Vec<_>>(),
            "images": images,
        });
        Ok((out, image, set, types))
    })
    .await?;
    out["overview"] = overview_version(&s, &r, &image, &set, &types);
    prepare_overview(&s, &r, image, &set, types).await;
    Ok(Json(out))
}
