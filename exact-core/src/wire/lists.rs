//! EXACT's list filters and windows (`limit`/`offset`) read into the library's list queries.

use super::*;

/// The filters of an annotation list, by EXACT's query parameter names ([`annotation_list`]).
pub const ANNOTATION_FILTERS: &[&str] = &[
    "image",
    "image__in",
    "annotation_type",
    "annotation_type__in",
    "deleted",
    "user",
    "last_edit_time__gte",
    "vector_x_min",
    "vector_x_max",
    "vector_y_min",
    "vector_y_max",
    "id",
    "id__in",
    "vector_type",
    "vector_type__in",
    "verified_by",
    "verified_by__range",
    "verified_by__in",
    "annotationversion",
    "time",
    "time__gte",
    "time__lte",
    "time__range",
    "last_edit_time",
    "last_edit_time__lte",
    "last_edit_time__range",
    "unique_identifier",
    "unique_identifier__contains",
    "unique_identifier__in",
    "description",
    "description__contains",
    "vector__isnull",
    "meta_data__isnull",
    "frame",
];

/// A datetime filter value: EXACT's formats, or a date alone (its midnight, as Django reads
/// it); an empty value filters nothing (django-filter).
fn filter_time(key: &str, v: &str) -> Result<Option<Timestamp>> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    let b = v.as_bytes();
    if b.len() == 10 && b[4] == b'-' && b[7] == b'-' {
        return Timestamp::parse(key, &format!("{v}T00:00:00")).map(Some);
    }
    Timestamp::parse(key, v).map(Some)
}

/// A filter's text value; empty filters nothing.
fn filter_text(o: &Obj, key: &str) -> Result<Option<String>> {
    Ok(o.str(key)?.filter(|s| !s.is_empty()))
}

/// `name`, `name__gte`, `name__lte`, `name__range` (`a,b` or `[a, b]`) as inclusive bounds.
fn time_bounds(o: &Obj, name: &str) -> Result<TimeBounds> {
    let mut b = TimeBounds::default();
    let key = |l: &str| {
        if l.is_empty() {
            name.to_owned()
        } else {
            format!("{name}__{l}")
        }
    };
    for lookup in ["", "gte", "lte", "range"] {
        let k = key(lookup);
        let Some(v) = o.get(&k) else { continue };
        let parts: Vec<String> = match v {
            Value::Array(a) => a
                .iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| x.to_string())
                })
                .collect(),
            Value::String(s) if lookup == "range" => s.split(',').map(str::to_owned).collect(),
            Value::String(s) => vec![s.clone()],
            other => {
                return Err(Error::invalid(
                    k,
                    format!("expected a datetime, got {}", kind(other)),
                ));
            }
        };
        let times = parts
            .iter()
            .map(|p| filter_time(&k, p))
            .collect::<Result<Vec<_>>>()?;
        let tighten_from = |b: &mut TimeBounds, t: Option<Timestamp>| {
            if let Some(t) = t {
                b.from = Some(b.from.map_or(t, |f| f.max(t)));
            }
        };
        let tighten_to = |b: &mut TimeBounds, t: Option<Timestamp>| {
            if let Some(t) = t {
                b.to = Some(b.to.map_or(t, |e| e.min(t)));
            }
        };
        match (lookup, times.as_slice()) {
            ("", [t]) => {
                tighten_from(&mut b, *t);
                tighten_to(&mut b, *t);
            }
            ("gte", [t]) => tighten_from(&mut b, *t),
            ("lte", [t]) => tighten_to(&mut b, *t),
            ("range", [a, z]) => {
                tighten_from(&mut b, *a);
                tighten_to(&mut b, *z);
            }
            ("range", _) => return Err(Error::invalid(k, "expected two datetimes a,b")),
            _ => return Err(Error::invalid(k, "expected one datetime")),
        }
    }
    Ok(b)
}

/// A UUID filter value.
fn filter_uuid(key: &str, v: &str) -> Result<uuid::Uuid> {
    uuid::Uuid::parse_str(v.trim())
        .map_err(|_| Error::invalid(key, format!("{v:?} is not a valid UUID")))
}

/// EXACT's filters on an annotation's other fields ([`FieldFilters`]).
fn field_filters(o: &Obj) -> Result<FieldFilters> {
    let mut uuids: Option<Vec<uuid::Uuid>> = None;
    if let Some(u) = filter_text(o, "unique_identifier")? {
        uuids = Some(vec![filter_uuid("unique_identifier", &u)?]);
    }
    if let Some(v) = o.get("unique_identifier__in") {
        let parts: Vec<String> = match v {
            Value::Array(a) => a
                .iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| x.to_string())
                })
                .collect(),
            Value::String(s) => s
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect(),
            other => {
                return Err(Error::invalid(
                    "unique_identifier__in",
                    format!("expected UUIDs, got {}", kind(other)),
                ));
            }
        };
        let these = parts
            .iter()
            .map(|p| filter_uuid("unique_identifier__in", p))
            .collect::<Result<Vec<_>>>()?;
        uuids = Some(match uuids {
            Some(one) => one.into_iter().filter(|u| these.contains(u)).collect(),
            None => these,
        });
    }
    Ok(FieldFilters {
        time: time_bounds(o, "time")?,
        last_edit_time: time_bounds(o, "last_edit_time")?,
        unique_identifier_in: uuids,
        unique_identifier_contains: filter_text(o, "unique_identifier__contains")?,
        description: filter_text(o, "description")?,
        description_contains: filter_text(o, "description__contains")?,
        vector_isnull: o.bool("vector__isnull")?,
        meta_data_isnull: o.bool("meta_data__isnull")?,
        frame: match o.u64("frame")? {
            None => None,
            Some(f) if (1..=u64::from(u32::MAX)).contains(&f) => Some(f as u32),
            Some(f) => {
                return Err(Error::invalid(
                    "frame",
                    format!("{f} is not a frame (frames count from 1)"),
                ));
            }
        },
    })
}

/// The parameters that window a list (`limit`, `offset`), beside [`ANNOTATION_FILTERS`].
pub const WINDOW: &[&str] = &["limit", "offset"];

/// How far an open viewport side reaches; the library clamps it to the image's margins.
const OPEN_SIDE: f64 = 1e15;

/// An annotation list from EXACT's filter names (see [`ANNOTATION_FILTERS`], [`WINDOW`]): `deleted`
/// absent or `null` lists both live and deleted ones (EXACT's API does); `vector_x_min` & co.
/// bound a viewport whose open sides reach the image's margins; `verified_by__range` is
/// `"a,b"` or `[a, b]`.
pub fn annotation_list(o: &Obj) -> Result<AnnotationList> {
    let mut images: Vec<ImageId> = Vec::new();
    if let Some(i) = o.u64("image")? {
        images.push(ImageId(i));
    }
    if let Some(is) = o.ids("image__in")? {
        images.extend(is.into_iter().map(ImageId));
    }
    let mut annotation_types = o.u64("annotation_type")?.map(|t| vec![AnnotationTypeId(t)]);
    if let Some(ts) = o.ids("annotation_type__in")? {
        annotation_types = Some(ts.into_iter().map(AnnotationTypeId).collect());
    }
    let sides = (
        o.f64("vector_x_min")?,
        o.f64("vector_y_min")?,
        o.f64("vector_x_max")?,
        o.f64("vector_y_max")?,
    );
    let viewport = match sides {
        (None, None, None, None) => None,
        (x0, y0, x1, y1) => Some(BBox::new(
            x0.unwrap_or(-OPEN_SIDE),
            y0.unwrap_or(-OPEN_SIDE),
            x1.unwrap_or(OPEN_SIDE),
            y1.unwrap_or(OPEN_SIDE),
        )),
    };
    let query = AnnotationQuery {
        viewport,
        annotation_types,
        deleted: o.bool("deleted")?,
        user: o.u64("user")?.map(UserId),
        edited_since: o.time("last_edit_time__gte")?,
    };
    let mut ids = o.u64("id")?.map(|i| vec![AnnotationId(i)]);
    if let Some(is) = o.ids("id__in")? {
        ids = Some(is.into_iter().map(AnnotationId).collect());
    }
    let mut vector_types = None;
    for key in ["vector_type", "vector_type__in"] {
        let Some(v) = o.get(key) else { continue };
        let items: Vec<Value> = match v {
            Value::Array(a) => a.clone(),
            Value::String(s) => s
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| Value::String(p.to_owned()))
                .collect(),
            other => vec![other.clone()],
        };
        vector_types = Some(
            items
                .iter()
                .map(|v| vector_type(key, v))
                .collect::<Result<Vec<_>>>()?,
        );
    }
    let mut verified_by = o.u64("verified_by")?.map(|u| (UserId(u), UserId(u)));
    if o.get("verified_by__range").is_some() {
        match o.ids("verified_by__range")?.as_deref() {
            Some([a, b]) => verified_by = Some((UserId(*a), UserId(*b))),
            _ => {
                return Err(Error::invalid(
                    "verified_by__range",
                    "expected two user ids a,b",
                ));
            }
        }
    }
    let verified_by_in = o
        .ids("verified_by__in")?
        .map(|us| us.into_iter().map(UserId).collect());
    let annotation_version = o.u64("annotationversion")?.map(AnnotationVersionId);
    Ok(AnnotationList {
        images,
        query,
        ids,
        vector_types,
        verified_by,
        verified_by_in,
        annotation_version,
        fields: field_filters(o)?,
        offset: o
            .u64("offset")?
            .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX)),
        limit: o
            .u64("limit")?
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
    })
}
