//! DELETE of plugins, results, entries, result annotations and bitmaps (EXACT's cascade, each
//! into the processing trash), `…/{id}/restore/` to put one back, and `trash/` to list what
//! the requester could restore.

use super::*;
use exact_core::catalog::{ProcessingTrash, Trashable};

async fn delete(r: Req, what: Trashable) -> ApiResult<StatusCode> {
    r.gone(move |r| {
        r.exact.catalog().processing().delete(&r.actor, what)?;
        Ok(())
    })
    .await
}

/// The restored object as its collection renders it.
fn render(r: &Req, what: Trashable) -> ApiResult<Value> {
    let p = r.exact.catalog().processing();
    Ok(match what {
        Trashable::Plugin(id) => render_plugin(r, &p.plugin(&r.actor, id)?)?,
        Trashable::Result(id) => render_result(r, &p.result(&r.actor, id)?)?,
        Trashable::Entry(id) => render_entry(r, &p.entry(&r.actor, id)?.0)?,
        Trashable::Annotation(id) => render_result_annotation(&p.result_annotation(&r.actor, id)?),
        Trashable::Bitmap(id) => render_bitmap(&p.bitmap(&r.actor, id)?),
    })
}

async fn restore(r: Req, what: Trashable) -> ApiResult<Json<Value>> {
    r.one(move |r| {
        r.exact.catalog().processing().restore(&r.actor, what)?;
        render(r, what)
    })
    .await
}

fn render_trash(t: &ProcessingTrash) -> Value {
    serde_json::json!({
        "id": t.id.0,
        "collection": t.collection,
        "object": t.object,
        "image": t.image.map(|i| i.0),
        "deleted_by": t.deleted_by.0,
        "time": json(&t.time),
        "records": t.records.len(),
        "restore": format!("{ROOT}/{}/{}/restore/", t.collection, t.object),
    })
}

/// `GET processing/trash/`: deleted processing records the requester could restore, newest
/// first.
pub(super) async fn trash(r: Req) -> ApiResult<Json<Value>> {
    r.list(&[], |r| {
        Ok(r.exact
            .catalog()
            .processing()
            .trashed(&r.actor)?
            .iter()
            .map(render_trash)
            .collect())
    })
    .await
}

macro_rules! handlers {
    ($($del:ident, $res:ident, $variant:ident, $id:ident;)*) => {$(
        pub(super) async fn $del(r: Req, Id(id): Id) -> ApiResult<StatusCode> {
            delete(r, Trashable::$variant($id(id))).await
        }
        pub(super) async fn $res(r: Req, Id(id): Id) -> ApiResult<Json<Value>> {
            restore(r, Trashable::$variant($id(id))).await
        }
    )*};
}

handlers! {
    delete_plugin, restore_plugin, Plugin, PluginId;
    delete_result, restore_result, Result, PluginResultId;
    delete_entry, restore_entry, Entry, PluginResultEntryId;
    delete_result_annotation, restore_result_annotation, Annotation, PluginResultAnnotationId;
    delete_bitmap, restore_bitmap, Bitmap, PluginResultBitmapId;
}
