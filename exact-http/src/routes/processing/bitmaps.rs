//! Result bitmaps: the overlay file with EXACT's fields.

use super::*;

pub(super) fn render_bitmap(b: &PluginResultBitmap) -> Value {
    let v = with(
        json(b),
        "bitmap",
        Value::String(format!("{ROOT}/pluginresultbitmaps/{}/bitmap/", b.id.0)),
    );
    // The Deep Zoom overlay aligned with the slide (exact-rs's addition).
    with(
        v,
        "overlay",
        Value::String(format!("{ROOT}/pluginresultbitmaps/{}/overlay.dzi", b.id.0)),
    )
}

// ---- bitmaps ----

pub(super) async fn bitmaps(r: Req) -> ApiResult<Json<Value>> {
    r.list(&[], |r| {
        Ok(r.exact
            .catalog()
            .processing()
            .bitmaps(&r.actor)?
            .iter()
            .map(render_bitmap)
            .collect())
    })
    .await
}

pub(super) async fn bitmap(r: Req, Id(id): Id) -> ApiResult<Json<Value>> {
    r.one(move |r| {
        Ok(render_bitmap(
            &r.exact
                .catalog()
                .processing()
                .bitmap(&r.actor, PluginResultBitmapId(id))?,
        ))
    })
    .await
}

/// `POST pluginresultbitmaps/`: multipart with the `bitmap` file and EXACT's fields.
pub(super) async fn create_bitmap(r: Req, req: Request) -> ApiResult<(StatusCode, Json<Value>)> {
    let up = upload(req, "bitmap", crate::body::BODY_LIMIT).await?;
    let Some(file) = up.file else {
        return Err(ApiError::bad("bitmap", "No file was submitted."));
    };
    {
        let (e, a, o) = (r.exact.clone(), r.actor.clone(), up.fields.clone());
        crate::blocking(move || Ok(e.catalog().processing().check_bitmap(&a, &o).map(|_| ())?))
            .await?;
    }
    let (e, a, fields) = (r.exact.clone(), r.actor.clone(), up.fields);
    let b = with_blob(&r, "bitmaps", Some(file), move |key| {
        Ok(e.catalog()
            .processing()
            .create_bitmap(&a, &fields, key.as_deref().unwrap_or(""))?)
    })
    .await?;
    r.created(move |_| Ok(render_bitmap(&b))).await
}

pub(super) async fn update_bitmap(r: Req, Id(id): Id, req: Request) -> ApiResult<Json<Value>> {
    let up = upload(req, "bitmap", crate::body::BODY_LIMIT).await?;
    {
        let (e, a) = (r.exact.clone(), r.actor.clone());
        crate::blocking(move || {
            let b = e
                .catalog()
                .processing()
                .bitmap(&a, PluginResultBitmapId(id))?;
            let o = Obj::from_pairs([(
                "pluginresultentry",
                b.pluginresultentry.0.to_string().as_str(),
            )]);
            Ok(e.catalog().processing().check_bitmap(&a, &o).map(|_| ())?)
        })
        .await?;
    }
    let (e, a, fields) = (r.exact.clone(), r.actor.clone(), up.fields);
    let b = with_blob(&r, "bitmaps", up.file, move |key| {
        Ok(e.catalog().processing().update_bitmap(
            &a,
            PluginResultBitmapId(id),
            &fields,
            key.as_deref(),
        )?)
    })
    .await?;
    r.one(move |_| Ok(render_bitmap(&b))).await
}

pub(super) async fn bitmap_file(
    r: Req,
    Id(id): Id,
) -> ApiResult<([(HeaderName, String); 1], Bytes)> {
    let (e, a) = (r.exact.clone(), r.actor.clone());
    let b = crate::blocking(move || {
        Ok(e.catalog()
            .processing()
            .bitmap(&a, PluginResultBitmapId(id))?)
    })
    .await?;
    blob_download(&r, &b.bitmap).await
}
