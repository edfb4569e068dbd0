//! drf-flex-fields `expand=a,b`: relation ids replaced by the related objects, fetched through
//! the same permission-checked use cases (an id the requester may not see stays an id). Dot
//! paths expand further inside expanded objects; applied to a page's results only, so its
//! cost is bounded by the page size times the path length. An expanded object shows no more
//! than its own endpoint does: fields the plain serializers leave out (a user's `email` and
//! `points`, a set's `pinned_by`) are left out here too.

use crate::query::ListQuery;
use exact_core::permissions::Actor;
use exact_core::{
    AnnotationId, AnnotationTypeId, ImageId, ImageSetId, ProductId, SetTagId, TeamId, UserId,
};
use exact_store::Exact;
use serde_json::Value;

/// Fields the plain serializer of the relation `key` does not show (see `routes/users.rs`,
/// `routes/image_sets.rs`).
fn hidden(key: &str) -> &'static [&'static str] {
    match key {
        "user" | "last_editor" | "creator" | "members" => &["points", "email"],
        "image_set" | "imagesets" | "image_sets" => &["pinned_by"],
        _ => &[],
    }
}

/// The related object behind `id` in the field `key`, if the field is a known relation and
/// the actor may see it, without the fields its own endpoint hides.
fn fetch(exact: &Exact, actor: &Actor, key: &str, id: u64) -> Option<Value> {
    let mut v = fetch_raw(exact, actor, key, id)?;
    if let Value::Object(m) = &mut v {
        for f in hidden(key) {
            m.remove(*f);
        }
    }
    Some(v)
}

fn fetch_raw(exact: &Exact, actor: &Actor, key: &str, id: u64) -> Option<Value> {
    let v = |r: Result<Value, exact_core::Error>| r.ok();
    let j = |x: &dyn erased::Ser| x.value();
    match key {
        "annotation_type" | "main_annotation_type" | "annotationtype_set" => v(exact
            .annotation_types()
            .get(actor, AnnotationTypeId(id))
            .map(|x| j(&x))),
        "image" | "images" => v(exact.images().get(actor, ImageId(id)).map(|x| j(&x))),
        "image_set" | "imagesets" | "image_sets" => {
            v(exact.image_sets().get(actor, ImageSetId(id)).map(|x| j(&x)))
        }
        "user" | "last_editor" | "creator" | "members" => {
            v(exact.users().get(actor, UserId(id)).map(|x| j(&x)))
        }
        "team" | "team_set" => v(exact.teams().get(actor, TeamId(id)).map(|x| j(&x))),
        "product" | "product_set" => v(exact.products().get(actor, ProductId(id)).map(|x| j(&x))),
        "annotation" => v(exact
            .annotations()
            .get(actor, AnnotationId(id))
            .map(|x| j(&x))),
        "version" | "set_versions" => v(exact
            .versions()
            .get(actor, exact_core::SetVersionId(id))
            .map(|x| j(&x))),
        "uploaded_media_files" => v(exact
            .media_files()
            .get(actor, exact_core::MediaFileId(id))
            .map(|x| j(&x))),
        "set_tags" => exact
            .set_tags()
            .list(actor)
            .ok()?
            .into_iter()
            .find(|t| t.id == SetTagId(id))
            .map(|t| j(&t)),
        _ => None,
    }
}

mod erased {
    /// Serializes any model value to JSON (object-safe, for the match arms above).
    pub trait Ser {
        fn value(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Ser for T {
        fn value(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
        }
    }
}

/// Expands the `expand` keys of `items` in place; dot paths (`annotation_type.product`)
/// expand inside the expanded objects, as drf-flex-fields does.
pub fn expand(exact: &Exact, actor: &Actor, q: &ListQuery, items: &mut [Value]) {
    let paths: Vec<Vec<&str>> = q
        .params
        .iter()
        .filter(|(k, _)| k == "expand")
        .flat_map(|(_, v)| v.split(','))
        .map(|p| p.trim().split('.').filter(|k| !k.is_empty()).collect())
        .filter(|p: &Vec<&str>| !p.is_empty())
        .collect();
    if paths.is_empty() {
        return;
    }
    for item in items {
        for path in &paths {
            expand_path(exact, actor, item, path);
        }
    }
}

/// Expands `path[0]` in `item`, then the rest of the path inside what it expanded to.
fn expand_path(exact: &Exact, actor: &Actor, item: &mut Value, path: &[&str]) {
    let Some((key, rest)) = path.split_first() else {
        return;
    };
    let Value::Object(map) = item else { return };
    let Some(field) = map.get_mut(*key) else {
        return;
    };
    let one = |v: &mut Value| {
        if let Some(obj) = v.as_u64().and_then(|id| fetch(exact, actor, key, id)) {
            *v = obj;
        }
        if v.is_object() {
            expand_path(exact, actor, v, rest);
        }
    };
    match field {
        Value::Array(vs) => vs.iter_mut().for_each(one),
        v => one(v),
    }
}
