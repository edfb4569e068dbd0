//! The operation table: every route the server answers, in one list (what the document and
//! the routing test are built from).

use super::{In, LIST, Op, Out, op, public, q, resource};

pub(super) fn table() -> Vec<Op> {
    let mut ops = vec![
        public(op(
            "get",
            "/api/v1/",
            "meta",
            "Server name, version and stores",
            In::None,
            Out::One,
        )),
        public(op(
            "get",
            "/api/v1/openapi",
            "meta",
            "This document",
            In::None,
            Out::One,
        )),
        public(op(
            "get",
            "/health",
            "meta",
            "Liveness",
            In::None,
            Out::Text,
        )),
        public(op(
            "get",
            "/healthz",
            "meta",
            "Liveness",
            In::None,
            Out::Text,
        )),
        public(op(
            "get",
            "/metrics",
            "meta",
            "Prometheus metrics: requests by route and status, latency histograms",
            In::None,
            Out::Text,
        )),
        public(op(
            "post",
            "/api/v1/auth/login/",
            "auth",
            "Log in (JSON or form username/password): sets the sessionid and csrftoken cookies",
            In::Object,
            Out::One,
        )),
        op(
            "post",
            "/api/v1/auth/logout/",
            "auth",
            "End the session",
            In::None,
            Out::One,
        ),
        op(
            "get",
            "/api/v1/auth/me/",
            "auth",
            "The requester, and whether self-registration is open (`registration_open`)",
            In::None,
            Out::One,
        ),
        op(
            "post",
            "/api/v1/auth/logout_all/",
            "auth",
            "End every session of the requester (tokens stay)",
            In::None,
            Out::One,
        ),
        public(op(
            "post",
            "/api/v1/auth/register/",
            "auth",
            "Create an account (only with `exact serve --allow-registration`; 403 otherwise)",
            In::Object,
            Out::Made,
        )),
        q(
            op(
                "get",
                "/api/v1/annotations/annotations/trash/",
                "annotations",
                "The trashed (DELETEd) annotations of ?image= the requester could restore",
                In::None,
                Out::Page,
            ),
            &["image", "limit", "offset"],
        ),
        op(
            "post",
            "/api/v1/annotations/annotations/{id}/restore/",
            "annotations",
            "Restore a trashed (DELETEd) annotation",
            In::None,
            Out::One,
        ),
        op(
            "post",
            "/api/v1/users/users/{id}/set_password/",
            "users",
            "Set a password: your own with old_password, anyone's as a superuser",
            In::Object,
            Out::One,
        ),
        op(
            "get",
            "/users/api/tokens/",
            "auth",
            "The requester's personal access tokens",
            In::None,
            Out::List,
        ),
        op(
            "post",
            "/users/api/tokens/",
            "auth",
            "Create a token (secret shown once)",
            In::Object,
            Out::Made,
        ),
        op(
            "post",
            "/users/api/tokens/{id}/revoke/",
            "auth",
            "Revoke a token",
            In::None,
            Out::One,
        ),
    ];
    resource(
        &mut ops,
        "/api/v1/users/users/",
        "/api/v1/users/users/{id}/",
        "users",
        true,
        true,
        false,
    );
    resource(
        &mut ops,
        "/api/v1/users/teams/",
        "/api/v1/users/teams/{id}/",
        "users",
        true,
        true,
        true,
    );
    resource(
        &mut ops,
        "/api/v1/users/team_membership/",
        "/api/v1/users/team_membership/{id}/",
        "users",
        true,
        true,
        true,
    );
    resource(
        &mut ops,
        "/api/v1/administration/products/",
        "/api/v1/administration/products/{id}/",
        "administration",
        true,
        true,
        false,
    );
    resource(
        &mut ops,
        "/api/v1/annotations/annotation_types/",
        "/api/v1/annotations/annotation_types/{id}/",
        "annotations",
        true,
        true,
        false,
    );
    resource(
        &mut ops,
        "/api/v1/images/image_sets/",
        "/api/v1/images/image_sets/{id}/",
        "images",
        true,
        true,
        true,
    );
    resource(
        &mut ops,
        "/api/v1/images/images/",
        "/api/v1/images/images/{id}/",
        "images",
        true,
        true,
        true,
    );
    ops.push(op(
        "post",
        "/api/v1/images/images/{id}/register_images/",
        "registration",
        "Estimate and store the registration of this image onto target_image from their pixels (201 new, 202 recomputed; 400 when the slides cannot be registered, nothing stored)",
        In::Object,
        Out::Made,
    ));
    ops.push(op(
        "get",
        "/api/v1/viewer/{id}/",
        "images",
        "The viewer's bootstrap in one request: me, image, image_set, its active annotation_types, the set's images and the overview tiles' version (each as its own endpoint, same permissions)",
        In::None,
        Out::One,
    ));
    ops.push(op(
        "get",
        "/api/v1/images/images/{id}/channels/",
        "images",
        "The composited channels as shown: name, colour #rrggbb, window min/max (stored values), bits, custom",
        In::None,
        Out::One,
    ));
    for method in ["put", "patch"] {
        ops.push(op(
            method,
            "/api/v1/images/images/{id}/channels/",
            "images",
            "Set the channels' display (edit rights): {channels: [{channel, color?, min?, max?}]}; [] restores the defaults",
            In::Object,
            Out::One,
        ));
    }
    const JPEG_PNG: &[&str] = &["image/jpeg", "image/png"];
    const XML: &[&str] = &["application/xml"];
    const PNG: &[&str] = &["image/png"];
    const JPEG: &[&str] = &["image/jpeg"];
    let pixels = |path, summary, out| op("get", path, "pixels", summary, In::None, out);
    ops.extend([
        q(
            pixels(
                "/api/v1/images/images/{id}/native.dzi",
                "Deep Zoom descriptor of the native grid (slide tile size, overlap 0); ?z=&frame= pick a plane (1-based)",
                Out::Media(XML),
            ),
            &["z", "frame"],
        ),
        q(
            pixels(
                "/api/v1/images/images/{id}/native_files/{level}/{tile}",
                "A native-grid tile; native levels pass through untouched (ETag, 304); ?z=&frame= pick a plane",
                Out::Media(JPEG_PNG),
            ),
            &["z", "frame"],
        ),
        pixels(
            "/api/v1/images/images/{id}/annotation_tiles.dzi",
            "Deep Zoom descriptor of the annotation overview tiles (native.dzi's geometry, PNG); header X-Annotation-Generation",
            Out::Media(XML),
        ),
        pixels(
            "/api/v1/images/images/{id}/annotation_tiles/generation",
            "The image's annotation generation (changes with every annotation write)",
            Out::One,
        ),
        q(
            pixels(
                "/api/v1/images/images/{id}/annotation_tiles_files/{level}/{tile}",
                "An annotation overview tile: transparent PNG, visible annotations in their type's colour (ETag, 304); ?frame= one plane of a stack",
                Out::Media(&["image/png"]),
            ),
            &["types", "v", "frame"],
        ),
        q(
            op(
                "get",
                "/api/v1/events/",
                "events",
                "Live annotation events of one image (text/event-stream; Last-Event-ID resumes)",
                In::None,
                Out::Media(&["text/event-stream"]),
            ),
            &["image", "last_event_id"],
        ),
        pixels(
            "/api/v1/images/images/{id}/{z}/{frame}/tile/",
            "Deep Zoom descriptor on EXACT's grid (254 px, overlap 1)",
            Out::Media(XML),
        ),
        pixels(
            "/api/v1/images/images/{id}/{z}/{frame}/tile_files/{level}/{tile}",
            "A tile on EXACT's grid (JPEG quality 90, or PNG)",
            Out::Media(JPEG_PNG),
        ),
        pixels(
            "/images/image/{id}/{z}/{frame}/tile/",
            "Deep Zoom descriptor on EXACT's grid, at EXACT's viewer path",
            Out::Media(XML),
        ),
        pixels(
            "/images/image/{id}/{z}/{frame}/tile_files/{level}/{tile}",
            "A tile on EXACT's grid, at EXACT's viewer path",
            Out::Media(JPEG_PNG),
        ),
        pixels(
            "/api/v1/images/images/{id}/slide_information/",
            "Levels, downsamples and Deep Zoom tiles of the slide",
            Out::One,
        ),
        q(
            pixels(
                "/api/v1/images/images/{id}/get_patch/",
                "A region as PNG (clipped to the level; at most 2048 px a side)",
                Out::Media(PNG),
            ),
            &["x", "y", "level", "width", "height"],
        ),
        pixels(
            "/api/v1/images/images/{id}/thumbnail/",
            "A thumbnail of at most 128 × 128 px (PNG)",
            Out::Media(PNG),
        ),
        pixels(
            "/api/v1/images/images/{id}/slide/",
            "The slide as OpenSlide describes it: dimensions, levels, downsamples, properties, associated image names",
            Out::One,
        ),
        q(
            pixels(
                "/api/v1/images/images/{id}/slide/region/",
                "OpenSlide's read_region as RGBA PNG: level-0 corner x, y (any), size at level; transparent outside; at most 2048 px a side",
                Out::Media(PNG),
            ),
            &["x", "y", "level", "width", "height"],
        ),
        q(
            pixels(
                "/api/v1/images/images/{id}/slide/thumbnail/",
                "openslide-python's get_thumbnail as RGB PNG fitting in width × height (at most 2048 px a side)",
                Out::Media(PNG),
            ),
            &["width", "height"],
        ),
        pixels(
            "/api/v1/images/images/{id}/slide/associated/{name}/",
            "An associated image (label, macro …) as PNG",
            Out::Media(PNG),
        ),
        pixels(
            "/api/v1/images/images/{id}/slide/native/{level}/{col}/{row}/",
            "A native tile of a slide level as stored (OpenSlide-style read_native_tile): JPEG tables spliced in, never decoded; 422 for a level that is not JPEG-tiled",
            Out::Media(JPEG),
        ),
        op(
            "patch",
            "/api/v1/images/images/{id}/update_image_cache/",
            "pixels",
            "Open the slide and render the small levels ahead of viewing",
            In::None,
            Out::One,
        ),
        q(
            pixels(
                "/images/api/image/download/{id}/",
                "The image file, as uploaded or as served (Range supported)",
                Out::Media(&["application/octet-stream"]),
            ),
            &["original_image"],
        ),
        q(
            op(
                "get",
                "/images/imageset/{id}/annotation_map/create/",
                "images",
                "EXACT's annotation maps: per type (or `annotation_type` only), a server-generated image `<product>_<type>.tiff` collaging every live annotation (default size + 15 % context, ⌈√n⌉² grid), its annotations keeping the originals' UUIDs; 201 with `Names` (name → count) and `Images` (name → id)",
                In::None,
                Out::Made,
            ),
            &["annotation_type"],
        ),
        q(
            op(
                "post",
                "/images/imageset/{id}/annotation_map/create/",
                "images",
                "As GET (EXACT uses GET)",
                In::None,
                Out::Made,
            ),
            &["annotation_type"],
        ),
        op(
            "get",
            "/images/imageset/{id}/annotation_map/sync/",
            "images",
            "Push the types given on the set's annotation maps back to the originals of the same UUID (with history); 201 with `Updates` (original id → what changed)",
            In::None,
            Out::Made,
        ),
        op(
            "post",
            "/images/imageset/{id}/annotation_map/sync/",
            "images",
            "As GET (EXACT uses GET)",
            In::None,
            Out::Made,
        ),
        pixels(
            "/images/imageset/{id}/download/",
            "Every image of a set in one zip, streamed (204 for an empty set)",
            Out::Media(&["application/zip"]),
        ),
        op(
            "delete",
            "/images/api/image/delete/{id}/",
            "pixels",
            "Soft-delete an image (EXACT's legacy path)",
            In::None,
            Out::Gone,
        ),
    ]);
    resource(
        &mut ops,
        "/api/v1/annotations/annotations/",
        "/api/v1/annotations/annotations/{id}/",
        "annotations",
        false,
        true,
        true,
    );
    ops.push(op(
        "post",
        "/api/v1/annotations/annotations/",
        "annotations",
        "Create one annotation, or a list of them (bulk)",
        In::ObjectOrList,
        Out::MadeMany,
    ));
    ops.push(q(
        op(
            "get",
            "/api/v1/annotations/annotations/counts/",
            "annotations",
            "Count one image's annotations matching the filters, in total and per type (no listing)",
            In::None,
            Out::One,
        ),
        &[
            "image",
            "annotation_type",
            "annotation_type__in",
            "deleted",
            "user",
            "last_edit_time__gte",
            "vector_x_min",
            "vector_x_max",
            "vector_y_min",
            "vector_y_max",
        ],
    ));
    ops.push(q(
        op(
            "delete",
            "/api/v1/annotations/annotations/multiple_delete/",
            "annotations",
            "Soft-delete the annotations id__in names",
            In::None,
            Out::One,
        ),
        &["id__in"],
    ));
    ops.push(op(
        "post",
        "/api/v1/annotations/annotations/multiple_update/",
        "annotations",
        "Relabel ({ids, annotation_type}) or delete/restore ({ids, deleted}) many annotations; or, with a list of patches ([{id, field: value …}]), change each as PATCH would; all or none (answers the changed annotations)",
        In::ObjectOrList,
        Out::OneOrMany,
    ));
    ops.push(op(
        "post",
        "/api/v1/annotations/annotations/multiple_restore/",
        "annotations",
        "Restore trashed (DELETEd) annotations ({ids}), all or none; answers them",
        In::Object,
        Out::List,
    ));
    ops.push(op(
        "get",
        "/api/v1/annotations/annotations/{id}/history/",
        "annotations",
        "The annotation's revisions, oldest first ({number, change, action, user, time, before, after})",
        In::None,
        Out::List,
    ));
    ops.push(op(
        "post",
        "/api/v1/annotations/annotations/{id}/history/{number}/restore/",
        "annotations",
        "Restore the annotation to its state after revision number (a new revision)",
        In::None,
        Out::One,
    ));
    ops.push(op(
        "get",
        "/api/v1/images/image_sets/{id}/annotation_counts/",
        "images",
        "Live annotations per image of the set, and in total",
        In::None,
        Out::One,
    ));
    ops.push(op(
        "get",
        "/api/v1/administration/status/",
        "administration",
        "Superusers: version, stores (no credentials), counts, recent failed uploads and errors",
        In::None,
        Out::One,
    ));
    resource(
        &mut ops,
        "/api/v1/annotations/verifications/",
        "/api/v1/annotations/verifications/{id}/",
        "annotations",
        true,
        true,
        false,
    );
    resource(
        &mut ops,
        "/api/v1/annotations/annotation_versions/",
        "/api/v1/annotations/annotation_versions/{id}/",
        "annotations",
        false,
        false,
        false,
    );
    resource(
        &mut ops,
        "/api/v1/annotations/annotation_media_files/",
        "/api/v1/annotations/annotation_media_files/{id}/",
        "annotations",
        false,
        false,
        false,
    );
    ops.push(q(
        op(
            "post",
            "/api/v1/annotations/annotation_media_files/",
            "annotations",
            "Upload a media file: the bytes as the body, metadata as query parameters",
            In::Bytes,
            Out::Made,
        ),
        &["annotation", "name", "media_file_type"],
    ));
    ops.push(q(
        op(
            "post",
            "/api/v1/images/image_sets/{id}/import/",
            "images",
            "Import an annotation file (GeoJSON, COCO, CSV, SlideRunner, ASAP, ImageScope, EXACT labels) into the set: all or nothing; answers the report (400 names every refused item), or with async=1 202 and the import job",
            In::Multipart,
            Out::One,
        ),
        &["async"],
    ));
    ops.push(op(
        "get",
        "/api/v1/images/import_jobs/{id}/",
        "images",
        "An import job: state, progress (bytes read, items read, annotations written), and the report or the error naming the feature",
        In::None,
        Out::One,
    ));
    ops.push(op(
        "get",
        "/api/v1/images/image_sets/{id}/import/jobs/",
        "images",
        "The caller's import jobs on the set, oldest first",
        In::None,
        Out::One,
    ));
    ops.push(q(
        op(
            "get",
            "/api/v1/images/image_sets/{id}/export/",
            "images",
            "Export the set's annotations as a file, streamed (level-0 pixels)",
            In::None,
            Out::Media(&[
                "application/geo+json",
                "application/json",
                "text/csv",
                "text/plain",
                "application/vnd.sqlite3",
                "application/xml",
            ]),
        ),
        &["format", "skip_deleted"],
    ));
    ops.push(op(
        "get",
        "/api/v1/annotations/annotation_media_files/{id}/file/",
        "annotations",
        "A media file's bytes",
        In::None,
        Out::Bytes,
    ));
    resource(
        &mut ops,
        "/api/v1/images/set_tags/",
        "/api/v1/images/set_tags/{id}/",
        "images",
        true,
        false,
        false,
    );
    resource(
        &mut ops,
        "/api/v1/images/set_versions/",
        "/api/v1/images/set_versions/{id}/",
        "images",
        true,
        false,
        false,
    );
    ops.push(q(
        op(
            "get",
            "/api/v1/annotations/log_image_actions/",
            "annotations",
            "List (paged, filtered)",
            In::None,
            Out::Page,
        ),
        LIST,
    ));
    ops.push(op(
        "post",
        "/api/v1/annotations/log_image_actions/",
        "annotations",
        "Log an image being opened or closed",
        In::Object,
        Out::Made,
    ));
    ops.push(op(
        "post",
        "/api/v1/images/screening_modes/",
        "images",
        "Open (or resume) screening of an image",
        In::Object,
        Out::Made,
    ));
    for m in ["patch", "put"] {
        ops.push(op(
            m,
            "/api/v1/images/screening_modes/{id}/",
            "images",
            "Advance screening: current_index marks that tile screened",
            In::Object,
            Out::One,
        ));
    }
    let legacy = |m, p, s, b, o, query| q(op(m, p, "legacy", s, b, o), query);
    ops.push(public(op(
        "get",
        "/timesync/",
        "legacy",
        "The server's clock ({unixtime})",
        In::None,
        Out::One,
    )));
    ops.extend([
        legacy(
            "get",
            "/images/api/list_imagesets/",
            "Image sets with their images, products and annotation types",
            In::None,
            Out::List,
            &[],
        ),
        legacy(
            "get",
            "/images/api/imageset/load/",
            "One image set ({image_set})",
            In::None,
            Out::One,
            &["image_set_id"],
        ),
        legacy(
            "post",
            "/images/api/imageset/product/add/",
            "Attach a product to an image set",
            In::Object,
            Out::One,
            &[],
        ),
        legacy(
            "post",
            "/images/api/imageset/product/delete/",
            "Detach a product from an image set",
            In::Object,
            Out::One,
            &[],
        ),
        legacy(
            "get",
            "/annotations/api/annotation/loadannotationtypes/",
            "Active annotation types of a set ({annotation_types})",
            In::None,
            Out::One,
            &["imageset_id"],
        ),
        legacy(
            "post",
            "/administration/api/annotation_type/create/",
            "Create an annotation type in a product",
            In::Object,
            Out::Made,
            &[],
        ),
        legacy(
            "post",
            "/administration/api/annotation_type/delete/",
            "Deactivate an annotation type",
            In::Object,
            Out::One,
            &[],
        ),
        legacy(
            "post",
            "/images/api/image/opened/{id}/",
            "Log that the requester opened an image",
            In::None,
            Out::One,
            &[],
        ),
        legacy(
            "post",
            "/images/api/image/closed/{id}/",
            "Log that the requester closed an image",
            In::None,
            Out::One,
            &[],
        ),
        legacy(
            "get",
            "/users/api/team/filter/",
            "The requester's teams by name and id ({teams})",
            In::None,
            Out::One,
            &["name", "id"],
        ),
    ]);
    ops.extend([
        legacy(
            "post",
            "/annotations/api/annotation/create/",
            "Create an annotation ({annotations, tempid})",
            In::Object,
            Out::Made,
            &[],
        ),
        legacy(
            "post",
            "/annotations/api/annotation/update/",
            "Update an annotation ({annotations})",
            In::Object,
            Out::One,
            &[],
        ),
        legacy(
            "delete",
            "/annotations/api/annotation/delete/",
            "Soft-delete an annotation ({annotations})",
            In::None,
            Out::One,
            &["annotation_id", "keep_deleted_element"],
        ),
        legacy(
            "get",
            "/annotations/api/annotation/load/",
            "An image's annotations ({annotations})",
            In::None,
            Out::One,
            &[
                "image_id",
                "since",
                "min_x",
                "min_y",
                "max_x",
                "max_y",
                "include_deleted",
            ],
        ),
        legacy(
            "get",
            "/annotations/api/annotation/loadone/",
            "One annotation ({annotation})",
            In::None,
            Out::One,
            &["annotation_id"],
        ),
        legacy(
            "post",
            "/annotations/api/annotation/verify/",
            "Accept or reject an annotation",
            In::Object,
            Out::One,
            &[],
        ),
        legacy(
            "post",
            "/annotations/api/annotation/blurred_concealed/",
            "Set blurred and concealed",
            In::Object,
            Out::One,
            &[],
        ),
    ]);
    export_formats(&mut ops);
    super::processing::processing(&mut ops);
    ops
}

/// EXACT's export formats, kept exports and their download (EXACT.md §6).
fn export_formats(ops: &mut Vec<Op>) {
    resource(
        ops,
        "/api/v1/annotations/export_formats/",
        "/api/v1/annotations/export_formats/{id}/",
        "annotations",
        true,
        true,
        true,
    );
    ops.push(op(
        "post",
        "/api/v1/annotations/export_formats/{id}/restore/",
        "annotations",
        "Restore a deleted export format",
        In::None,
        Out::One,
    ));
    ops.push(q(
        op(
            "get",
            "/api/v1/annotations/exports/",
            "annotations",
            "Kept exports (without their text; see download)",
            In::None,
            Out::Page,
        ),
        &["image_set", "limit", "offset"],
    ));
    ops.push(op(
        "get",
        "/api/v1/annotations/exports/{id}/",
        "annotations",
        "One kept export",
        In::None,
        Out::One,
    ));
    ops.push(op(
        "delete",
        "/api/v1/annotations/exports/{id}/",
        "annotations",
        "Delete a kept export (restorable)",
        In::None,
        Out::Gone,
    ));
    ops.push(op(
        "post",
        "/annotations/export/{id}/",
        "legacy",
        "Render an image set through an export format and keep the export",
        In::Object,
        Out::Made,
    ));
    ops.push(op(
        "post",
        "/annotations/export/create/",
        "legacy",
        "Create an export format (EXACT's form)",
        In::Object,
        Out::Made,
    ));
    ops.push(op(
        "post",
        "/annotations/export/{id}/edit/",
        "legacy",
        "Change the given fields of an export format (EXACT's form)",
        In::Object,
        Out::One,
    ));
    ops.push(op(
        "post",
        "/annotations/export/{id}/delete/",
        "legacy",
        "Delete an export format, restorable (EXACT's form)",
        In::None,
        Out::Gone,
    ));
    ops.push(op(
        "get",
        "/annotations/export/{id}/download/",
        "legacy",
        "A kept export's text (attachment)",
        In::None,
        Out::Media(&["text/plain"]),
    ));
    ops.push(q(
        op(
            "get",
            "/api/v1/processing/agreement/",
            "processing",
            "Agreement statistics: precision, recall, F1 and Cohen's kappa of each annotator \
             and model against the humans or the `reference` user (a username or id), boxes and \
             polygons matched by IoU ≥ `iou` (0.5), points by centre distance (`distance`, \
             default half the type's default width); over `image` or the whole `image_set`",
            In::None,
            Out::One,
        ),
        &["image_set", "image", "reference", "iou", "distance"],
    ));
    for (path, summary) in [
        (
            "/api/v1/processing/set_jobs/cancel/",
            "Cancel the queued and running plugin jobs on the images of `image_set` (of `plugin`)",
        ),
        (
            "/api/v1/processing/set_jobs/resume/",
            "Queue the cancelled and failed plugin jobs on the images of `image_set` (of `plugin`) again",
        ),
    ] {
        ops.push(q(
            op("post", path, "processing", summary, In::Object, Out::List),
            &["image_set", "plugin"],
        ));
    }
}
