//! The processing routes (EXACT's processing app as EXACT-Sync calls it, exact-rs's job
//! actions, the review of model proposals, the trash of deleted processing records).

use super::{In, LIST, Op, Out, op, q, resource};

const TAG: &str = "processing";
const FILES: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/svg+xml",
    "image/tiff",
    "application/octet-stream",
];

pub(super) fn processing(ops: &mut Vec<Op>) {
    for (coll, item) in [
        (
            "/api/v1/processing/plugins/",
            "/api/v1/processing/plugins/{id}/",
        ),
        (
            "/api/v1/processing/pluginjobs/",
            "/api/v1/processing/pluginjobs/{id}/",
        ),
        (
            "/api/v1/processing/pluginresults/",
            "/api/v1/processing/pluginresults/{id}/",
        ),
        (
            "/api/v1/processing/pluginresultentrys/",
            "/api/v1/processing/pluginresultentrys/{id}/",
        ),
        (
            "/api/v1/processing/pluginresultannotations/",
            "/api/v1/processing/pluginresultannotations/{id}/",
        ),
        (
            "/api/v1/processing/pluginresultbitmaps/",
            "/api/v1/processing/pluginresultbitmaps/{id}/",
        ),
    ] {
        resource(ops, coll, item, TAG, true, true, true);
    }
    ops.push(op(
        "get",
        "/api/v1/processing/plugins/{id}/icon/",
        TAG,
        "A plugin's icon as uploaded",
        In::None,
        Out::Media(FILES),
    ));
    ops.push(op(
        "get",
        "/api/v1/processing/pluginresultbitmaps/{id}/bitmap/",
        TAG,
        "A result bitmap's file as uploaded",
        In::None,
        Out::Media(FILES),
    ));
    ops.push(op(
        "get",
        "/api/v1/processing/pluginresultbitmaps/{id}/overlay.dzi",
        TAG,
        "A result bitmap as a Deep Zoom overlay over its slide (level-0 size, 256-pixel PNG tiles)",
        In::None,
        Out::Media(&["application/xml"]),
    ));
    ops.push(op(
        "get",
        "/api/v1/processing/pluginresultbitmaps/{id}/overlay_files/{level}/{tile}",
        TAG,
        "An overlay tile `<col>_<row>.png`: the bitmap where it lies on the slide (placement, \
         channels, scale, threshold, alpha), transparent elsewhere",
        In::None,
        Out::Media(&["image/png"]),
    ));
    ops.push(q(
        op(
            "get",
            "/api/v1/processing/model_tile/",
            TAG,
            "A region of one image for a model that fetches its pixels itself: authenticated \
             only by the job's short-lived image read token (Bearer or `token`)",
            In::None,
            Out::Media(&["image/png", "image/jpeg"]),
        ),
        &["token", "x", "y", "level", "w", "h", "format"],
    ));
    ops.push(op(
        "post",
        "/api/v1/processing/pluginjobs/{id}/cancel/",
        TAG,
        "Stop a queued or running job (what it did stays)",
        In::None,
        Out::One,
    ));
    ops.push(op(
        "post",
        "/api/v1/processing/pluginjobs/{id}/resume/",
        TAG,
        "Queue a cancelled or failed job again (it skips the tiles done)",
        In::None,
        Out::One,
    ));
    ops.push(op(
        "post",
        "/processing/api/plugin_job/create/",
        "legacy",
        "Start a plugin job (EXACT's form: image_id, plugin_id)",
        In::Object,
        Out::Made,
    ));
    for (path, what) in [
        ("/api/v1/processing/plugins/{id}/restore/", "plugin"),
        ("/api/v1/processing/pluginresults/{id}/restore/", "result"),
        (
            "/api/v1/processing/pluginresultentrys/{id}/restore/",
            "result entry",
        ),
        (
            "/api/v1/processing/pluginresultannotations/{id}/restore/",
            "result annotation",
        ),
        (
            "/api/v1/processing/pluginresultbitmaps/{id}/restore/",
            "result bitmap",
        ),
    ] {
        let summary: &'static str = match what {
            "plugin" => "Restore a deleted plugin with its jobs and results",
            "result" => "Restore a deleted result with its entries",
            "result entry" => "Restore a deleted result entry with its annotations and bitmaps",
            "result annotation" => "Restore a deleted result annotation",
            _ => "Restore a deleted result bitmap",
        };
        ops.push(op("post", path, TAG, summary, In::None, Out::One));
    }
    ops.push(q(
        op(
            "get",
            "/api/v1/processing/trash/",
            TAG,
            "Deleted processing records the requester could restore, newest first",
            In::None,
            Out::Page,
        ),
        LIST,
    ));
    ops.push(q(
        op(
            "get",
            "/api/v1/processing/review/",
            TAG,
            "Model proposals on `image` or `image_set`, lowest score first (paged)",
            In::None,
            Out::Page,
        ),
        &[
            "image",
            "image_set",
            "annotation_type",
            "min_score",
            "max_score",
            "limit",
            "offset",
        ],
    ));
    for (path, summary) in [
        (
            "/api/v1/processing/review/accept/",
            "Accept the selected proposals (they become normal annotations), atomically",
        ),
        (
            "/api/v1/processing/review/reject/",
            "Reject the selected proposals (soft-deleted, restorable), atomically",
        ),
    ] {
        ops.push(q(
            op("post", path, TAG, summary, In::Object, Out::One),
            &[
                "image",
                "image_set",
                "annotation_type",
                "min_score",
                "max_score",
                "ids",
            ],
        ));
    }
}
