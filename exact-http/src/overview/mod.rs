//! Annotation overview tiles: every visible annotation of an image drawn into transparent PNG
//! tiles on the native Deep Zoom grid, so a viewer shows a complete picture at every zoom
//! without ever holding a million annotations.
//!
//! A tile that covers few annotations is drawn from a viewport query (outlines where an
//! annotation is at least ~2 px, a dot where smaller). A tile over many (the overview levels)
//! is drawn from a per-image, per-visibility-class [`Raster`]: counts of annotations per type
//! per cell of level 0 (cells of 64 px or more, at most 1024 × 1024 cells), plus the outlines of
//! the few annotations larger than a cell. The raster is built once by streaming the image's
//! annotations, kept in a byte-bounded LRU, and updated in place by the catalog's change hook
//! (it remembers where it counted each annotation, so updates and deletes are exact).

pub mod draw;
mod summary;
#[cfg(test)]
mod tests;

use draw::{Canvas, Rgba};
use exact_core::catalog::{AnnotationQuery, AnnotationsChanged, ChangeOp};
use exact_core::model::{Annotation, AnnotationType, VectorType};
use exact_core::{AnnotationTypeId, BBox, ImageId, UserId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

/// Smallest cell edge of a raster, in level-0 pixels.
pub const MIN_CELL: f64 = 64.0;
/// Most cells along one side of a raster.
pub const MAX_CELLS: u32 = 1024;
/// Bytes of rasters kept in memory (all images together).
pub const CACHE_BYTES: usize = 512 << 20;
/// A tile over at most this many annotations is drawn from a viewport query.
pub const DIRECT_MAX: u64 = 4000;
/// Most vertices kept per large annotation outline.
const OUTLINE_POINTS: usize = 256;

/// Who sees what: everything (collaborative sets, team admins), or only one user's own
/// annotations (members of competitive sets). Rasters and ETags are per class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// Every annotation of the image.
    All,
    /// Only those created by this user.
    Own(UserId),
}

impl Class {
    /// Whether an annotation belongs to this class.
    pub fn admits(self, a: &Annotation) -> bool {
        match self {
            Class::All => true,
            Class::Own(u) => a.user == Some(u),
        }
    }

    /// A short tag for ETags.
    pub fn tag(self) -> String {
        match self {
            Class::All => "a".into(),
            Class::Own(u) => format!("u{}", u.0),
        }
    }
}

/// Where an annotation is counted.
#[derive(Debug, Clone, Copy)]
struct Slot {
    ty: AnnotationTypeId,
    cell: u32,
}

/// The outline of an annotation larger than a cell.
#[derive(Debug, Clone)]
struct Outline {
    ty: AnnotationTypeId,
    bbox: BBox,
    /// Vertices (decimated to [`OUTLINE_POINTS`]); two corners for boxes and points.
    points: Vec<(f32, f32)>,
    closed: bool,
    boxlike: bool,
}

/// Counts of one image's annotations per type and cell, and the outlines of large ones.
#[derive(Debug)]
pub struct Raster {
    cell: f64,
    cols: u32,
    rows: u32,
    counts: HashMap<AnnotationTypeId, Vec<u32>>,
    slots: HashMap<u64, Slot>,
    outlines: HashMap<u64, Outline>,
    vector_types: HashMap<AnnotationTypeId, VectorType>,
    /// Whether `slots` knows every counted annotation (built by a scan), so updates and
    /// deletes apply exactly; `false` for a raster read back from a stored summary.
    exact_ids: bool,
    /// Whether it may miss writes (a summary older than the image's stamp, or an update
    /// or delete it could not apply): drawn, but rebuilt by a scan.
    stale: bool,
}

impl Raster {
    /// An empty raster for an image of `width × height` level-0 pixels.
    pub fn new(width: u64, height: u64, types: &[AnnotationType]) -> Raster {
        let side = width.max(height).max(1) as f64;
        let mut cell = MIN_CELL;
        while side / cell > f64::from(MAX_CELLS) {
            cell *= 2.0;
        }
        Raster {
            cell,
            cols: ((width.max(1) as f64 / cell).ceil() as u32).clamp(1, MAX_CELLS),
            rows: ((height.max(1) as f64 / cell).ceil() as u32).clamp(1, MAX_CELLS),
            counts: HashMap::new(),
            slots: HashMap::new(),
            outlines: HashMap::new(),
            vector_types: types.iter().map(|t| (t.id, t.vector_type)).collect(),
            exact_ids: true,
            stale: false,
        }
    }

    /// Whether it may miss writes (see the field).
    pub fn is_stale(&self) -> bool {
        self.stale
    }

    /// Marks it as missing writes.
    pub fn mark_stale(&mut self) {
        self.stale = true;
    }

    /// Approximate bytes held.
    pub fn bytes(&self) -> usize {
        let cells = self.cols as usize * self.rows as usize * 4;
        let outline_points: usize = self
            .outlines
            .values()
            .map(|o| o.points.len() * 8 + 96)
            .sum();
        1024 + self.counts.len() * cells + self.slots.len() * 40 + outline_points
    }

    fn cell_of(&self, b: &BBox) -> u32 {
        let cx = ((b.min_x + b.max_x) / 2.0 / self.cell).floor();
        let cy = ((b.min_y + b.max_y) / 2.0 / self.cell).floor();
        let cx = cx.clamp(0.0, f64::from(self.cols - 1)) as u32;
        let cy = cy.clamp(0.0, f64::from(self.rows - 1)) as u32;
        cy * self.cols + cx
    }

    fn remove(&mut self, id: u64) {
        if let Some(s) = self.slots.remove(&id)
            && let Some(c) = self.counts.get_mut(&s.ty)
            && let Some(n) = c.get_mut(s.cell as usize)
        {
            *n = n.saturating_sub(1);
        }
        self.outlines.remove(&id);
    }

    /// Counts `a` (replacing where it was counted before) if it is live and has geometry.
    pub fn put(&mut self, a: &Annotation) {
        self.remove(a.id.0);
        if a.deleted {
            return;
        }
        let Some(v) = a.vector.as_ref() else { return };
        let Some(b) = v.bbox() else { return };
        let cell = self.cell_of(&b);
        let cells = self.cols as usize * self.rows as usize;
        let counts = self
            .counts
            .entry(a.annotation_type)
            .or_insert_with(|| vec![0; cells]);
        counts[cell as usize] = counts[cell as usize].saturating_add(1);
        self.slots.insert(
            a.id.0,
            Slot {
                ty: a.annotation_type,
                cell,
            },
        );
        if b.width().max(b.height()) >= self.cell {
            let kind = self.vector_types.get(&a.annotation_type).copied();
            let boxlike = matches!(
                kind,
                Some(
                    VectorType::BoundingBox | VectorType::FixedSizeBoundingBox | VectorType::Point
                )
            ) || (kind.is_none() && v.points.len() <= 2);
            let step = v.points.len().div_ceil(OUTLINE_POINTS).max(1);
            let points = v
                .points
                .iter()
                .step_by(step)
                .map(|p| (p.x as f32, p.y as f32))
                .collect();
            self.outlines.insert(
                a.id.0,
                Outline {
                    ty: a.annotation_type,
                    bbox: b,
                    points,
                    closed: !matches!(kind, Some(VectorType::Line | VectorType::MultiLine)),
                    boxlike,
                },
            );
        }
    }

    /// How many annotations of `types` (all if `None`) are counted in cells meeting `area`.
    pub fn estimate(&self, area: &BBox, types: Option<&[AnnotationTypeId]>) -> u64 {
        let (c0, c1, r0, r1) = self.cells_of(area);
        let mut n = 0u64;
        for (t, counts) in &self.counts {
            if types.is_some_and(|ts| !ts.contains(t)) {
                continue;
            }
            for r in r0..r1 {
                let row = &counts[(r * self.cols) as usize..((r + 1) * self.cols) as usize];
                n += row[c0 as usize..c1 as usize]
                    .iter()
                    .map(|&c| u64::from(c))
                    .sum::<u64>();
            }
        }
        n
    }

    /// Column and row ranges `[c0, c1) × [r0, r1)` of the cells meeting `area`.
    fn cells_of(&self, area: &BBox) -> (u32, u32, u32, u32) {
        let f = |v: f64, max: u32| (v / self.cell).floor().clamp(0.0, f64::from(max)) as u32;
        (
            f(area.min_x, self.cols),
            (f(area.max_x, self.cols) + 1).min(self.cols),
            f(area.min_y, self.rows),
            (f(area.max_y, self.rows) + 1).min(self.rows),
        )
    }

    /// Draws the density of every type (in its colour) and the outlines of large annotations
    /// into a tile showing `area` of level 0 at `scale` tile pixels per level-0 pixel.
    pub fn draw(
        &self,
        canvas: &mut Canvas,
        area: &BBox,
        scale: f64,
        colors: &HashMap<AnnotationTypeId, [u8; 3]>,
        types: Option<&[AnnotationTypeId]>,
    ) {
        let (c0, c1, r0, r1) = self.cells_of(area);
        let (w, h) = (canvas.img.width as usize, canvas.img.height as usize);
        let mut density = vec![0u32; w * h];
        let mut order: Vec<_> = self.counts.keys().copied().collect();
        order.sort();
        for t in order {
            if types.is_some_and(|ts| !ts.contains(&t)) {
                continue;
            }
            let counts = &self.counts[&t];
            density.iter_mut().for_each(|d| *d = 0);
            let mut any = false;
            for r in r0..r1 {
                for c in c0..c1 {
                    let n = counts[(r * self.cols + c) as usize];
                    if n == 0 {
                        continue;
                    }
                    any = true;
                    let x0 = (f64::from(c) * self.cell - area.min_x) * scale;
                    let y0 = (f64::from(r) * self.cell - area.min_y) * scale;
                    let x1 = x0 + self.cell * scale;
                    let y1 = y0 + self.cell * scale;
                    let xa = (x0.floor().max(0.0) as usize).min(w.saturating_sub(1));
                    let ya = (y0.floor().max(0.0) as usize).min(h.saturating_sub(1));
                    let xb = (x1.ceil().max(0.0) as usize)
                        .clamp(xa + 1, w.max(xa + 1))
                        .min(w);
                    let yb = (y1.ceil().max(0.0) as usize)
                        .clamp(ya + 1, h.max(ya + 1))
                        .min(h);
                    for y in ya..yb {
                        for d in &mut density[y * w + xa..y * w + xb] {
                            *d = d.saturating_add(n);
                        }
                    }
                }
            }
            if !any {
                continue;
            }
            let rgb = colors.get(&t).copied().unwrap_or([128, 128, 128]);
            for (i, &n) in density.iter().enumerate() {
                if n > 0 {
                    canvas.blend((i % w) as i64, (i / w) as i64, density_color(rgb, n));
                }
            }
        }
        let min_size = 2.0 / scale;
        let mut ids: Vec<_> = self.outlines.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let o = &self.outlines[&id];
            if types.is_some_and(|ts| !ts.contains(&o.ty))
                || !o.bbox.intersects(area)
                || o.bbox.width().max(o.bbox.height()) < min_size
            {
                continue;
            }
            let rgb = colors.get(&o.ty).copied().unwrap_or([128, 128, 128]);
            let c = [rgb[0], rgb[1], rgb[2], 255];
            let to = |x: f64, y: f64| ((x - area.min_x) * scale, (y - area.min_y) * scale);
            if o.boxlike {
                rect(canvas, &o.bbox, &to, c);
            } else {
                let pts: Vec<_> = o
                    .points
                    .iter()
                    .map(|&(x, y)| to(f64::from(x), f64::from(y)))
                    .collect();
                canvas.polyline(&pts, o.closed, c);
            }
        }
    }
}

/// The density mark of `n` annotations under one pixel: more opaque where denser.
fn density_color(rgb: [u8; 3], n: u32) -> Rgba {
    let a = 110.0 + 30.0 * f64::from(n).log2();
    [rgb[0], rgb[1], rgb[2], a.clamp(110.0, 235.0) as u8]
}

fn rect(canvas: &mut Canvas, b: &BBox, to: &dyn Fn(f64, f64) -> (f64, f64), c: Rgba) {
    let (p0, p1) = (to(b.min_x, b.min_y), to(b.max_x, b.max_y));
    canvas.polyline(&[p0, (p1.0, p0.1), p1, (p0.0, p1.1)], true, c);
}

/// Draws one annotation exactly (tiles over few annotations): its outline where it is at
/// least ~2 px, a 2 × 2 dot where smaller.
pub fn draw_annotation(
    canvas: &mut Canvas,
    a: &Annotation,
    kind: Option<VectorType>,
    area: &BBox,
    scale: f64,
    rgb: [u8; 3],
) {
    let Some(v) = a.vector.as_ref() else { return };
    let Some(b) = v.bbox() else { return };
    let c = [rgb[0], rgb[1], rgb[2], 255];
    let to = |x: f64, y: f64| ((x - area.min_x) * scale, (y - area.min_y) * scale);
    if b.width().max(b.height()) * scale < 2.0 {
        let (x, y) = to((b.min_x + b.max_x) / 2.0, (b.min_y + b.max_y) / 2.0);
        canvas.fill(x - 1.0, y - 1.0, x + 1.0, y + 1.0, c);
        return;
    }
    match kind {
        Some(VectorType::Point) => {
            // A point is stored as the box of its circle.
            let (cx, cy) = to((b.min_x + b.max_x) / 2.0, (b.min_y + b.max_y) / 2.0);
            let (rx, ry) = (b.width() * scale / 2.0, b.height() * scale / 2.0);
            let pts: Vec<_> = (0..24)
                .map(|i| {
                    let t = f64::from(i) * std::f64::consts::TAU / 24.0;
                    (cx + rx * t.cos(), cy + ry * t.sin())
                })
                .collect();
            canvas.polyline(&pts, true, c);
        }
        Some(VectorType::Line | VectorType::MultiLine) => {
            let pts: Vec<_> = v.points.iter().map(|p| to(p.x, p.y)).collect();
            canvas.polyline(&pts, false, c);
        }
        Some(VectorType::Polygon) if v.points.len() > 2 => {
            let pts: Vec<_> = v.points.iter().map(|p| to(p.x, p.y)).collect();
            canvas.polyline(&pts, true, c);
        }
        _ => rect(canvas, &b, &to, c),
    }
}

/// One cached raster, built once.
#[derive(Debug, Default)]
pub struct RasterSlot {
    raster: RwLock<Option<Raster>>,
    building: tokio::sync::Mutex<()>,
    /// Bumped whenever a new raster is stored (named in tile ETags and cache keys).
    epoch: std::sync::atomic::AtomicU64,
    /// When this process last wrote to the image since the stored summary was made: the
    /// summary is rebuilt (by a scan) once writes have been quiet for a while.
    dirty: Mutex<Option<std::time::Instant>>,
    /// The image's write stamp the raster was built or read under (0: unknown), to notice
    /// writes of other servers sharing the store.
    stamp: std::sync::atomic::AtomicU64,
    /// A background rebuild is running.
    pub rebuilding: std::sync::atomic::AtomicBool,
}

/// Key of a cached raster: the image, who sees what, and the plane (frame) it shows — `None`
/// for every annotation of the image.
type Key = (ImageId, Class, Option<u32>);

/// Whether `a` shows on `frame` (EXACT: an annotation without a frame shows on every frame).
pub fn on_frame(a: &Annotation, frame: Option<u32>) -> bool {
    frame.is_none_or(|f| {
        a.vector
            .as_ref()
            .and_then(|v| v.frame)
            .is_none_or(|af| af == f)
    })
}

/// Bytes of rendered overview tiles kept in memory (all images together).
pub const TILE_CACHE_BYTES: usize = 64 << 20;

/// Rendered overview tiles (PNG), least recently used dropped first, bounded in bytes. A key
/// names everything a tile depends on — image and its geometry, generation, visibility class,
/// plane, types and colours, tile — so a write (a new generation) never meets an old tile;
/// old generations age out. Permissions are checked before a lookup, as for any read.
#[derive(Debug, Default)]
pub struct TileCache {
    inner: Mutex<TileLru>,
}

#[derive(Debug, Default)]
struct TileLru {
    map: HashMap<String, (bytes::Bytes, u64)>,
    bytes: usize,
    tick: u64,
}

impl TileCache {
    /// The tile of `key`, if kept.
    pub fn get(&self, key: &str) -> Option<bytes::Bytes> {
        let mut l = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        l.tick += 1;
        let t = l.tick;
        l.map.get_mut(key).map(|e| {
            e.1 = t;
            e.0.clone()
        })
    }

    /// Keeps a tile; drops the least recently used ones beyond [`TILE_CACHE_BYTES`].
    pub fn put(&self, key: String, png: bytes::Bytes) {
        let cost = png.len() + key.len() + 64;
        if cost > TILE_CACHE_BYTES / 16 {
            return;
        }
        let mut l = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        l.tick += 1;
        let t = l.tick;
        if let Some((old, _)) = l.map.insert(key.clone(), (png, t)) {
            l.bytes -= old.len() + key.len() + 64;
        }
        l.bytes += cost;
        if l.bytes > TILE_CACHE_BYTES {
            // Down to three quarters at once: eviction scans are rare.
            let mut by_age: Vec<(u64, String, usize)> = l
                .map
                .iter()
                .map(|(k, (v, t))| (*t, k.clone(), v.len() + k.len() + 64))
                .collect();
            by_age.sort_unstable_by_key(|e| e.0);
            for (_, k, c) in by_age {
                if l.bytes <= TILE_CACHE_BYTES / 4 * 3 {
                    break;
                }
                l.map.remove(&k);
                l.bytes -= c;
            }
        }
    }

    /// Bytes kept.
    pub fn bytes(&self) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).bytes
    }
}

/// The rasters of this process, byte-bounded, least recently used dropped first.
#[derive(Debug)]
pub struct Overviews {
    slots: Mutex<HashMap<Key, (Arc<RasterSlot>, u64)>>,
    tick: std::sync::atomic::AtomicU64,
    /// Rasters are built one at a time (each streams a whole image).
    pub builds: tokio::sync::Semaphore,
    /// Rendered tiles, so a second browser (or user of the same class) gets them at once.
    pub tiles: TileCache,
}

impl Default for Overviews {
    fn default() -> Self {
        Overviews::new()
    }
}

impl Overviews {
    /// An empty cache.
    pub fn new() -> Overviews {
        Overviews {
            slots: Mutex::default(),
            tick: Default::default(),
            builds: tokio::sync::Semaphore::new(1),
            tiles: TileCache::default(),
        }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<Key, (Arc<RasterSlot>, u64)>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The slot of `key`, created empty when missing.
    pub fn slot(&self, key: Key) -> Arc<RasterSlot> {
        let t = self.tick.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut slots = self.slots();
        let e = slots.entry(key).or_insert_with(|| (Arc::default(), t));
        e.1 = t;
        e.0.clone()
    }

    /// Drops least recently used rasters until the cache holds at most [`CACHE_BYTES`].
    pub fn trim(&self) {
        let mut slots = self.slots();
        let mut sizes: Vec<(Key, u64, usize)> = slots
            .iter()
            .map(|(k, (s, t))| (*k, *t, s.bytes()))
            .collect();
        let mut total: usize = sizes.iter().map(|s| s.2).sum();
        sizes.sort_by_key(|s| s.1);
        for (k, _, b) in sizes {
            if total <= CACHE_BYTES {
                break;
            }
            slots.remove(&k);
            total -= b;
        }
    }

    /// Applies a committed write to every cached raster of the images it touched.
    pub fn apply(&self, change: &AnnotationsChanged<'_>) {
        let slots: Vec<(Class, Option<u32>, Arc<RasterSlot>, ImageId)> = self
            .slots()
            .iter()
            .filter(|((image, _, _), _)| change.annotations.iter().any(|a| a.image == *image))
            .map(|((image, class, frame), (s, _))| (*class, *frame, s.clone(), *image))
            .collect();
        for (class, frame, slot, image) in slots {
            let mut r = slot.raster.write().unwrap_or_else(|e| e.into_inner());
            let Some(r) = r.as_mut() else { continue };
            *slot.dirty.lock().unwrap_or_else(|e| e.into_inner()) = Some(std::time::Instant::now());
            if !r.exact_ids && change.op != ChangeOp::Created {
                // It does not know where the old versions were counted.
                r.stale = true;
                continue;
            }
            for a in change.annotations.iter().filter(|a| a.image == image) {
                if class.admits(a) && on_frame(a, frame) {
                    r.put(a);
                } else {
                    r.remove(a.id.0);
                }
            }
        }
    }
}

impl RasterSlot {
    fn bytes(&self) -> usize {
        self.raster
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map_or(0, Raster::bytes)
    }

    /// Runs `f` on the raster, if built.
    pub fn with<T>(&self, f: impl FnOnce(&Raster) -> T) -> Option<T> {
        self.raster
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(f)
    }

    /// Serialises builds of this slot.
    pub fn building(&self) -> &tokio::sync::Mutex<()> {
        &self.building
    }

    /// Stores a freshly built raster if `current()` still equals `expected` (no write slipped
    /// between the build's start and now); returns whether it was stored. `stamp` is the
    /// image's write stamp it was built under (0: unknown).
    pub fn store(
        &self,
        raster: Raster,
        expected: u64,
        current: impl Fn() -> u64,
        stamp: u64,
    ) -> bool {
        let mut r = self.raster.write().unwrap_or_else(|e| e.into_inner());
        if current() != expected {
            return false;
        }
        if raster.exact_ids && !raster.stale {
            *self.dirty.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
        *r = Some(raster);
        self.stamp
            .store(stamp, std::sync::atomic::Ordering::Relaxed);
        self.epoch
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        true
    }

    /// Bumped with every raster stored.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The write stamp the raster was built under (0: unknown).
    pub fn stamp(&self) -> u64 {
        self.stamp.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Marks the raster stale (another server wrote to the image).
    pub fn mark_stale(&self) {
        if let Some(r) = self
            .raster
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            r.stale = true;
        }
    }

    /// Whether this process wrote to the image at least `quiet` ago and the stored summary
    /// has not been rebuilt since.
    pub fn settled_writes(&self, quiet: std::time::Duration) -> bool {
        self.dirty
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|t| t.elapsed() >= quiet)
    }

    /// Whether writes of this process since the last rebuild are pending.
    pub fn has_writes(&self) -> bool {
        self.dirty
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }
}

/// The default query of a raster build: every live annotation.
pub fn live() -> AnnotationQuery {
    AnnotationQuery::default()
}
