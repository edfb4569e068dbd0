//! The review of model proposals and the agreement statistics.

use super::*;

// ---- review of model proposals ----

/// The images and filter of a review: `image` or `image_set` (or neither with `ids`), plus
/// `annotation_type`, `min_score`, `max_score`, `ids` (query parameters or body fields).
pub(super) fn review_scope(r: &Req, o: &Obj) -> ApiResult<(Vec<ImageId>, ProposalFilter)> {
    let p = r.exact.catalog().processing();
    let ids = o
        .ids("ids")?
        .map(|v| v.into_iter().map(exact_core::AnnotationId).collect());
    let images = match (o.u64("image")?, o.u64("image_set")?) {
        (Some(i), None) => vec![ImageId(i)],
        (None, Some(s)) => p.images_of_set(&r.actor, exact_core::ImageSetId(s))?,
        (None, None) if ids.is_some() => Vec::new(),
        _ => {
            return Err(ApiError::bad(
                "image",
                "give exactly one of image and image_set (or ids)",
            ));
        }
    };
    let filter = ProposalFilter {
        annotation_type: o.u64("annotation_type")?.map(exact_core::AnnotationTypeId),
        min_score: o.f64("min_score")?,
        max_score: o.f64("max_score")?,
        ids,
    };
    Ok((images, filter))
}

/// `GET processing/review/?image=…|image_set=…`: the proposals, lowest score first (paged).
pub(super) async fn review_queue(r: Req) -> ApiResult<Json<Value>> {
    crate::blocking(move || {
        let o = query_obj(&r);
        let (images, filter) = review_scope(&r, &o)?;
        let items: Vec<Value> = r
            .exact
            .catalog()
            .processing()
            .proposals(&r.actor, &images, &filter)?
            .iter()
            .map(json)
            .collect();
        // Keep the queue's order (not by id): page it as it is.
        let range = crate::pagination::window(&r.q, items.len())?;
        let count = items.len();
        let page: Vec<Value> = items
            .into_iter()
            .skip(range.start)
            .take(range.len())
            .collect();
        Ok(Json(crate::pagination::envelope(
            &r.q,
            count,
            page,
            |_| {},
        )?))
    })
    .await
}

pub(super) async fn review(r: Req, body: Body, accept: bool) -> ApiResult<Json<Value>> {
    let mut o = query_obj(&r);
    if let Value::Object(m) = body.0 {
        o.0.extend(m);
    }
    crate::blocking(move || {
        let (images, filter) = review_scope(&r, &o)?;
        let done = r
            .exact
            .catalog()
            .processing()
            .review(&r.actor, &images, &filter, accept)?;
        let ids: Vec<u64> = done.iter().map(|a| a.id.0).collect();
        Ok(Json(serde_json::json!({
            (if accept { "accepted" } else { "rejected" }): ids.len(),
            "ids": ids,
        })))
    })
    .await
}

/// `POST processing/review/accept/`: the selected proposals become normal annotations.
pub(super) async fn review_accept(r: Req, body: Body) -> ApiResult<Json<Value>> {
    review(r, body, true).await
}

/// `POST processing/review/reject/`: the selected proposals are soft-deleted.
pub(super) async fn review_reject(r: Req, body: Body) -> ApiResult<Json<Value>> {
    review(r, body, false).await
}

// ---- agreement statistics ----

/// The user `reference` names: a username, or a user id.
pub(super) fn reference_user(r: &Req, text: &str) -> ApiResult<exact_core::UserId> {
    if let Some(u) = r.exact.catalog().users().by_username(text)? {
        return Ok(u.id);
    }
    text.parse::<u64>()
        .map(exact_core::UserId)
        .map_err(|_| ApiError::bad("reference", format!("no user named {text:?}")))
}

/// `GET processing/agreement/?image_set=&image=&reference=&iou=&distance=`: precision,
/// recall, F1 and Cohen's kappa of every annotator and model against the humans (or the
/// `reference` user), over one image or the whole set.
pub(super) async fn agreement(r: Req) -> ApiResult<Json<Value>> {
    crate::blocking(move || {
        let o = query_obj(&r);
        let set = o
            .u64("image_set")?
            .ok_or_else(|| ApiError::bad("image_set", "required: the image set to compare"))?;
        let mut opt = AgreementOptions::default();
        if let Some(iou) = o.f64("iou")? {
            opt.iou = iou;
        }
        opt.distance = o.f64("distance")?;
        if let Some(text) = o.str("reference")?.filter(|t| !t.trim().is_empty()) {
            opt.reference = Some(reference_user(&r, text.trim())?);
        }
        let image = o.u64("image")?.map(ImageId);
        let report = r.exact.catalog().processing().agreement(
            &r.actor,
            exact_core::ImageSetId(set),
            image,
            &opt,
        )?;
        Ok(Json(json(&report)))
    })
    .await
}
