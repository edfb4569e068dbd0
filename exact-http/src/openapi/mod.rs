//! The OpenAPI 3 document served at `GET /api/v1/openapi`: the routes this server answers,
//! built from one table so it stays truthful (a test walks every documented operation
//! through the router and checks that none falls through to the 404/405 fallbacks).
//! Responses are described loosely (`type: object`), request bodies by their fields; errors
//! always carry a `detail` string.

use serde_json::{Map, Value, json};

/// What an operation returns on success.
#[derive(Clone, Copy)]
enum Out {
    /// 200 with a paged envelope (or a plain list with `pagination=False`).
    Page,
    /// 200 with one object.
    One,
    /// 201 with one object.
    Made,
    /// 201 with one object or, for a list body, a list.
    MadeMany,
    /// 200 with one object or, for a list body, a list.
    OneOrMany,
    /// 204 without a body.
    Gone,
    /// 200 with a JSON list.
    List,
    /// 200 with bytes.
    Bytes,
    /// 200 with text.
    Text,
    /// 200 with a file of one of these media types (tiles, PNGs, downloads, zips).
    Media(&'static [&'static str]),
}

/// What an operation takes as a body.
#[derive(Clone, Copy, PartialEq)]
enum In {
    None,
    Object,
    ObjectOrList,
    Bytes,
    /// A multipart form: a file part and text fields (annotation imports).
    Multipart,
}

/// One operation: method, path, tag, summary, body, result, query parameters.
struct Op {
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    body: In,
    out: Out,
    query: &'static [&'static str],
    public: bool,
}

const fn op(
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    body: In,
    out: Out,
) -> Op {
    Op {
        method,
        path,
        tag,
        summary,
        body,
        out,
        query: &[],
        public: false,
    }
}

const fn q(mut o: Op, query: &'static [&'static str]) -> Op {
    o.query = query;
    o
}

const fn public(mut o: Op) -> Op {
    o.public = true;
    o
}

/// A REST resource: list and create on the collection, retrieve/update (and delete) on items.
fn resource(
    ops: &mut Vec<Op>,
    coll: &'static str,
    item: &'static str,
    tag: &'static str,
    create: bool,
    update: bool,
    delete: bool,
) {
    ops.push(q(
        op(
            "get",
            coll,
            tag,
            "List (paged, filtered)",
            In::None,
            Out::Page,
        ),
        LIST,
    ));
    if create {
        ops.push(op("post", coll, tag, "Create", In::Object, Out::Made));
    }
    ops.push(q(
        op("get", item, tag, "Retrieve", In::None, Out::One),
        SHAPE,
    ));
    if update {
        ops.push(q(
            op(
                "patch",
                item,
                tag,
                "Update some fields",
                In::Object,
                Out::One,
            ),
            SHAPE,
        ));
        ops.push(q(
            op("put", item, tag, "Update", In::Object, Out::One),
            SHAPE,
        ));
    }
    if delete {
        ops.push(op("delete", item, tag, "Delete", In::None, Out::Gone));
    }
}

const LIST: &[&str] = &[
    "limit", "offset", "fields", "omit", "expand", "id", "id__in",
];
const SHAPE: &[&str] = &["fields", "omit", "expand"];

mod processing;
mod table;
use table::table;

fn object() -> Value {
    json!({"type": "object"})
}

fn error() -> Value {
    json!({"$ref": "#/components/schemas/Error"})
}

fn json_content(schema: Value) -> Value {
    json!({"application/json": {"schema": schema}})
}

fn responses(o: &Op) -> Value {
    let mut r = Map::new();
    let (code, body) = match o.out {
        Out::Page => (
            "200",
            Some(json!({"oneOf": [
                {"$ref": "#/components/schemas/Page"},
                {"type": "array", "items": object()},
            ]})),
        ),
        Out::One => ("200", Some(object())),
        Out::List => ("200", Some(json!({"type": "array", "items": object()}))),
        Out::Made => ("201", Some(object())),
        Out::MadeMany => (
            "201",
            Some(json!({"oneOf": [object(), {"type": "array", "items": object()}]})),
        ),
        Out::OneOrMany => (
            "200",
            Some(json!({"oneOf": [object(), {"type": "array", "items": object()}]})),
        ),
        Out::Gone => ("204", None),
        Out::Bytes => ("200", None),
        Out::Text => ("200", None),
        Out::Media(_) => ("200", None),
    };
    let ok = match (o.out, body) {
        (Out::Bytes, _) => json!({"description": "The bytes",
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}),
        (Out::Media(types), _) => {
            let binary = json!({"schema": {"type": "string", "format": "binary"}});
            // JSON files (annotation exports) are checked as JSON by clients: an object.
            let object = json!({"schema": {"type": "object"}});
            let content: Map<String, Value> = types
                .iter()
                .map(|t| {
                    let s = if t.ends_with("json") {
                        &object
                    } else {
                        &binary
                    };
                    ((*t).to_owned(), s.clone())
                })
                .collect();
            json!({"description": "The file", "content": content})
        }
        (Out::Text, _) => json!({"description": "ok",
            "content": {"text/plain": {"schema": {"type": "string"}}}}),
        (_, Some(schema)) => json!({"description": "Success", "content": json_content(schema)}),
        (_, None) => json!({"description": "Done, no body"}),
    };
    r.insert(code.into(), ok);
    let err = |d: &str| json!({"description": d, "content": json_content(error())});
    r.insert("400".into(), err("Bad input; the body names the field"));
    if !o.public || o.path == "/api/v1/auth/login/" || o.path == "/api/v1/auth/register/" {
        r.insert("401".into(), err("Not authenticated"));
        r.insert("403".into(), err("Not allowed (or CSRF check failed)"));
        r.insert(
            "429".into(),
            err("Too many failed logins for the account or address; see Retry-After"),
        );
    }
    if !o.public {
        r.insert(
            "404".into(),
            err("Not found, or not visible to the requester"),
        );
        r.insert("409".into(), err("Already exists, or changed concurrently"));
        r.insert("422".into(), err("Not supported"));
        r.insert(
            "503".into(),
            err("A storage backend is unavailable; nothing was written, retry (Retry-After)"),
        );
    }
    if o.path == "/api/v1/annotations/annotations/{id}/" && o.method != "get" {
        r.insert(
            "412".into(),
            err("If-Match names a version (ETag) the annotation is no longer at; nothing written"),
        );
    }
    if o.body != In::None {
        r.insert("413".into(), err("Body too large"));
    }
    if let Out::Media(types) = o.out {
        r.insert(
            "202".into(),
            err("The image's pixels are still being converted into a pyramid"),
        );
        r.insert(
            "204".into(),
            json!({"description": "Nothing to send (an empty set)"}),
        );
        r.insert(
            "304".into(),
            json!({"description": "Not modified (If-None-Match matched the ETag)"}),
        );
        let binary = json!({"schema": {"type": "string", "format": "binary"}});
        let content: Map<String, Value> = types
            .iter()
            .map(|t| ((*t).to_owned(), binary.clone()))
            .collect();
        r.insert(
            "206".into(),
            json!({"description": "The requested byte range", "content": content}),
        );
        r.insert("416".into(), err("The range lies outside the file"));
    }
    Value::Object(r)
}

fn parameters(o: &Op) -> Vec<Value> {
    let mut ps = Vec::new();
    if o.path.contains("{id}") {
        ps.push(json!({"name": "id", "in": "path", "required": true,
            "schema": {"type": "integer", "minimum": 0, "maximum": 9_007_199_254_740_991u64}}));
    }
    for name in ["z", "frame", "level", "number", "col", "row"] {
        if o.path.contains(&format!("{{{name}}}")) {
            ps.push(json!({"name": name, "in": "path", "required": true,
                "schema": {"type": "integer", "minimum": 0, "maximum": 1_000_000}}));
        }
    }
    if o.path.contains("{name}") {
        ps.push(json!({"name": "name", "in": "path", "required": true,
            "description": "an associated image's name (label, macro, thumbnail …)",
            "schema": {"type": "string", "minLength": 1, "maxLength": 200}}));
    }
    if o.path.contains("{tile}") {
        ps.push(json!({"name": "tile", "in": "path", "required": true,
            "description": "<col>_<row>.jpeg or .png",
            "schema": {"type": "string", "pattern": "^[0-9]{1,6}_[0-9]{1,6}\\.(jpeg|jpg|png)$"}}));
    }
    for name in o.query {
        let schema = match *name {
            "limit" | "offset" | "id" | "annotation" | "annotation_id" | "image_id"
            | "media_file_type" | "image_set_id" | "imageset_id" => {
                json!({"type": "integer", "minimum": 0})
            }
            "annotation_type" if o.path.contains("/annotation_map/") => {
                json!({"type": "integer", "minimum": 0})
            }
            "min_x" | "min_y" | "max_x" | "max_y" | "since" | "x" | "y" | "iou" | "distance" => {
                json!({"type": "number"})
            }
            "width" | "height" => json!({"type": "integer", "minimum": 0}),
            "original_image" => json!({"type": "boolean"}),
            "include_deleted" | "keep_deleted_element" | "skip_deleted" => {
                json!({"type": "boolean"})
            }
            "format" if o.path.ends_with("/export/") => {
                let formats: Vec<&str> = exact_interop::Format::ALL
                    .iter()
                    .map(|f| f.name())
                    .collect();
                json!({"type": "string", "enum": formats, "default": "geojson"})
            }
            _ => json!({"type": "string"}),
        };
        ps.push(json!({"name": name, "in": "query", "required": false, "schema": schema}));
    }
    if o.method == "get" {
        for (name, schema) in filters(o.path) {
            ps.push(json!({"name": name, "in": "query", "required": false, "schema": schema}));
        }
    }
    ps
}

/// The list filters a collection reads itself (beyond the generic field filters), with the
/// values they accept; any other value is a 400 naming the parameter.
fn filters(path: &str) -> Vec<(&'static str, Value)> {
    let id = || json!({"type": "integer", "minimum": 0});
    let ids = || json!({"type": "string", "pattern": "^[0-9]+(,[0-9]+)*$"});
    let boolean = || json!({"type": "boolean"});
    let number = || json!({"type": "number"});
    match path {
        "/api/v1/annotations/annotations/" => vec![
            ("image", id()),
            ("image__in", ids()),
            ("annotation_type", id()),
            ("annotation_type__in", ids()),
            ("deleted", boolean()),
            ("user", id()),
            (
                "last_edit_time__gte",
                json!({"type": "string",
                "description": "EXACT's naive ISO-8601 time, e.g. 2024-01-31T12:00:00"}),
            ),
            ("vector_x_min", number()),
            ("vector_x_max", number()),
            ("vector_y_min", number()),
            ("vector_y_max", number()),
            (
                "frame",
                json!({"type": "integer", "minimum": 1, "maximum": 4294967295u64,
                "description": "annotations drawn on this frame (1-based) and those without one"}),
            ),
            (
                "vector_type",
                json!({"type": "integer", "minimum": 1, "maximum": 7}),
            ),
            (
                "vector_type__in",
                json!({"type": "string", "pattern": "^[1-7](,[1-7])*$"}),
            ),
            ("verified_by", id()),
            (
                "verified_by__range",
                json!({"type": "string", "pattern": "^[0-9]+,[0-9]+$",
                "description": "users a,b (inclusive): annotations verified by one of them"}),
            ),
        ],
        "/api/v1/images/images/" => vec![
            ("annotation_type", id()),
            ("num_annotations_min", id()),
            ("num_annotations_max", id()),
            (
                "verified",
                json!({"type": "boolean", "description":
                "true: images with a live annotation someone verified; false: with one nobody verified"}),
            ),
        ],
        _ => Vec::new(),
    }
}

fn request_body(o: &Op) -> Option<Value> {
    let content = match o.body {
        In::None => return None,
        In::Object if o.path == "/api/v1/auth/login/" => {
            let schema = json!({"type": "object", "required": ["username", "password"],
                "properties": {"username": {"type": "string"}, "password": {"type": "string"}}});
            json!({"application/json": {"schema": schema},
                   "application/x-www-form-urlencoded": {"schema": schema}})
        }
        In::Object => json_content(body_schema(o)),
        In::ObjectOrList => {
            let one = body_schema(o);
            json_content(json!({"oneOf": [one, {"type": "array", "items": one}]}))
        }
        In::Bytes => {
            json!({"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}})
        }
        In::Multipart => {
            let formats: Vec<&str> = exact_interop::Format::ALL
                .iter()
                .map(|f| f.name())
                .collect();
            json!({"multipart/form-data": {"schema": {"type": "object", "required": ["file"],
            "properties": {
                "file": {"type": "string", "format": "binary",
                    "description": "The annotation file"},
                "format": {"type": "string", "enum": formats,
                    "description": "Detected from the file's content when left out"},
                "create_missing": {"type": "boolean"},
                "dry_run": {"type": "boolean"},
                "image": {"type": "string",
                    "description": "The image for items that name none"},
                "verify": {"type": "boolean"},
            }}}})
        }
    };
    Some(json!({"required": true, "content": content}))
}

/// The fields a body takes (what the handler reads; others are ignored, as DRF does).
fn body_schema(o: &Op) -> Value {
    let id = || json!({"type": "integer", "minimum": 0});
    let int = || json!({"type": "integer"});
    let text = || json!({"type": "string"});
    let flag = || json!({"type": "boolean"});
    let ids = || json!({"type": "array", "items": {"type": "integer", "minimum": 0}});
    let vector = || {
        json!({"type": "object", "nullable": true,
        "additionalProperties": {"type": "number"},
        "description": "x1, y1, x2, y2, … as EXACT stores them"})
    };
    let (props, required): (Value, &[&str]) = match o.path {
        "/api/v1/users/users/" | "/api/v1/users/users/{id}/" => (
            json!({"username": text(), "password": text(), "email": text(),
                "is_superuser": flag(), "is_staff": flag(), "is_active": flag()}),
            &["username"],
        ),
        "/api/v1/users/teams/" | "/api/v1/users/teams/{id}/" => {
            (json!({"name": text(), "website": text()}), &["name"])
        }
        "/api/v1/users/team_membership/" | "/api/v1/users/team_membership/{id}/" => (
            json!({"team": id(), "user": id(), "is_admin": flag()}),
            &["team", "user"],
        ),
        "/api/v1/administration/products/" | "/api/v1/administration/products/{id}/" => (
            json!({"name": text(), "description": text(), "team": id(), "imagesets": ids()}),
            &["name", "team"],
        ),
        "/api/v1/annotations/annotation_types/" | "/api/v1/annotations/annotation_types/{id}/" => (
            json!({"name": text(), "product": id(),
                "vector_type": {"type": "integer", "minimum": 1, "maximum": 7},
                "node_count": int(), "color_code": text(), "closed": flag(), "active": flag(),
                "enable_concealed": flag(), "enable_blurred": flag(), "default_width": int(),
                "default_height": int(), "sort_order": int(), "area_hit_test": flag(),
                "multi_frame": flag()}),
            &["name", "product"],
        ),
        "/api/v1/images/image_sets/" | "/api/v1/images/image_sets/{id}/" => (
            json!({"name": text(), "team": id(), "location": text(), "description": text(),
                "public": flag(), "public_collaboration": flag(), "image_lock": flag(),
                "priority": int(), "collaboration_type": int(), "main_annotation_type": id()}),
            &["name", "team"],
        ),
        "/api/v1/images/images/{id}/channels/" => (
            json!({"channels": {"type": "array", "items": {"type": "object",
                "properties": {"channel": int(), "color": {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$"},
                    "min": {"type": "integer", "minimum": 0, "maximum": 65535},
                    "max": {"type": "integer", "minimum": 0, "maximum": 65535}},
                "required": ["channel"]}}}),
            &["channels"],
        ),
        "/api/v1/images/images/{id}/register_images/" => (
            json!({"target_image": id(),
                "thumbnail_size": {"type": "array", "items": {"type": "integer", "minimum": 128, "maximum": 4096}},
                "create_inverse_registration": flag()}),
            &["target_image"],
        ),
        "/api/v1/images/images/" | "/api/v1/images/images/{id}/" => (
            json!({"name": text(), "image_set": id(), "width": id(), "height": id(),
                "filename": text(), "mpp": {"type": "number"}, "objectivePower": {"type": "number"},
                "frames": int(), "depth": int(), "channels": int(), "image_type": int(),
                "defaultFrame": int(), "series": int(),
                "FrameDescriptions": {"type": "array", "items": {"type": "object",
                    "properties": {"frame_id": int(), "frame_type": {"type": "integer", "enum": [0, 1, 255]},
                        "description": {"type": "string", "maxLength": 160}},
                    "required": ["frame_id", "description"]}}}),
            &["name", "image_set"],
        ),
        "/api/v1/annotations/annotations/" | "/api/v1/annotations/annotations/{id}/" => (
            json!({"annotation_type": id(), "image": id(), "vector": vector(), "deleted": flag(),
                "concealed": flag(), "blurred": flag(), "description": text(), "meta_data": {},
                "unique_identifier": {"type": "string", "format": "uuid"},
                "time": text(), "last_edit_time": text(), "user": id()}),
            &["annotation_type", "image"],
        ),
        "/api/v1/annotations/verifications/" | "/api/v1/annotations/verifications/{id}/" => (
            json!({"annotation": id(), "verified": flag()}),
            &["annotation", "verified"],
        ),
        "/api/v1/images/set_tags/" | "/api/v1/images/set_versions/" => (
            json!({"name": text(), "imagesets": ids()}),
            &["name", "imagesets"],
        ),
        "/api/v1/annotations/log_image_actions/" => (
            json!({"image": id(), "action": {"type": "integer", "minimum": 1, "maximum": 2}}),
            &["image", "action"],
        ),
        "/api/v1/images/screening_modes/" => (
            json!({"image": id(), "x_resolution": id(), "y_resolution": id()}),
            &["image"],
        ),
        "/api/v1/images/screening_modes/{id}/" => (
            json!({"current_index": id(), "screening_tiles": {}}),
            &["current_index"],
        ),
        "/annotations/api/annotation/create/" => (
            json!({"image_id": id(), "annotation_type_id": id(), "vector": vector(),
                "blurred": flag(), "concealed": flag(), "description": text(), "tempid": {}}),
            &["image_id", "annotation_type_id"],
        ),
        "/annotations/api/annotation/update/" => (
            json!({"annotation_id": id(), "image_id": id(), "annotation_type_id": id(),
                "vector": vector(), "deleted": flag(), "blurred": flag(), "concealed": flag()}),
            &["annotation_id", "image_id", "annotation_type_id"],
        ),
        "/annotations/api/annotation/verify/" => (
            json!({"annotation_id": id(),
                "state": {"type": "string", "enum": ["accept", "reject"]}}),
            &["annotation_id", "state"],
        ),
        "/annotations/api/annotation/blurred_concealed/" => (
            json!({"annotation_id": id(), "blurred": flag(), "concealed": flag()}),
            &["annotation_id", "blurred", "concealed"],
        ),
        "/users/api/tokens/" => (
            json!({"name": text(), "expires_at": text(),
                "expires_in_days": {"type": "integer", "minimum": 1, "maximum": 3650}}),
            &[],
        ),
        "/api/v1/auth/register/" => (
            json!({"username": text(), "password": text(), "email": text()}),
            &["username", "password"],
        ),
        "/api/v1/users/users/{id}/set_password/" => (
            json!({"password": text(), "old_password": text()}),
            &["password"],
        ),
        "/images/api/imageset/product/add/" | "/images/api/imageset/product/delete/" => (
            json!({"image_set_id": id(), "product_id": id()}),
            &["image_set_id", "product_id"],
        ),
        "/api/v1/annotations/export_formats/"
        | "/api/v1/annotations/export_formats/{id}/"
        | "/annotations/export/create/"
        | "/annotations/export/{id}/edit/" => (
            json!({"name": text(), "team": id(), "public": flag(), "annotations_types": ids(),
                "base_format": text(), "image_format": {"type": "string", "nullable": true},
                "annotation_format": text(), "vector_format": text(),
                "not_in_image_format": text(), "name_format": text(),
                "min_verifications": id(), "image_aggregation": flag(),
                "include_blurred": flag(), "include_concealed": flag()}),
            &["name", "team"],
        ),
        "/annotations/export/{id}/" => (json!({"export_format": id()}), &["export_format"]),
        "/administration/api/annotation_type/create/" => (
            json!({"product_id": id(), "name": text(),
                "vector_type": {"type": "integer", "minimum": 1, "maximum": 7},
                "color_code": text(), "default_width": id(), "default_height": id(),
                "sort_order": id(), "area_hit_test": flag(), "closed": flag()}),
            &["product_id", "name", "vector_type"],
        ),
        "/administration/api/annotation_type/delete/" => {
            (json!({"annotation_type_id": id()}), &["annotation_type_id"])
        }
        _ => (json!({}), &[]),
    };
    let mut schema = json!({"type": "object", "properties": props});
    if o.method == "post" && !required.is_empty() {
        schema["required"] = json!(required);
    }
    schema
}

/// The document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for o in table() {
        let entry = paths.entry(o.path.to_owned()).or_insert_with(|| json!({}));
        let mut operation = json!({
            "tags": [o.tag],
            "summary": o.summary,
            "operationId": format!("{}{}", o.method, o.path.replace(['/', '{', '}'], "_")),
            "parameters": parameters(&o),
            "responses": responses(&o),
        });
        if let Some(b) = request_body(&o) {
            operation["requestBody"] = b;
        }
        if o.public {
            operation["security"] = json!([]);
        }
        entry[o.method] = operation;
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "exact-rs - EXACT-compatible API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "EXACT's REST API v1 (limit/offset pages, django-filter style filters, drf-flex-fields fields/omit/expand) and its legacy annotation endpoints.",
        },
        "paths": paths,
        "security": [{"basic": []}, {"token": []}, {"session": []}],
        "components": {
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic"},
                "token": {"type": "http", "scheme": "bearer", "description": "Personal access token (also `Authorization: Token …`)"},
                "session": {"type": "apiKey", "in": "cookie", "name": "sessionid", "description": "Browser session; unsafe methods need X-CSRFToken equal to the csrftoken cookie"},
            },
            "schemas": {
                "Error": {"type": "object", "required": ["detail"],
                    "properties": {"detail": {"type": "string"}}},
                "Page": {"type": "object", "required": ["count", "next", "previous", "results"],
                    "properties": {
                        "count": {"type": "integer"},
                        "next": {"type": "string", "nullable": true},
                        "previous": {"type": "string", "nullable": true},
                        "results": {"type": "array", "items": {"type": "object"}},
                    }},
            },
        },
    })
}

/// Every documented (method, path) pair, for the test that the router serves them all.
pub fn operations() -> Vec<(&'static str, &'static str)> {
    table().into_iter().map(|o| (o.method, o.path)).collect()
}
