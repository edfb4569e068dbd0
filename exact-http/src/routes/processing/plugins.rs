//! Plugins: list, read, register (multipart icon), change, and their icons.

use super::*;

pub(super) fn render_plugin(r: &Req, p: &Plugin) -> ApiResult<Value> {
    let mut v = json(p);
    let icon = if p.icon.is_empty() {
        String::new()
    } else {
        format!("{ROOT}/plugins/{}/icon/", p.id.0)
    };
    v = with(v, "icon", Value::String(icon));
    let results = r.exact.catalog().processing().results_of_plugin(p.id)?;
    Ok(with(v, "results", ids(results)))
}

// ---- plugins ----

pub(super) async fn plugins(r: Req) -> ApiResult<Json<Value>> {
    r.list(&[], |r| {
        r.exact
            .catalog()
            .processing()
            .plugins(&r.actor)?
            .iter()
            .map(|p| render_plugin(r, p))
            .collect()
    })
    .await
}

pub(super) async fn plugin(r: Req, Id(id): Id) -> ApiResult<Json<Value>> {
    r.one(move |r| {
        let p = r
            .exact
            .catalog()
            .processing()
            .plugin(&r.actor, PluginId(id))?;
        render_plugin(r, &p)
    })
    .await
}

/// `POST plugins/`: multipart with an `icon` file (EXACT-Sync), or JSON/form without one.
pub(super) async fn create_plugin(r: Req, req: Request) -> ApiResult<(StatusCode, Json<Value>)> {
    let up = upload(req, "icon", MAX_ICON).await?;
    let allow = allowlist()?;
    // Refuse before anything is stored.
    let products: Vec<exact_core::ProductId> = up
        .fields
        .ids("products")?
        .unwrap_or_default()
        .into_iter()
        .map(exact_core::ProductId)
        .collect();
    {
        let (e, a) = (r.exact.clone(), r.actor.clone());
        crate::blocking(move || {
            Ok(e.catalog()
                .processing()
                .check_plugin_rights(&a, &products)?)
        })
        .await?;
    }
    let (e, a, fields) = (r.exact.clone(), r.actor.clone(), up.fields);
    let p = with_blob(&r, "icons", up.file, move |icon| {
        Ok(e.catalog().processing().create_plugin(
            &a,
            &fields,
            icon.as_deref().unwrap_or(""),
            &allow,
        )?)
    })
    .await?;
    r.created(move |r| render_plugin(r, &p)).await
}

pub(super) async fn update_plugin(r: Req, Id(id): Id, req: Request) -> ApiResult<Json<Value>> {
    let up = upload(req, "icon", MAX_ICON).await?;
    let allow = allowlist()?;
    {
        let (e, a) = (r.exact.clone(), r.actor.clone());
        crate::blocking(move || {
            let p = e.catalog().processing().plugin(&a, PluginId(id))?;
            Ok(e.catalog()
                .processing()
                .check_plugin_rights(&a, &p.products)?)
        })
        .await?;
    }
    let (e, a, fields) = (r.exact.clone(), r.actor.clone(), up.fields);
    let p = with_blob(&r, "icons", up.file, move |icon| {
        Ok(e.catalog().processing().update_plugin(
            &a,
            PluginId(id),
            &fields,
            icon.as_deref(),
            &allow,
        )?)
    })
    .await?;
    r.one(move |r| render_plugin(r, &p)).await
}

pub(super) async fn icon(r: Req, Id(id): Id) -> ApiResult<([(HeaderName, String); 1], Bytes)> {
    let (e, a) = (r.exact.clone(), r.actor.clone());
    let p = crate::blocking(move || Ok(e.catalog().processing().plugin(&a, PluginId(id))?)).await?;
    if p.icon.is_empty() {
        return Err(ApiError::Core(exact_core::Error::not_found(format!(
            "an icon of plugin {id}"
        ))));
    }
    blob_download(&r, &p.icon).await
}
