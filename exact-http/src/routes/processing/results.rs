//! Results, their entries and result annotations.

use super::*;

pub(super) fn render_result(r: &Req, res: &PluginResult) -> ApiResult<Value> {
    let entries = r.exact.catalog().processing().entries_of(res.id)?;
    Ok(with(json(res), "entries", ids(entries)))
}

pub(super) fn render_entry(r: &Req, e: &PluginResultEntry) -> ApiResult<Value> {
    let (anns, bitmaps) = r.exact.catalog().processing().contents_of(e.id)?;
    let v = with(json(e), "annotation_results", ids(anns));
    Ok(with(v, "bitmap_results", ids(bitmaps)))
}

pub(super) fn render_result_annotation(a: &PluginResultAnnotation) -> Value {
    json(a)
}

// ---- results and entries ----

pub(super) async fn results(r: Req) -> ApiResult<Json<Value>> {
    r.list(&[], |r| {
        r.exact
            .catalog()
            .processing()
            .results(&r.actor)?
            .iter()
            .map(|x| render_result(r, x))
            .collect()
    })
    .await
}

pub(super) async fn result(r: Req, Id(id): Id) -> ApiResult<Json<Value>> {
    r.one(move |r| {
        let x = r
            .exact
            .catalog()
            .processing()
            .result(&r.actor, PluginResultId(id))?;
        render_result(r, &x)
    })
    .await
}

pub(super) async fn create_result(r: Req, body: Body) -> ApiResult<(StatusCode, Json<Value>)> {
    let o = body.object()?;
    r.created(move |r| {
        let x = r.exact.catalog().processing().create_result(&r.actor, &o)?;
        render_result(r, &x)
    })
    .await
}

pub(super) async fn update_result(r: Req, Id(id): Id, body: Body) -> ApiResult<Json<Value>> {
    let o = body.object()?;
    r.one(move |r| {
        let x = r
            .exact
            .catalog()
            .processing()
            .update_result(&r.actor, PluginResultId(id), &o)?;
        render_result(r, &x)
    })
    .await
}

pub(super) async fn entries(r: Req) -> ApiResult<Json<Value>> {
    r.list(&[], |r| {
        r.exact
            .catalog()
            .processing()
            .entries(&r.actor)?
            .iter()
            .map(|x| render_entry(r, x))
            .collect()
    })
    .await
}

pub(super) async fn entry(r: Req, Id(id): Id) -> ApiResult<Json<Value>> {
    r.one(move |r| {
        let (x, _) = r
            .exact
            .catalog()
            .processing()
            .entry(&r.actor, PluginResultEntryId(id))?;
        render_entry(r, &x)
    })
    .await
}

pub(super) async fn create_entry(r: Req, body: Body) -> ApiResult<(StatusCode, Json<Value>)> {
    let o = body.object()?;
    r.created(move |r| {
        let x = r.exact.catalog().processing().create_entry(&r.actor, &o)?;
        render_entry(r, &x)
    })
    .await
}

pub(super) async fn update_entry(r: Req, Id(id): Id, body: Body) -> ApiResult<Json<Value>> {
    let o = body.object()?;
    r.one(move |r| {
        let x =
            r.exact
                .catalog()
                .processing()
                .update_entry(&r.actor, PluginResultEntryId(id), &o)?;
        render_entry(r, &x)
    })
    .await
}

// ---- result annotations ----

pub(super) async fn result_annotations(r: Req) -> ApiResult<Json<Value>> {
    r.list(&[], |r| {
        Ok(r.exact
            .catalog()
            .processing()
            .result_annotations(&r.actor)?
            .iter()
            .map(render_result_annotation)
            .collect())
    })
    .await
}

pub(super) async fn result_annotation(r: Req, Id(id): Id) -> ApiResult<Json<Value>> {
    r.one(move |r| {
        Ok(render_result_annotation(
            &r.exact
                .catalog()
                .processing()
                .result_annotation(&r.actor, PluginResultAnnotationId(id))?,
        ))
    })
    .await
}

pub(super) async fn create_result_annotation(
    r: Req,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let o = body.object()?;
    r.created(move |r| {
        Ok(render_result_annotation(
            &r.exact
                .catalog()
                .processing()
                .create_result_annotation(&r.actor, &o)?,
        ))
    })
    .await
}

pub(super) async fn update_result_annotation(
    r: Req,
    Id(id): Id,
    body: Body,
) -> ApiResult<Json<Value>> {
    let o = body.object()?;
    r.one(move |r| {
        Ok(render_result_annotation(
            &r.exact.catalog().processing().update_result_annotation(
                &r.actor,
                PluginResultAnnotationId(id),
                &o,
            )?,
        ))
    })
    .await
}
