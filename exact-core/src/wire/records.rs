//! Builders of the library's `New*`/`*Patch` values from EXACT's fields, with each
//! resource's field list (what [`Obj::only`] takes).

use super::*;

/// The fields of an annotation row ([`new_annotation`], [`annotation_patch`]), read-only
/// ones included so rows read back round-trip.
pub const ANNOTATION_FIELDS: &[&str] = &[
    "id",
    "annotation_type",
    "image",
    "vector",
    "concealed",
    "blurred",
    "description",
    "meta_data",
    "unique_identifier",
    "deleted",
    "time",
    "last_edit_time",
    "user",
    "last_editor",
];

/// An annotation to create; `image` defaults to `default_image`.
pub fn new_annotation(o: &Obj, default_image: Option<u64>) -> Result<NewAnnotation> {
    let image = match o.u64("image")? {
        Some(i) => i,
        None => default_image.ok_or_else(|| Error::invalid("image", REQUIRED))?,
    };
    let mut new = NewAnnotation::new(
        AnnotationTypeId(o.req_u64("annotation_type")?),
        ImageId(image),
        o.parse::<Vector>("vector")?,
    );
    new.concealed = o.bool("concealed")?.unwrap_or(false);
    new.blurred = o.bool("blurred")?.unwrap_or(false);
    new.description = o.str("description")?.unwrap_or_default();
    new.meta_data = o.raw("meta_data").cloned().unwrap_or(Value::Null);
    new.unique_identifier = o.parse("unique_identifier")?;
    new.deleted = o.bool("deleted")?.unwrap_or(false);
    new.time = o.time("time")?;
    new.last_edit_time = o.time("last_edit_time")?;
    new.user = o.u64("user")?.map(UserId);
    Ok(new)
}

/// The changes of an annotation update: fields present are changed, others kept.
pub fn annotation_patch(o: &Obj) -> Result<AnnotationPatch> {
    Ok(AnnotationPatch {
        annotation_type: o.u64("annotation_type")?.map(AnnotationTypeId),
        vector: if o.has("vector") {
            Some(o.parse::<Vector>("vector")?)
        } else {
            None
        },
        deleted: o.bool("deleted")?,
        concealed: o.bool("concealed")?,
        blurred: o.bool("blurred")?,
        description: o.str("description")?,
        meta_data: o.raw("meta_data").cloned(),
        unique_identifier: o.parse("unique_identifier")?,
        last_edit_time: o.time("last_edit_time")?,
        if_match: if_match(o)?,
    })
}

/// `if_match` of a patch in a body (bulk updates, where no header can name each item's
/// version): an annotation version as its `ETag` gives it (`"0123456789abcdef"`, quotes
/// optional) or a list of them; the change applies only at one of them.
fn if_match(o: &Obj) -> Result<Option<Vec<u64>>> {
    let tags: Vec<&Value> = match o.raw("if_match") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one) => vec![one],
    };
    tags.into_iter()
        .map(|t| {
            let text = t.as_str().unwrap_or_default();
            let hex = text.trim().trim_matches('"');
            match u64::from_str_radix(hex, 16) {
                Ok(v) if !hex.is_empty() && hex.len() <= 16 => Ok(v),
                _ => Err(Error::invalid(
                    "if_match",
                    format!("{t} is not an annotation version such as \"0123456789abcdef\""),
                )),
            }
        })
        .collect::<Result<Vec<u64>>>()
        .map(Some)
}

/// The fields of an image set ([`new_image_set`], [`image_set_patch`]).
pub const IMAGE_SET_FIELDS: &[&str] = &[
    "name",
    "team",
    "location",
    "description",
    "public",
    "public_collaboration",
    "image_lock",
    "priority",
    "main_annotation_type",
    "collaboration_type",
    "creator",
];

/// The changes of an image set update.
pub fn image_set_patch(o: &Obj) -> Result<ImageSetPatch> {
    Ok(ImageSetPatch {
        name: o.str("name")?,
        location: o.str("location")?,
        description: o.str("description")?,
        public: o.bool("public")?,
        public_collaboration: o.bool("public_collaboration")?,
        image_lock: o.bool("image_lock")?,
        priority: o.parse::<Priority>("priority")?,
        main_annotation_type: if o.has("main_annotation_type") {
            Some(o.u64("main_annotation_type")?.map(AnnotationTypeId))
        } else {
            None
        },
        collaboration_type: o.parse::<CollaborationType>("collaboration_type")?,
        creator: if o.has("creator") {
            Some(o.u64("creator")?.map(UserId))
        } else {
            None
        },
        pinned: o.bool("pinned")?,
        team: o.u64("team")?.map(TeamId),
    })
}

/// An image set to create (`name` and `team` required).
pub fn new_image_set(o: &Obj) -> Result<NewImageSet> {
    let name = o.req_str("name")?;
    let team = TeamId(o.req_u64("team")?);
    let p = image_set_patch(o)?;
    let mut new = NewImageSet::new(name, team);
    new.location = p.location.unwrap_or_default();
    new.description = p.description.unwrap_or_default();
    new.public = p.public.unwrap_or(false);
    new.public_collaboration = p.public_collaboration.unwrap_or(false);
    new.image_lock = p.image_lock.unwrap_or(false);
    if let Some(v) = p.priority {
        new.priority = v;
    }
    new.main_annotation_type = p.main_annotation_type.flatten();
    if let Some(v) = p.collaboration_type {
        new.collaboration_type = v;
    }
    Ok(new)
}

/// The fields of a product ([`new_product`], [`product_patch`]).
pub const PRODUCT_FIELDS: &[&str] = &["name", "description", "team", "imagesets"];

/// A product to create (`name` required).
pub fn new_product(o: &Obj) -> Result<NewProduct> {
    Ok(NewProduct {
        name: o.req_str("name")?,
        description: o.str("description")?.unwrap_or_default(),
        team: o.u64("team")?.map(TeamId),
        imagesets: o
            .ids("imagesets")?
            .unwrap_or_default()
            .into_iter()
            .map(ImageSetId)
            .collect(),
    })
}

/// The changes of a product update.
pub fn product_patch(o: &Obj) -> Result<ProductPatch> {
    Ok(ProductPatch {
        name: o.str("name")?,
        description: o.str("description")?,
        imagesets: o
            .ids("imagesets")?
            .map(|v| v.into_iter().map(ImageSetId).collect()),
    })
}

/// The fields of an annotation type ([`new_annotation_type`], [`annotation_type_patch`]).
pub const ANNOTATION_TYPE_FIELDS: &[&str] = &[
    "name",
    "vector_type",
    "product",
    "node_count",
    "enable_concealed",
    "enable_blurred",
    "color_code",
    "default_width",
    "default_height",
    "sort_order",
    "closed",
    "area_hit_test",
    "active",
    "multi_frame",
];

/// The changes of an annotation type update.
pub fn annotation_type_patch(o: &Obj) -> Result<AnnotationTypePatch> {
    Ok(AnnotationTypePatch {
        name: o.str("name")?,
        vector_type: match o.get("vector_type") {
            Some(v) => Some(vector_type("vector_type", v)?),
            None => None,
        },
        node_count: o.u32("node_count")?,
        enable_concealed: o.bool("enable_concealed")?,
        enable_blurred: o.bool("enable_blurred")?,
        color_code: o.str("color_code")?,
        default_width: o.u32("default_width")?,
        default_height: o.u32("default_height")?,
        sort_order: o.i32("sort_order")?,
        closed: o.bool("closed")?,
        area_hit_test: o.bool("area_hit_test")?,
        active: o.bool("active")?,
        multi_frame: o.bool("multi_frame")?,
    })
}

/// An annotation type to create (`name` and `product` required; a bounding box unless
/// `vector_type` says otherwise); the library's defaults stay where the row says nothing.
pub fn new_annotation_type(o: &Obj) -> Result<NewAnnotationType> {
    let name = o.req_str("name")?;
    let product = ProductId(o.req_u64("product")?);
    let p = annotation_type_patch(o)?;
    let mut new = NewAnnotationType::new(
        name,
        p.vector_type.unwrap_or(VectorType::BoundingBox),
        product,
    );
    if let Some(v) = p.node_count {
        new.node_count = v;
    }
    if let Some(v) = p.enable_concealed {
        new.enable_concealed = v;
    }
    if let Some(v) = p.enable_blurred {
        new.enable_blurred = v;
    }
    if let Some(v) = p.color_code {
        new.color_code = v;
    }
    if let Some(v) = p.default_width {
        new.default_width = v;
    }
    if let Some(v) = p.default_height {
        new.default_height = v;
    }
    if let Some(v) = p.sort_order {
        new.sort_order = v;
    }
    if let Some(v) = p.closed {
        new.closed = v;
    }
    if let Some(v) = p.area_hit_test {
        new.area_hit_test = v;
    }
    if let Some(v) = p.multi_frame {
        new.multi_frame = v;
    }
    Ok(new)
}

/// The fields of an image ([`new_image`], [`image_patch`]); EXACT spells two of them in
/// camel case (`objectivePower`, `defaultFrame`), EXACT-Sync in snake case: both are read.
pub const IMAGE_FIELDS: &[&str] = &[
    "image_set",
    "name",
    "width",
    "height",
    "filename",
    "checksum",
    "mpp",
    "objectivePower",
    "objective_power",
    "depth",
    "frames",
    "channels",
    "image_type",
    "defaultFrame",
    "default_frame",
    "FrameDescriptions",
    "channel_display",
    "series",
];

/// A list field given as JSON, or (in a form) as JSON text.
fn json_list<T: serde::de::DeserializeOwned>(o: &Obj, key: &str) -> Result<Option<Vec<T>>> {
    let v = match o.raw(key) {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(serde_json::Value::String(s)) => serde_json::from_str(s)
            .map_err(|e| crate::Error::invalid(key, format!("not a JSON list: {e}")))?,
        Some(v) => v.clone(),
    };
    serde_json::from_value(v)
        .map(Some)
        .map_err(|e| crate::Error::invalid(key, e.to_string()))
}

fn either<T>(
    o: &Obj,
    a: &str,
    b: &str,
    get: fn(&Obj, &str) -> Result<Option<T>>,
) -> Result<Option<T>> {
    match get(o, a)? {
        Some(v) => Ok(Some(v)),
        None => get(o, b),
    }
}

/// The changes of an image update.
pub fn image_patch(o: &Obj) -> Result<ImagePatch> {
    Ok(ImagePatch {
        name: o.str("name")?,
        filename: o.str("filename")?,
        mpp: o.f64("mpp")?,
        objective_power: either(o, "objectivePower", "objective_power", Obj::f64)?,
        width: o.u64("width")?,
        height: o.u64("height")?,
        depth: o.u32("depth")?,
        frames: o.u32("frames")?,
        channels: o.u32("channels")?,
        image_type: o.parse::<ImageType>("image_type")?,
        default_frame: either(o, "defaultFrame", "default_frame", Obj::u32)?,
        image_set: o.u64("image_set")?.map(ImageSetId),
        checksum: o.str("checksum")?,
        frame_descriptions: json_list(o, "FrameDescriptions")?,
        channel_display: json_list(o, "channel_display")?,
    })
}

/// An image's metadata to register (`image_set` and `name` required; width and height 0
/// when not given, as EXACT-Sync's `index_image` sends none).
pub fn new_image(o: &Obj) -> Result<NewImage> {
    let set = ImageSetId(o.req_u64("image_set")?);
    let name = o.req_str("name")?;
    let p = image_patch(o)?;
    let mut new = NewImage::new(set, name, p.width.unwrap_or(0), p.height.unwrap_or(0));
    if let Some(v) = p.filename {
        new.filename = v;
    }
    if let Some(v) = p.mpp {
        new.mpp = v;
    }
    if let Some(v) = p.objective_power {
        new.objective_power = v;
    }
    if let Some(v) = p.depth {
        new.depth = v;
    }
    if let Some(v) = p.frames {
        new.frames = v;
    }
    if let Some(v) = p.channels {
        new.channels = v;
    }
    if let Some(v) = p.image_type {
        new.image_type = v;
    }
    if let Some(v) = p.default_frame {
        new.default_frame = v;
    }
    if let Some(v) = p.checksum {
        new.checksum = v;
    }
    if let Some(v) = p.frame_descriptions {
        new.frame_descriptions = v;
    }
    // The image series of a slide linked by URL (from 0); set once, on registration.
    if let Some(v) = o.u32("series")? {
        new.series = v;
    }
    Ok(new)
}

/// The fields of an export format (EXACT's `ExportFormat`).
pub const EXPORT_FORMAT_FIELDS: &[&str] = &[
    "name",
    "team",
    "public",
    "annotations_types",
    "base_format",
    "image_format",
    "annotation_format",
    "vector_format",
    "not_in_image_format",
    "name_format",
    "min_verifications",
    "image_aggregation",
    "include_blurred",
    "include_concealed",
];

/// EXACT's model defaults for a new export format.
pub fn export_format_defaults() -> crate::catalog::NewExportFormat {
    crate::catalog::NewExportFormat {
        base_format: "%%content".into(),
        annotation_format: "%%imagename|%%type|{%%vector}|".into(),
        vector_format: "\"x%%count1\": %%x,\"y%%count1\": %%y,".into(),
        not_in_image_format: "image name|annotation type|not in image".into(),
        name_format: "export_%%exportid.txt".into(),
        include_blurred: true,
        include_concealed: true,
        ..Default::default()
    }
}

/// A new export format from EXACT's fields, with EXACT's defaults for the rest.
pub fn new_export_format(o: &Obj) -> Result<crate::catalog::NewExportFormat> {
    let mut f = export_format_defaults();
    apply_export_format(o, &mut f)?;
    Ok(f)
}

/// Applies the export-format fields present in `o` to `f`. Booleans also take HTML
/// checkboxes' `on` / `off` (EXACT's forms).
pub fn apply_export_format(o: &Obj, f: &mut crate::catalog::NewExportFormat) -> Result<()> {
    let flag = |key: &str| -> Result<Option<bool>> {
        match o.raw(key) {
            Some(Value::String(v)) if v.eq_ignore_ascii_case("on") => Ok(Some(true)),
            Some(Value::String(v)) if v.eq_ignore_ascii_case("off") => Ok(Some(false)),
            _ => o.bool(key),
        }
    };
    if let Some(v) = o.str("name")? {
        f.name = v;
    }
    if let Some(v) = o.u64("team")? {
        f.team = Some(TeamId(v));
    }
    if let Some(v) = flag("public")? {
        f.public = v;
    }
    if let Some(v) = o.ids("annotations_types")? {
        f.annotations_types = v.into_iter().map(AnnotationTypeId).collect();
    }
    for (key, slot) in [
        ("base_format", &mut f.base_format),
        ("annotation_format", &mut f.annotation_format),
        ("vector_format", &mut f.vector_format),
        ("not_in_image_format", &mut f.not_in_image_format),
        ("name_format", &mut f.name_format),
    ] {
        if let Some(v) = o.str(key)? {
            *slot = v;
        }
    }
    if o.has("image_format") {
        f.image_format = match o.raw("image_format") {
            None | Some(Value::Null) => None,
            Some(_) => o.str("image_format")?.filter(|s| !s.is_empty()),
        };
    }
    if let Some(v) = o.u32("min_verifications")? {
        f.min_verifications = v;
    }
    if let Some(v) = flag("image_aggregation")? {
        f.image_aggregation = v;
    }
    if let Some(v) = flag("include_blurred")? {
        f.include_blurred = v;
    }
    if let Some(v) = flag("include_concealed")? {
        f.include_concealed = v;
    }
    Ok(())
}
