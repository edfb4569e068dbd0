//! Plugin jobs: create (one image, a region, or every image of a set), EXACT's form
//! endpoint, progress updates, cancel, resume, delete, and the set-wide cancel/resume.

use super::*;

pub(super) fn render_job(j: &PluginJob) -> Value {
    json(j)
}

// ---- jobs ----

/// `region` as `[x, y, w, h]` or as the four fields `x`, `y`, `width`, `height`.
pub(super) fn region(o: &Obj) -> ApiResult<Option<[u64; 4]>> {
    if let Some(ids) = o.ids("region")? {
        return match ids.as_slice() {
            [x, y, w, h] => Ok(Some([*x, *y, *w, *h])),
            _ => Err(ApiError::bad("region", "expected [x, y, width, height]")),
        };
    }
    match (o.u64("x")?, o.u64("y")?, o.u64("width")?, o.u64("height")?) {
        (None, None, None, None) => Ok(None),
        (Some(x), Some(y), Some(w), Some(h)) => Ok(Some([x, y, w, h])),
        _ => Err(ApiError::bad(
            "region",
            "give all of x, y, width and height, or none",
        )),
    }
}

pub(super) async fn jobs(r: Req) -> ApiResult<Json<Value>> {
    r.list(&[], |r| {
        Ok(r.exact
            .catalog()
            .processing()
            .jobs(&r.actor)?
            .iter()
            .map(render_job)
            .collect())
    })
    .await
}

pub(super) async fn job(r: Req, Id(id): Id) -> ApiResult<Json<Value>> {
    r.one(move |r| {
        Ok(render_job(
            &r.exact
                .catalog()
                .processing()
                .job(&r.actor, PluginJobId(id))?,
        ))
    })
    .await
}

/// `POST pluginjobs/`: `{plugin, image, region?, prompts?}` → the job; `{plugin, image_set}` → a job
/// on every image of the set (a list, all or none).
pub(super) async fn create_job(r: Req, body: Body) -> ApiResult<(StatusCode, Json<Value>)> {
    let o = body.object()?;
    let out = r
        .created(move |r| {
            let plugin = PluginId(o.req_u64("plugin")?);
            if let Some(set) = o.u64("image_set")? {
                if o.raw("image").is_some()
                    || o.raw("region").is_some()
                    || o.raw("prompts").is_some()
                {
                    return Err(ApiError::bad(
                        "image_set",
                        "give image (and region, prompts) or image_set, not both",
                    ));
                }
                let jobs = r.exact.catalog().processing().create_set_jobs(
                    &r.actor,
                    plugin,
                    exact_core::ImageSetId(set),
                )?;
                return Ok(Value::Array(jobs.iter().map(render_job).collect()));
            }
            let image = ImageId(o.req_u64("image")?);
            let job = r.exact.catalog().processing().create_job_with(
                &r.actor,
                plugin,
                image,
                region(&o)?,
                o.raw("prompts"),
            )?;
            Ok(render_job(&job))
        })
        .await;
    crate::models::wake();
    out
}

/// EXACT's form endpoint: `image_id`, `plugin_id` → 201 with the job.
pub(super) async fn legacy_create_job(r: Req, body: Body) -> ApiResult<(StatusCode, Json<Value>)> {
    let o = body.object()?;
    r.created(move |r| {
        let plugin = PluginId(o.req_u64("plugin_id")?);
        let image = ImageId(o.req_u64("image_id")?);
        let job = r
            .exact
            .catalog()
            .processing()
            .create_job(&r.actor, plugin, image, None)?;
        Ok(render_job(&job))
    })
    .await
}

pub(super) async fn update_job(r: Req, Id(id): Id, body: Body) -> ApiResult<Json<Value>> {
    let o = body.object()?;
    r.one(move |r| {
        Ok(render_job(&r.exact.catalog().processing().update_job(
            &r.actor,
            PluginJobId(id),
            &o,
        )?))
    })
    .await
}

pub(super) async fn cancel_job(r: Req, Id(id): Id) -> ApiResult<Json<Value>> {
    r.one(move |r| {
        Ok(render_job(
            &r.exact
                .catalog()
                .processing()
                .cancel_job(&r.actor, PluginJobId(id))?,
        ))
    })
    .await
}

pub(super) async fn resume_job(r: Req, Id(id): Id) -> ApiResult<Json<Value>> {
    let j = r
        .one(move |r| {
            Ok(render_job(
                &r.exact
                    .catalog()
                    .processing()
                    .resume_job(&r.actor, PluginJobId(id))?,
            ))
        })
        .await?;
    crate::models::wake();
    Ok(j)
}

pub(super) async fn delete_job(r: Req, Id(id): Id) -> ApiResult<StatusCode> {
    r.gone(move |r| {
        Ok(r.exact
            .catalog()
            .processing()
            .delete_job(&r.actor, PluginJobId(id))?)
    })
    .await
}

// ---- jobs of a whole set ----

pub(super) async fn set_jobs(r: Req, body: Body, cancel: bool) -> ApiResult<Json<Value>> {
    let mut o = query_obj(&r);
    if let Value::Object(m) = body.0 {
        o.0.extend(m);
    }
    let out = crate::blocking(move || {
        let set = o
            .u64("image_set")?
            .ok_or_else(|| ApiError::bad("image_set", "required: the image set"))?;
        let jobs = r.exact.catalog().processing().set_jobs_state(
            &r.actor,
            exact_core::ImageSetId(set),
            o.u64("plugin")?.map(PluginId),
            cancel,
        )?;
        Ok(Json(Value::Array(jobs.iter().map(render_job).collect())))
    })
    .await;
    if !cancel {
        crate::models::wake();
    }
    out
}

/// `POST processing/set_jobs/cancel/?image_set=[&plugin=]`: cancels the set's queued and
/// running jobs; answers the jobs cancelled.
pub(super) async fn set_jobs_cancel(r: Req, body: Body) -> ApiResult<Json<Value>> {
    set_jobs(r, body, true).await
}

/// `POST processing/set_jobs/resume/?image_set=[&plugin=]`: queues the set's cancelled and
/// failed jobs again (each resumes after its done tiles); answers the jobs queued.
pub(super) async fn set_jobs_resume(r: Req, body: Body) -> ApiResult<Json<Value>> {
    set_jobs(r, body, false).await
}
