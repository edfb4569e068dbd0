//! Annotation overview tiles (see [`crate::overview`]): `…/<id>/annotation_tiles.dzi` (the
//! geometry of `native.dzi`), `…/<id>/annotation_tiles_files/<level>/<col>_<row>.png` and
//! `…/<id>/annotation_tiles/generation`. Tiles change with the image's annotations, so they are
//! revalidated (`private, no-cache`) against an ETag of (image, generation, types, the
//! requester's visibility class, type colours, tile). A tile URL that names the current
//! generation (`v=`) and the requester's key (`k=`, from `…/generation`: a hash of the user,
//! the class and the colours) fixes everything the ETag does, so it is cached `immutable`:
//! a warm open of a crowded view then costs no request per overview tile.
//!
//! `frame=N` draws the annotations of one plane of a stack (those on frame N and those on no
//! frame, as EXACT shows them); without it, every annotation of the image. Rendered tiles are
//! kept in a byte-bounded LRU ([`crate::overview::TileCache`]) under a key naming everything
//! they depend on, looked up after the permission check: another browser or a reload of the
//! same view gets them without drawing.

use super::{Req, blocking};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::overview::draw::{Canvas, parse_color};
use crate::overview::{Class, DIRECT_MAX, Raster, RasterSlot, draw_annotation, on_frame};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use exact_core::catalog::AnnotationQuery;
use exact_core::model::{CollaborationType, Image, ImageSet, VectorType};
use exact_core::permissions::Actor;
use exact_core::{AnnotationTypeId, BBox, ImageId};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

/// The header carrying the annotation generation.
pub const GENERATION_HEADER: &str = "x-annotation-generation";
/// How long the browser keeps a tile whose URL names the current generation and key.
const VERSIONED: &str = "private, max-age=604800, immutable";
/// Raster builds retried when writes keep landing during them.
const BUILD_TRIES: usize = 3;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/images/images/{id}/annotation_tiles.dzi",
            get(overview_dzi),
        )
        .route(
            "/api/v1/images/images/{id}/annotation_tiles/generation",
            get(generation),
        )
        .route(
            "/api/v1/images/images/{id}/annotation_tiles_files/{level}/{tile}",
            get(overview_tile),
        )
}

/// What a request may see of one image.
struct Ctx {
    image: Image,
    class: Class,
    colors: HashMap<AnnotationTypeId, [u8; 3]>,
    kinds: HashMap<AnnotationTypeId, VectorType>,
    types: Vec<exact_core::model::AnnotationType>,
    /// The plane drawn (`frame=`), or every annotation.
    frame: Option<u32>,
}

fn parse_id(raw: &str) -> ApiResult<ImageId> {
    raw.parse()
        .map(ImageId)
        .map_err(|_| ApiError::Core(exact_core::Error::not_found(format!("image {raw:?}"))))
}

async fn context(r: &Req, id: ImageId) -> ApiResult<Ctx> {
    let frame = parse_frame(r)?;
    let (e, actor) = (r.exact.clone(), r.actor.clone());
    blocking(move || {
        let image = e.images().get(&actor, id)?;
        let set = e.image_sets().get(&actor, image.image_set)?;
        let types = e.annotation_types().of_set(&actor, set.id)?;
        if let Some(f) = frame
            && f > image.frames.max(image.depth).max(1)
        {
            return Err(ApiError::bad(
                "frame",
                format!(
                    "frame {f} is past the image's planes ({} frames, {} z levels)",
                    image.frames, image.depth
                ),
            ));
        }
        Ok(ctx_of(&actor, image, &set, types, frame))
    })
    .await
}

/// What `actor` may see of `image` (read through the use cases by the caller).
fn ctx_of(
    actor: &Actor,
    image: Image,
    set: &ImageSet,
    types: Vec<exact_core::model::AnnotationType>,
    frame: Option<u32>,
) -> Ctx {
    let rights = actor.rights(set);
    let class = match set.collaboration_type {
        CollaborationType::Competitive if !rights.see_all => Class::Own(actor.user),
        _ => Class::All,
    };
    Ctx {
        image,
        class,
        colors: types
            .iter()
            .map(|t| (t.id, parse_color(&t.color_code)))
            .collect(),
        kinds: types.iter().map(|t| (t.id, t.vector_type)).collect(),
        types,
        frame,
    }
}

/// The overview tiles' version for the viewer's bootstrap (as `…/annotation_tiles/generation`
/// answers), of an image, set and types the caller read for `r`.
pub(super) fn overview_version(
    s: &AppState,
    r: &Req,
    image: &Image,
    set: &ImageSet,
    types: &[exact_core::model::AnnotationType],
) -> serde_json::Value {
    let ctx = ctx_of(&r.actor, image.clone(), set, types.to_vec(), None);
    json!({
        "image": image.id.0,
        "generation": s.live.generation(image.id),
        "key": key(r, &ctx),
    })
}

/// Gets the overview raster of a single-plane image ready in the background (as its `.dzi`
/// does), for the viewer's bootstrap.
pub(super) async fn prepare_overview(
    s: &AppState,
    r: &Req,
    image: Image,
    set: &ImageSet,
    types: Vec<exact_core::model::AnnotationType>,
) {
    if image.frames.max(image.depth) > 1 {
        return;
    }
    let ctx = ctx_of(&r.actor, image, set, types, None);
    let slot = s.overviews.slot((ctx.image.id, ctx.class, ctx.frame));
    if slot.with(|_| ()).is_some() {
        return;
    }
    let (st, who) = (
        s.clone(),
        Who {
            exact: r.exact.clone(),
            actor: r.actor.clone(),
        },
    );
    tokio::spawn(async move {
        let dims = match st.pixels.deepzoom(&ctx.image, None).await {
            Ok(g) => g.geometry().level_dimensions().last().copied(),
            Err(_) => None,
        };
        if let Some(dims) = dims
            && let Err(e) = raster(&st, &who, &ctx, dims).await
        {
            tracing::warn!(error = %e, "building an annotation overview failed");
        }
    });
}

/// `frame=N` (1-based), if given.
fn parse_frame(r: &Req) -> ApiResult<Option<u32>> {
    let Some(raw) = r.q.get("frame") else {
        return Ok(None);
    };
    match raw.trim().parse::<u32>() {
        Ok(f) if f >= 1 => Ok(Some(f)),
        _ => Err(ApiError::bad(
            "frame",
            format!("{raw:?} is not a frame number (1, 2, …)"),
        )),
    }
}

async fn overview_dzi(
    State(s): State<AppState>,
    Path(id): Path<String>,
    r: Req,
) -> ApiResult<Response> {
    let ctx = context(&r, parse_id(&id)?).await?;
    let g = s.pixels.deepzoom(&ctx.image, None).await?;
    let generation = s.live.generation(ctx.image.id);
    let dzi = g.geometry().dzi("png");
    // The viewer asks for tiles next: get the overview raster ready now (read back from the
    // stored summary, or built by streaming a million annotations), unless it is ready.
    let dims = g.geometry().level_dimensions().last().copied();
    if let Some(dims) = dims {
        let slot = s.overviews.slot((ctx.image.id, ctx.class, ctx.frame));
        let who = Who {
            exact: r.exact.clone(),
            actor: r.actor.clone(),
        };
        if slot.with(|_| ()).is_none() {
            let st = s.clone();
            tokio::spawn(async move {
                if let Err(e) = raster(&st, &who, &ctx, dims).await {
                    tracing::warn!(error = %e, "building an annotation overview failed");
                }
            });
        } else {
            refresh(&s, &who, &Build::of(&ctx, dims), &slot, true).await;
        }
    }
    Ok((
        [
            (header::CONTENT_TYPE, "application/xml".to_owned()),
            (header::CACHE_CONTROL, "private, no-cache".to_owned()),
            (
                header::HeaderName::from_static(GENERATION_HEADER),
                generation.to_string(),
            ),
        ],
        dzi,
    )
        .into_response())
}

async fn generation(
    State(s): State<AppState>,
    Path(id): Path<String>,
    r: Req,
) -> ApiResult<Response> {
    let ctx = context(&r, parse_id(&id)?).await?;
    let generation = s.live.generation(ctx.image.id);
    Ok((
        [(header::CACHE_CONTROL, "private, no-cache")],
        axum::Json(
            json!({"image": ctx.image.id.0, "generation": generation, "key": key(&r, &ctx)}),
        ),
    )
        .into_response())
}

/// `types=1,2,3`: `None` for all types.
fn parse_types(r: &Req) -> ApiResult<Option<Vec<AnnotationTypeId>>> {
    let Some(raw) = r.q.get("types") else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let id = part.parse().map_err(|_| {
            ApiError::bad(
                "types",
                format!("{part:?} is not an annotation type id (expected e.g. types=1,2)"),
            )
        })?;
        out.push(AnnotationTypeId(id));
        if out.len() > 1000 {
            return Err(ApiError::bad("types", "at most 1000 type ids"));
        }
    }
    out.sort();
    out.dedup();
    Ok(Some(out))
}

/// `<col>_<row>.png`.
fn parse_tile(level: &str, tile: &str) -> ApiResult<(usize, u32, u32)> {
    let bad = || {
        ApiError::bad(
            "tile",
            format!("{level}/{tile} is not <level>/<col>_<row>.png"),
        )
    };
    let level: usize = level.parse().map_err(|_| bad())?;
    let stem = tile.strip_suffix(".png").ok_or_else(bad)?;
    let (col, row) = stem.split_once('_').ok_or_else(bad)?;
    Ok((
        level,
        col.parse().map_err(|_| bad())?,
        row.parse().map_err(|_| bad())?,
    ))
}

/// What a tile depends on besides its image, generation, types and place: the requester (a
/// shared browser cache never serves one user's tiles to another), their visibility class and
/// the types' colours.
fn key(r: &Req, ctx: &Ctx) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    r.actor.user.0.hash(&mut h);
    ctx.class.tag().hash(&mut h);
    let mut colors: Vec<_> = ctx.colors.iter().collect();
    colors.sort();
    colors.hash(&mut h);
    format!("{:016x}", h.finish())
}

fn etag(
    ctx: &Ctx,
    generation: u64,
    types: Option<&[AnnotationTypeId]>,
    tile: (usize, u32, u32),
    (epoch, stale): (u64, bool),
) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    types.hash(&mut h);
    let mut colors: Vec<_> = ctx.colors.iter().collect();
    colors.sort();
    colors.hash(&mut h);
    format!(
        "\"ov-{}-{generation}-{}{}-{:016x}-{}-{}-{}-e{epoch}{}\"",
        ctx.image.id.0,
        ctx.class.tag(),
        ctx.frame.map(|f| format!("f{f}")).unwrap_or_default(),
        h.finish(),
        tile.0,
        tile.1,
        tile.2,
        if stale { "s" } else { "" }
    )
}

async fn overview_tile(
    State(s): State<AppState>,
    Path((id, level, tile)): Path<(String, String, String)>,
    headers: HeaderMap,
    r: Req,
) -> ApiResult<Response> {
    let id = parse_id(&id)?;
    let (level, col, row) = parse_tile(&level, &tile)?;
    let types = parse_types(&r)?;
    let ctx = context(&r, id).await?;
    let g = s.pixels.deepzoom(&ctx.image, None).await?;
    let geo = g.geometry();
    let Some(&(cols, rows)) = geo.level_tiles().get(level) else {
        return Err(ApiError::Core(exact_core::Error::not_found(format!(
            "Deep Zoom level {level} (levels are 0..{})",
            geo.level_count()
        ))));
    };
    if col >= cols || row >= rows {
        return Err(ApiError::Core(exact_core::Error::not_found(format!(
            "tile {col}_{row} of level {level} (it has {cols} × {rows} tiles)"
        ))));
    }
    let info = geo
        .tile_info(level, col, row)
        .map_err(|e| ApiError::Core(exact_core::Error::not_found(e.to_string())))?;
    let (w0, h0) = geo
        .level_dimensions()
        .last()
        .copied()
        .unwrap_or((ctx.image.width, ctx.image.height));
    let who = Who {
        exact: r.exact.clone(),
        actor: r.actor.clone(),
    };
    let generation = s.live.generation(id);
    let slot = raster(&s, &who, &ctx, (w0, h0)).await?;
    refresh(&s, &who, &Build::of(&ctx, (w0, h0)), &slot, false).await;
    // A raster that may miss writes (read from an older summary, being rebuilt) draws tiles
    // that are never cached for good, and named by the raster's epoch.
    let stale = slot.with(Raster::is_stale).unwrap_or(true);
    let tag = etag(
        &ctx,
        generation,
        types.as_deref(),
        (level, col, row),
        (slot.epoch(), stale),
    );
    let versioned = !stale
        && r.q.get("v").is_some_and(|v| *v == generation.to_string())
        && r.q.get("k").is_some_and(|k| *k == key(&r, &ctx));
    let cache = [
        (header::ETAG, HeaderValue::from_str(&tag).ok()),
        (
            header::CACHE_CONTROL,
            Some(HeaderValue::from_static(if versioned {
                VERSIONED
            } else {
                "private, no-cache"
            })),
        ),
        (
            header::HeaderName::from_static(GENERATION_HEADER),
            HeaderValue::from_str(&generation.to_string()).ok(),
        ),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k, v)))
    .collect::<Vec<_>>();
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"))
    {
        let mut res = StatusCode::NOT_MODIFIED.into_response();
        res.headers_mut().extend(cache);
        return Ok(res);
    }
    // Level-0 pixels per tile pixel: the levels halve from the full-resolution last one.
    let d = 2f64.powi((geo.level_count() - 1 - level) as i32);
    let (l0x, l0y) = (info.l0_location.0 as f64, info.l0_location.1 as f64);
    let area = BBox::new(
        l0x,
        l0y,
        l0x + f64::from(info.z_size.0) * d,
        l0y + f64::from(info.z_size.1) * d,
    );
    // The ETag names image, generation, class, plane, types, colours and tile; the drawing
    // also depends on the types' shapes and the slide's geometry.
    let cache_key = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        let mut kinds: Vec<_> = ctx.kinds.iter().map(|(t, k)| (t.0, k.code())).collect();
        kinds.sort_unstable();
        kinds.hash(&mut h);
        format!("{tag}/{w0}x{h0}/{:016x}", h.finish())
    };
    if let Some(png) = s.overviews.tiles.get(&cache_key) {
        let mut res = ([(header::CONTENT_TYPE, "image/png")], png).into_response();
        res.headers_mut().extend(cache);
        return Ok(res);
    }
    let estimate = slot
        .with(|ra| ra.estimate(&area, types.as_deref()))
        .unwrap_or(u64::MAX);
    let (w, h) = info.z_size;
    let (exact, actor) = (r.exact.clone(), r.actor.clone());
    let png = exact_tiles::cpu::run(move || -> ApiResult<Vec<u8>> {
        let mut canvas = Canvas::new(w, h);
        if estimate <= DIRECT_MAX {
            draw_direct(&exact, &actor, &ctx, &area, d, types, &mut canvas)?;
        } else {
            slot.with(|ra| ra.draw(&mut canvas, &area, 1.0 / d, &ctx.colors, types.as_deref()));
        }
        canvas.img.encode_png().map_err(|e| {
            ApiError::Core(exact_core::Error::backend(
                "png encoder",
                std::io::Error::other(e.to_string()),
            ))
        })
    })
    .await?;
    let png = bytes::Bytes::from(png);
    s.overviews.tiles.put(cache_key, png.clone());
    let mut res = ([(header::CONTENT_TYPE, "image/png")], png).into_response();
    res.headers_mut().extend(cache);
    Ok(res)
}

/// Draws every visible annotation meeting `area` exactly, from a viewport query.
fn draw_direct(
    exact: &exact_store::Exact,
    actor: &Actor,
    ctx: &Ctx,
    area: &BBox,
    d: f64,
    types: Option<Vec<AnnotationTypeId>>,
    canvas: &mut Canvas,
) -> ApiResult<()> {
    // A little margin: outlines on the tile's edge belong to both tiles.
    let m = d;
    let q = AnnotationQuery {
        viewport: Some(BBox::new(
            area.min_x - m,
            area.min_y - m,
            area.max_x + m,
            area.max_y + m,
        )),
        annotation_types: types,
        ..Default::default()
    };
    exact
        .annotations()
        .query_each(actor, ctx.image.id, &q, |a| {
            if !on_frame(&a, ctx.frame) {
                return;
            }
            let rgb = ctx
                .colors
                .get(&a.annotation_type)
                .copied()
                .unwrap_or([128, 128, 128]);
            let kind = ctx.kinds.get(&a.annotation_type).copied();
            draw_annotation(canvas, &a, kind, area, 1.0 / d, rgb);
        })?;
    Ok(())
}

/// Who asks (what a raster build needs of the request).
#[derive(Clone)]
struct Who {
    exact: exact_store::Exact,
    actor: Actor,
}

/// What a raster is built of.
#[derive(Clone)]
struct Build {
    image: ImageId,
    class: Class,
    frame: Option<u32>,
    types: Vec<exact_core::model::AnnotationType>,
    dims: (u64, u64),
}

impl Build {
    fn of(ctx: &Ctx, dims: (u64, u64)) -> Build {
        Build {
            image: ctx.image.id,
            class: ctx.class,
            frame: ctx.frame,
            types: ctx.types.clone(),
            dims,
        }
    }
}

/// How long this process's writes to an image stay quiet before its stored summary is
/// rebuilt by a scan (a rebuild streams every annotation: not after each save).
const SETTLE: std::time::Duration = std::time::Duration::from_secs(30);

/// The built raster of the request's (image, class), building it if needed: read back from
/// the stored summary when there is one (stale if the image was written since: drawn at
/// once and rebuilt in the background), else by a scan.
async fn raster(s: &AppState, r: &Who, ctx: &Ctx, dims: (u64, u64)) -> ApiResult<Arc<RasterSlot>> {
    let image = ctx.image.id;
    let slot = s.overviews.slot((image, ctx.class, ctx.frame));
    if slot.with(|_| ()).is_some() {
        return Ok(slot);
    }
    let gate = slot.clone();
    let _one = gate.building().lock().await;
    if slot.with(|_| ()).is_some() {
        return Ok(slot);
    }
    let b = Build::of(ctx, dims);
    if ctx.class == Class::All {
        let before = s.live.generation(image);
        let (e, actor, b2) = (r.exact.clone(), r.actor.clone(), b.clone());
        let read = blocking(move || {
            let (summary, now) = e.catalog().overview_summary(&actor, image, b2.frame)?;
            Ok(summary.and_then(|sm| {
                match Raster::decode(&sm.bytes, b2.dims.0, b2.dims.1, &b2.types) {
                    Ok(mut raster) => {
                        if now != Some(sm.stamp) {
                            raster.mark_stale();
                        }
                        Some((raster, sm.stamp))
                    }
                    Err(why) => {
                        tracing::warn!(image = image.0, %why, "an overview summary is unreadable; rebuilding it");
                        None
                    }
                }
            }))
        })
        .await;
        match read {
            Ok(Some((raster, stamp))) => {
                let stale = raster.is_stale();
                let live = s.live.clone();
                if slot.store(raster, before, || live.generation(image), stamp) {
                    s.overviews.trim();
                    if stale {
                        spawn_rebuild(s, r, &b, &slot);
                    }
                    return Ok(slot);
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "reading an overview summary failed"),
        }
    }
    let _permit = s.overviews.builds.acquire().await.map_err(|_| {
        ApiError::Core(exact_core::Error::backend(
            "overview",
            std::io::Error::other("the raster builder is shut down"),
        ))
    })?;
    scan(s, r, &b, &slot).await?;
    Ok(slot)
}

/// Starts a background rebuild of `slot` by a scan (one at a time per slot); the current
/// raster is drawn meanwhile.
fn spawn_rebuild(s: &AppState, r: &Who, b: &Build, slot: &Arc<RasterSlot>) {
    use std::sync::atomic::Ordering;
    if slot
        .rebuilding
        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return;
    }
    let (s, r, b, slot) = (s.clone(), r.clone(), b.clone(), slot.clone());
    tokio::spawn(async move {
        let done = async {
            let _one = slot.building().lock().await;
            let _permit = s.overviews.builds.acquire().await.map_err(|_| {
                ApiError::Core(exact_core::Error::backend(
                    "overview",
                    std::io::Error::other("the raster builder is shut down"),
                ))
            })?;
            scan(&s, &r, &b, &slot).await
        }
        .await;
        slot.rebuilding.store(false, Ordering::Release);
        if let Err(e) = done {
            tracing::warn!(error = %e, "rebuilding an annotation overview failed");
        }
    });
}

/// Rebuilds `slot` in the background when its raster may miss writes, when this process's
/// writes have settled (so the stored summary follows them), or — `check_stamp`, once per
/// open — when another server sharing the store wrote to the image.
async fn refresh(s: &AppState, r: &Who, b: &Build, slot: &Arc<RasterSlot>, check_stamp: bool) {
    if slot.rebuilding.load(std::sync::atomic::Ordering::Acquire) || slot.with(|_| ()).is_none() {
        return;
    }
    // Only rasters of every annotation are stored: others follow writes in place.
    let mut needed = slot.with(Raster::is_stale).unwrap_or(false)
        || (b.class == Class::All && slot.settled_writes(SETTLE));
    if !needed && check_stamp && b.class == Class::All && !slot.has_writes() && slot.stamp() != 0 {
        let (e, actor, image) = (r.exact.clone(), r.actor.clone(), b.image);
        let now = blocking(move || Ok(e.catalog().overview_stamp(&actor, image)?)).await;
        if let Ok(Some(now)) = now
            && now != slot.stamp()
        {
            slot.mark_stale();
            needed = true;
        }
    }
    if needed {
        spawn_rebuild(s, r, b, slot);
    }
}

/// Builds the raster of `b` by streaming the image's annotations and stores it in `slot`;
/// for every annotation (class `All`), also stores its summary when no write landed during
/// the scan (the image's write stamp is the same before and after).
async fn scan(s: &AppState, r: &Who, b: &Build, slot: &Arc<RasterSlot>) -> ApiResult<()> {
    let image = b.image;
    for _ in 0..BUILD_TRIES {
        let before = s.live.generation(image);
        let (e, actor, b2) = (r.exact.clone(), r.actor.clone(), b.clone());
        let (built, summary) = blocking(move || {
            let stamped = b2.class == Class::All;
            let stamp0 = if stamped {
                e.catalog().overview_stamp(&actor, image)?
            } else {
                None
            };
            let mut raster = Raster::new(b2.dims.0, b2.dims.1, &b2.types);
            e.annotations()
                .query_each(&actor, image, &crate::overview::live(), |a| {
                    if b2.class.admits(&a) && on_frame(&a, b2.frame) {
                        raster.put(&a);
                    }
                })?;
            let stamp1 = if stamped {
                e.catalog().overview_stamp(&actor, image)?
            } else {
                None
            };
            let summary = stamp0
                .filter(|s0| Some(*s0) == stamp1)
                .map(|st| (st, raster.encode()));
            Ok((raster, summary))
        })
        .await?;
        let live = s.live.clone();
        let stamp = summary.as_ref().map_or(0, |x| x.0);
        if slot.store(built, before, || live.generation(image), stamp) {
            s.overviews.trim();
            if let Some((stamp, bytes)) = summary {
                let (e, actor, frame) = (r.exact.clone(), r.actor.clone(), b.frame);
                let stored = blocking(move || {
                    Ok(e.catalog()
                        .store_overview_summary(&actor, image, frame, stamp, &bytes)?)
                })
                .await;
                if let Err(e) = stored {
                    tracing::warn!(error = %e, "storing an overview summary failed");
                }
            }
            return Ok(());
        }
    }
    Err(ApiError::Core(exact_core::Error::Conflict {
        what: format!("the annotation overview of {image} (annotations kept changing)"),
    }))
}
