//! Deep Zoom over HTTP. EXACT's paths serve OpenSlide's grid (254 px, overlap 1, JPEG q90):
//! `/images/image/<id>/<z>/<frame>/tile/` (DZI) and `…/tile_files/<level>/<col>_<row>.jpeg`,
//! also under `/api/v1/images/images/<id>/`. The native grid, `…/<id>/native.dzi` with tiles
//! at `…/<id>/native_files/<level>/<col>_<row>.jpeg`, uses the slide's own tile size and no
//! overlap, so tiles of native levels are the stored JPEG bytes, never decoded.
//!
//! Permissions are checked on every request before any cache; tiles are immutable for an
//! image id (its pixels never change once ready), so they carry a strong ETag and a year of
//! private caching.

use super::blocking;
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::pixels::slide_error;
use crate::serve::ClientAddr;
use axum::Router;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use exact_core::ImageId;
use exact_core::model::Image;
use exact_tiles::{DeepZoomGenerator, DeepZoomOptions};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// EXACT's grid: OpenSlide's DeepZoomGenerator defaults, JPEG quality 90.
pub(super) const EXACT_GRID: DeepZoomOptions = DeepZoomOptions {
    tile_size: 254,
    overlap: 1,
    limit_bounds: false,
    quality: 90,
};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/images/image/{id}/{z}/{frame}/tile/", get(exact_dzi))
        .route(
            "/images/image/{id}/{z}/{frame}/tile_files/{level}/{tile}",
            get(exact_tile),
        )
        .route(
            "/api/v1/images/images/{id}/{z}/{frame}/tile/",
            get(exact_dzi),
        )
        .route(
            "/api/v1/images/images/{id}/{z}/{frame}/tile_files/{level}/{tile}",
            get(exact_tile),
        )
        .route("/api/v1/images/images/{id}/native.dzi", get(native_dzi))
        .route(
            "/api/v1/images/images/{id}/native_files/{level}/{tile}",
            get(native_tile),
        )
}

/// Which grid a request is for.
#[derive(Clone, Copy)]
enum Grid {
    Exact = 0,
    Native = 1,
}

impl Grid {
    fn opts(self) -> Option<DeepZoomOptions> {
        match self {
            Grid::Exact => Some(EXACT_GRID),
            Grid::Native => None,
        }
    }
    fn tag(self) -> &'static str {
        match self {
            Grid::Exact => "dz",
            Grid::Native => "n",
        }
    }
}

fn parse_id(raw: &str) -> ApiResult<ImageId> {
    raw.parse()
        .map(ImageId)
        .map_err(|_| ApiError::Core(exact_core::Error::not_found(format!("image {raw:?}"))))
}

/// Authenticates the request and loads the image, readable by the requester, with `z` and
/// `frame` (1-based) inside it. A viewer asks for dozens of tiles per second with the same
/// credential, so the tile path remembers a granted access (credential, image) for
/// [`crate::pixels::ACCESS_TTL`]: a permission change takes effect within that time. Refusals
/// are never remembered, and nothing is served without this check.
async fn readable(
    s: &AppState,
    headers: &HeaderMap,
    remote: Option<String>,
    client: Option<&crate::serve::ClientAddr>,
    id: ImageId,
    z: Option<&str>,
    frame: Option<&str>,
) -> ApiResult<Arc<Image>> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str())
        .transpose()
        .map_err(|_| ApiError::Unauthenticated("Authorization header is not ASCII.".into()))?;
    let (cookies, key) = grant_key(s, authorization, headers, remote.as_deref());
    let image = match granted(s, &key, id) {
        Some(image) => image,
        None => {
            let (st, header, jar) = (s.clone(), authorization.map(str::to_owned), cookies.clone());
            let client = client.map(|c| c.0);
            let image = Arc::new(
                blocking(move || {
                    let actor = match remote {
                        // A trusted proxy's Remote-User, as the API's extractor takes it.
                        Some(name) => crate::auth::remote_actor(&st.exact, &name)?,
                        None => st.auth.authenticate_request(
                            &st.exact,
                            header.as_deref(),
                            &jar,
                            false,
                            client,
                        )?,
                    };
                    Ok(st.exact.images().get(&actor, id)?)
                })
                .await?,
            );
            s.pixels.access.insert(&key, image.clone());
            image
        }
    };
    for (what, raw, max) in [("z", z, image.depth), ("frame", frame, image.frames)] {
        let Some(raw) = raw else { continue };
        let v: u32 = raw
            .parse()
            .map_err(|_| ApiError::bad(what, format!("{raw:?} is not a positive integer")))?;
        if v == 0 || v > max.max(1) {
            return Err(ApiError::Core(exact_core::Error::not_found(format!(
                "{what} {v} of image {} (it has {max}; planes count from 1)",
                id.0
            ))));
        }
    }
    Ok(image)
}

/// The user a trusted proxy names in this request's Remote-User header (`exact serve
/// --remote-user-proxy`), if it came from one; any other peer's header is ignored.
fn remote_claim(s: &AppState, req: &axum::extract::Request) -> Option<String> {
    s.remote_user
        .as_ref()?
        .claimed_by(req.headers(), req.extensions())
}

/// The credential's grant key: an HMAC of the `Authorization` header ("Basic …", "Token …")
/// or, without one, of the session cookie's secret (cookies are parsed only then), never the
/// credential itself; for a trusted proxy's Remote-User (`remote`, which the API also puts
/// before any other credential), of the name under a prefix no header value can carry (a
/// NUL byte). The cookies come back for the full check.
fn grant_key(
    s: &AppState,
    authorization: Option<&str>,
    headers: &HeaderMap,
    remote: Option<&str>,
) -> (crate::auth::Cookies, [u8; 32]) {
    if let Some(name) = remote {
        let key = s.auth.grant_key(&format!("\0remote-user\0{name}"));
        return (crate::auth::Cookies::default(), key);
    }
    let cookies = match authorization {
        Some(_) => crate::auth::Cookies::default(),
        None => crate::auth::Cookies::from_headers(headers),
    };
    let credential = authorization
        .or_else(|| cookies.get(crate::auth::SESSION_COOKIE))
        .unwrap_or_default();
    let key = s.auth.grant_key(credential);
    (cookies, key)
}

/// The image if the credential behind `key` was granted it within
/// [`crate::pixels::ACCESS_TTL`] and its session has not ended since (a logout stops its
/// grants at once). A grant made while the image was converting is not reused: its pixels
/// may be ready now.
fn granted(s: &AppState, key: &[u8; 32], id: ImageId) -> Option<Arc<Image>> {
    if s.auth.ended(key) {
        return None;
    }
    s.pixels
        .access
        .get(key, id)
        .filter(|i| i.state == exact_core::model::PixelState::Ready)
}

/// The routes the fast path answers, as [`axum::extract::MatchedPath`] names them (request
/// metrics count a tile the same whichever way it was answered).
const NATIVE_ROUTE: &str = "/api/v1/images/images/{id}/native_files/{level}/{tile}";
const EXACT_ROUTE: &str = "/images/image/{id}/{z}/{frame}/tile_files/{level}/{tile}";
const EXACT_API_ROUTE: &str = "/api/v1/images/images/{id}/{z}/{frame}/tile_files/{level}/{tile}";

/// The tile GETs a viewer sends dozens of per second, answered before routing and the
/// middleware when everything they need is in memory: the credential's grant for the image
/// (the same grant, bound and logout rule as [`readable`]'s) and the tile's bytes (kept only
/// after such a check). Anything else — no grant, a tile not kept, an odd path, another
/// method — goes through the router, which checks the credential in full; so this path never
/// answers 4xx/5xx and never decides a refusal. Returns the response and the matched route.
pub(crate) fn fast_tile(
    s: &AppState,
    req: &axum::extract::Request,
) -> Option<(Response, &'static str)> {
    if req.method() != axum::http::Method::GET {
        return None;
    }
    // A query names a plane (`?z=&frame=`): its tiles are kept under that plane's file version,
    // which the router works out (the key below is plane 1's).
    if req.uri().query().is_some() {
        return None;
    }
    let path = req.uri().path();
    let (route, rest) = if let Some(rest) = path.strip_prefix("/api/v1/images/images/") {
        (None, rest)
    } else {
        (Some(EXACT_ROUTE), path.strip_prefix("/images/image/")?)
    };
    let mut parts = rest.split('/');
    let id = parts.next()?;
    let (grid, route) = match (route, parts.next()?) {
        (None, "native_files") => (Grid::Native, NATIVE_ROUTE),
        (r, z) => {
            // Plane 1 only (others are 404s, the router's to say).
            let frame = parts.next()?;
            if z != "1" || frame != "1" || parts.next()? != "tile_files" {
                return None;
            }
            (Grid::Exact, r.unwrap_or(EXACT_API_ROUTE))
        }
    };
    let (level, tile) = (parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let id = ImageId(id.parse().ok()?);
    let (level, col, row, format) = parse_tile(level, tile).ok()?;
    if format != Format::Jpeg {
        return None;
    }
    let headers = req.headers();
    let authorization = match headers.get(header::AUTHORIZATION) {
        Some(v) => Some(v.to_str().ok()?),
        None => None,
    };
    let (_, key) = grant_key(s, authorization, headers, remote_claim(s, req).as_deref());
    let image = granted(s, &key, id)?;
    let key = crate::pixels::TileKey {
        image: image.id,
        version: file_version(&image),
        grid: grid as u8,
        tile: (u32::try_from(level).ok()?, col, row),
    };
    let hit = s.pixels.tile_bytes.get(&key)?;
    if not_modified(headers, hit.etag.as_bytes()) {
        return Some((not_modified_response(s, Some(hit.etag)), route));
    }
    let c = &s.pixels.counters;
    c.passthrough.fetch_add(1, Ordering::Relaxed);
    c.memory_hits.fetch_add(1, Ordering::Relaxed);
    // The router sets it for its answers (hyper would too; an in-process caller would not).
    let len = hit.prefix.len() + hit.body.len();
    let mut res = passthrough_response(hit.prefix, hit.body, Some(hit.etag));
    res.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    Some((res, route))
}

async fn exact_dzi(
    State(s): State<AppState>,
    client: Option<Extension<ClientAddr>>,
    Path((id, z, frame)): Path<(String, String, String)>,
    req: axum::extract::Request,
) -> ApiResult<Response> {
    let headers = req.headers();
    let image = readable(
        &s,
        headers,
        remote_claim(&s, &req),
        client.as_deref(),
        parse_id(&id)?,
        Some(&z),
        Some(&frame),
    )
    .await?;
    dzi(&s, &image, Grid::Exact, plane_of(Some(&z), Some(&frame))).await
}

/// `?z=&frame=` of the native grid's routes (1-based; plane 1 when absent).
#[derive(serde::Deserialize, Default)]
struct PlaneQuery {
    z: Option<String>,
    frame: Option<String>,
}

/// The (z, frame) `readable` accepted (it refused anything else).
fn plane_of(z: Option<&str>, frame: Option<&str>) -> (u32, u32) {
    let v = |r: Option<&str>| r.and_then(|r| r.parse().ok()).unwrap_or(1);
    (v(z), v(frame))
}

/// The file version of one plane: plane (1, 1) keeps the image's own (its ETags and cached
/// tiles are unchanged), every other plane gets its own.
fn plane_version(image: &Image, plane: (u32, u32)) -> u64 {
    use std::hash::{Hash, Hasher};
    let v = file_version(image);
    if plane == (1, 1) {
        return v;
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (v, plane).hash(&mut h);
    h.finish()
}

async fn native_dzi(
    State(s): State<AppState>,
    client: Option<Extension<ClientAddr>>,
    Path(id): Path<String>,
    Query(q): Query<PlaneQuery>,
    req: axum::extract::Request,
) -> ApiResult<Response> {
    let headers = req.headers();
    let (z, frame) = (q.z.as_deref(), q.frame.as_deref());
    let remote = remote_claim(&s, &req);
    let image = readable(
        &s,
        headers,
        remote,
        client.as_deref(),
        parse_id(&id)?,
        z,
        frame,
    )
    .await?;
    dzi(&s, &image, Grid::Native, plane_of(z, frame)).await
}

async fn dzi(s: &AppState, image: &Image, grid: Grid, plane: (u32, u32)) -> ApiResult<Response> {
    let g = s.pixels.plane_deepzoom(image, grid.opts(), plane).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/xml"),
            (header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        g.geometry().dzi("jpeg"),
    )
        .into_response())
}

async fn exact_tile(
    State(s): State<AppState>,
    client: Option<Extension<ClientAddr>>,
    Path((id, z, frame, level, tile)): Path<(String, String, String, String, String)>,
    req: axum::extract::Request,
) -> ApiResult<Response> {
    let headers = req.headers();
    let image = readable(
        &s,
        headers,
        remote_claim(&s, &req),
        client.as_deref(),
        parse_id(&id)?,
        Some(&z),
        Some(&frame),
    )
    .await?;
    let plane = plane_of(Some(&z), Some(&frame));
    serve_tile(&s, &image, Grid::Exact, plane, &level, &tile, headers).await
}

async fn native_tile(
    State(s): State<AppState>,
    client: Option<Extension<ClientAddr>>,
    Path((id, level, tile)): Path<(String, String, String)>,
    Query(q): Query<PlaneQuery>,
    req: axum::extract::Request,
) -> ApiResult<Response> {
    let headers = req.headers();
    let (z, frame) = (q.z.as_deref(), q.frame.as_deref());
    let remote = remote_claim(&s, &req);
    let image = readable(
        &s,
        headers,
        remote,
        client.as_deref(),
        parse_id(&id)?,
        z,
        frame,
    )
    .await?;
    let plane = plane_of(z, frame);
    serve_tile(&s, &image, Grid::Native, plane, &level, &tile, headers).await
}

/// Tile formats a client may ask for.
#[derive(Clone, Copy, PartialEq)]
enum Format {
    Jpeg,
    Png,
}

/// `<col>_<row>.<jpeg|jpg|png>`.
fn parse_tile(level: &str, tile: &str) -> ApiResult<(usize, u32, u32, Format)> {
    let bad = || {
        ApiError::bad(
            "tile",
            format!("{level}/{tile} is not <level>/<col>_<row>.jpeg|png"),
        )
    };
    let level: usize = level.parse().map_err(|_| bad())?;
    let (stem, ext) = tile.rsplit_once('.').ok_or_else(bad)?;
    let format = match ext.to_ascii_lowercase().as_str() {
        "jpeg" | "jpg" => Format::Jpeg,
        "png" => Format::Png,
        _ => return Err(bad()),
    };
    let (col, row) = stem.split_once('_').ok_or_else(bad)?;
    Ok((
        level,
        col.parse().map_err(|_| bad())?,
        row.parse().map_err(|_| bad())?,
        format,
    ))
}

/// A hash of the identity of the image's file (name, checksum, size, series): part of every tile's
/// validator and of the in-memory tile key, so a new file never answers with old tiles.
fn file_version(image: &Image) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (&image.filename, &image.checksum, image.width, image.height).hash(&mut h);
    // Images of one file's several series share its name and checksum (series 0: as before).
    if image.series != 0 {
        image.series.hash(&mut h);
    }
    // Channel display settings change the composited pixels (none: the version as before).
    if !image.channel_display.is_empty() {
        image.channel_display.hash(&mut h);
    }
    h.finish()
}

/// A strong validator: the image's identity and content checksum, the grid and the tile.
fn etag(image: &Image, version: u64, grid: Grid, tile: (usize, u32, u32), f: Format) -> String {
    let ext = if f == Format::Png { "p" } else { "j" };
    let (level, col, row) = tile;
    format!(
        "\"{}-{version:016x}-{}{ext}-{level}-{col}-{row}\"",
        image.id.0,
        grid.tag()
    )
}

/// Whether `If-None-Match` names `tag` (or `*`).
fn not_modified(headers: &HeaderMap, tag: &[u8]) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().as_bytes() == tag || t.trim() == "*")
        })
}

/// The validator and a year of private caching (tiles of an image id never change).
fn cache_headers(h: &mut HeaderMap, etag: Option<HeaderValue>) {
    if let Some(v) = etag {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
}

/// A `304 Not Modified` with the tile's validator.
fn not_modified_response(s: &AppState, etag: Option<HeaderValue>) -> Response {
    s.pixels
        .counters
        .not_modified
        .fetch_add(1, Ordering::Relaxed);
    let mut r = StatusCode::NOT_MODIFIED.into_response();
    cache_headers(r.headers_mut(), etag);
    r
}

/// A passthrough tile: the JPEG tables and the stored bytes go out as two shared buffers.
fn passthrough_response(prefix: Bytes, body: Bytes, etag: Option<HeaderValue>) -> Response {
    let mut r = (
        [(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"))],
        axum::body::Body::new(Chunks::new([prefix, body])),
    )
        .into_response();
    cache_headers(r.headers_mut(), etag);
    r
}

async fn serve_tile(
    s: &AppState,
    image: &Image,
    grid: Grid,
    plane: (u32, u32),
    level: &str,
    tile: &str,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let (level, col, row, format) = parse_tile(level, tile)?;
    let version = plane_version(image, plane);
    // Native tiles recently sent are answered from memory (after the permission check, which
    // `readable` made): no generator lookup, file read, allocation or copy.
    let key = match (format, u32::try_from(level)) {
        (Format::Jpeg, Ok(l)) if image.state == exact_core::model::PixelState::Ready => {
            Some(crate::pixels::TileKey {
                image: image.id,
                version,
                grid: grid as u8,
                tile: (l, col, row),
            })
        }
        _ => None,
    };
    if let Some(hit) = key.as_ref().and_then(|k| s.pixels.tile_bytes.get(k)) {
        if not_modified(headers, hit.etag.as_bytes()) {
            return Ok(not_modified_response(s, Some(hit.etag)));
        }
        let c = &s.pixels.counters;
        c.passthrough.fetch_add(1, Ordering::Relaxed);
        c.memory_hits.fetch_add(1, Ordering::Relaxed);
        return Ok(passthrough_response(hit.prefix, hit.body, Some(hit.etag)));
    }
    let g = s.pixels.plane_deepzoom(image, grid.opts(), plane).await?;
    check_in_range(&g, level, col, row)?;
    let tag = etag(image, version, grid, (level, col, row), format);
    let tag = HeaderValue::from_str(&tag).ok();
    if not_modified(headers, tag.as_ref().map_or(&[][..], |t| t.as_bytes())) {
        return Ok(not_modified_response(s, tag));
    }
    let (body, content_type): (axum::body::Body, _) = match format {
        Format::Jpeg => {
            if let Some((sl, c, r)) = g.passthrough_source(level, col, row) {
                s.pixels
                    .counters
                    .passthrough
                    .fetch_add(1, Ordering::Relaxed);
                let t = g
                    .slide()
                    .native_tile(sl, c, r)
                    .await
                    .map_err(|e| slide_error(g.slide().name(), e))?;
                if let (Some(k), Some(etag)) = (key, &tag) {
                    s.pixels.tile_bytes.insert(
                        k,
                        crate::pixels::CachedTile {
                            prefix: t.prefix.clone(),
                            body: t.body.clone(),
                            etag: etag.clone(),
                        },
                    );
                }
                return Ok(passthrough_response(t.prefix, t.body, tag));
            } else if let Some(b) = g.cached_tile(level, col, row) {
                s.pixels.counters.cache_hits.fetch_add(1, Ordering::Relaxed);
                (axum::body::Body::from(b), "image/jpeg")
            } else {
                s.pixels.counters.rendered.fetch_add(1, Ordering::Relaxed);
                let b = g
                    .tile(level, col, row)
                    .await
                    .map_err(|e| slide_error(g.slide().name(), e))?;
                (axum::body::Body::from(b), "image/jpeg")
            }
        }
        Format::Png => {
            s.pixels.counters.rendered.fetch_add(1, Ordering::Relaxed);
            let img = g
                .render(level, col, row)
                .await
                .map_err(|e| slide_error(g.slide().name(), e))?;
            (axum::body::Body::from(encode_png(img).await?), "image/png")
        }
    };
    let mut r = (
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response();
    cache_headers(r.headers_mut(), tag);
    Ok(r)
}

/// PNG bytes of rendered pixels, encoded on the CPU pool.
pub(super) async fn encode_png(img: exact_tiles::Image) -> ApiResult<Bytes> {
    exact_tiles::cpu::run(move || img.encode_png())
        .await
        .map(Bytes::from)
        .map_err(|e| {
            ApiError::Core(exact_core::Error::backend(
                "png encoder",
                std::io::Error::other(e.to_string()),
            ))
        })
}

/// 404 with the grid's bounds for tiles outside it (not a 500 from deep inside the engine).
fn check_in_range(g: &DeepZoomGenerator, level: usize, col: u32, row: u32) -> ApiResult<()> {
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
    Ok(())
}

/// A body of a few `Bytes` sent as they are, with its exact length (so `Content-Length` is
/// set): hyper queues the buffers and writes them with vectored I/O, so a passthrough tile's
/// JPEG tables and stored bytes reach the socket without being copied into one buffer.
pub(super) struct Chunks {
    parts: std::collections::VecDeque<bytes::Bytes>,
    len: u64,
}

impl Chunks {
    pub(super) fn new<const N: usize>(parts: [bytes::Bytes; N]) -> Self {
        let parts: std::collections::VecDeque<_> =
            parts.into_iter().filter(|b| !b.is_empty()).collect();
        let len = parts.iter().map(|b| b.len() as u64).sum();
        Chunks { parts, len }
    }
}

impl http_body::Body for Chunks {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        let next = self.parts.pop_front();
        if let Some(b) = &next {
            self.len -= b.len() as u64;
        }
        std::task::Poll::Ready(next.map(|b| Ok(http_body::Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.parts.is_empty()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.len)
    }
}

/// The router behind the tile fast path ([`fast_tile`]): tiles it can answer from memory
/// are answered there (counted in the request metrics, with the client's `X-Request-Id`
/// echoed but no generated id, trace span or `Server-Timing`: a tile needs none), every other
/// request goes to the router as it came.
#[derive(Clone)]
pub(crate) struct FastTiles {
    /// The state and the request metrics (one `Arc`: axum clones this service per request).
    shared: Arc<(AppState, Arc<crate::ops::Metrics>)>,
    inner: Router,
}

impl FastTiles {
    /// The fast path over `state` in front of `inner`, recording into `metrics`.
    pub(crate) fn new(state: AppState, metrics: Arc<crate::ops::Metrics>, inner: Router) -> Self {
        FastTiles {
            shared: Arc::new((state, metrics)),
            inner,
        }
    }
}

/// The answer of [`FastTiles`]: ready at once, or the router's.
pub(crate) enum FastFuture {
    Ready(Option<Response>),
    Routed(std::pin::Pin<Box<axum::routing::future::RouteFuture<std::convert::Infallible>>>),
}

impl std::future::Future for FastFuture {
    type Output = Result<Response, std::convert::Infallible>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        match &mut *self {
            FastFuture::Ready(r) => {
                std::task::Poll::Ready(Ok(r.take().expect("a ready answer is polled once")))
            }
            FastFuture::Routed(f) => f.as_mut().poll(cx),
        }
    }
}

impl tower_service::Service<axum::extract::Request> for FastTiles {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = FastFuture;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: axum::extract::Request) -> Self::Future {
        let start = std::time::Instant::now();
        let (state, metrics) = &*self.shared;
        if let Some((mut res, route)) = fast_tile(state, &req) {
            if let Some(id) = crate::ops::client_request_id(req.headers()) {
                res.headers_mut().insert(
                    axum::http::HeaderName::from_static("x-request-id"),
                    id.clone(),
                );
            }
            let seconds = start.elapsed().as_secs_f64();
            metrics.record(route, "GET", res.status().as_u16(), seconds);
            return FastFuture::Ready(Some(res));
        }
        FastFuture::Routed(Box::pin(tower_service::Service::call(&mut self.inner, req)))
    }
}
