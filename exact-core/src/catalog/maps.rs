//! Annotation maps (EXACT's `imageset/<id>/annotation_map/create/` and `…/sync/`): per
//! annotation type, a collage of every live annotation of that type in the set, each patch
//! the type's default size plus 15 % context, laid out in a ⌈√n⌉ × ⌈√n⌉ grid column by column
//! (EXACT's order). The map is a server-generated image of the set named
//! `<product>_<type>.tiff`, and its annotations keep their originals' UUIDs, as EXACT's do:
//! that UUID is the link sync follows to push a relabel made on the map back to the original
//! (an ordinary update, so it lands in the original's history).
//!
//! Here are the plan (what to read from where, what to write), its check and the records;
//! the pixels are composed by the library handle with the tile engine, between
//! [`Maps::plan`] and [`Maps::commit`]. Every check happens in `plan`, before a pixel or a
//! record is written.

use super::annotations::NewAnnotation;
use crate::ids::{AnnotationId, AnnotationTypeId, ImageId, ImageSetId};
use crate::keys::Key;
use crate::model::{Annotation, AnnotationType, Image, ImageType, PixelState, Product};
use crate::permissions::Actor;
use crate::store::Index;
use crate::vector::{Point, Vector};
use crate::{Error, Result, VectorType};
use std::collections::{BTreeMap, HashMap};

use super::{Catalog, NewImage};

/// Context around each annotation, as a fraction of its size (EXACT's `context_offset`).
pub const CONTEXT: f64 = 0.15;
/// Most annotations one map holds (its records are written in one batch).
pub const MAX_MAP_ANNOTATIONS: usize = 250_000;
/// Most bytes of one grid row of patches (RGB), the memory composing a map takes.
pub const MAX_BAND_BYTES: u64 = 256 << 20;

/// One patch of a map: where it is read from and where it goes.
#[derive(Debug, Clone, PartialEq)]
pub struct MapPatch {
    /// The image the annotation is on.
    pub source: ImageId,
    /// Level-0 region read from it: x, y, width, height (inside the image).
    pub region: (u64, u64, u32, u32),
    /// Grid column and row on the map.
    pub cell: (u32, u32),
}

/// The map of one annotation type.
#[derive(Debug, Clone)]
pub struct TypeMap {
    /// The type mapped.
    pub annotation_type: AnnotationType,
    /// The map image's name, `<product>_<type>.tiff` as EXACT names it.
    pub name: String,
    /// Grid columns and rows (both ⌈√n⌉).
    pub grid: (u32, u32),
    /// One patch's size on the map: the default size plus 15 %.
    pub patch: (u32, u32),
    /// The patches, in the order of `annotations`.
    pub patches: Vec<MapPatch>,
    /// The annotations to write on the map (their `image` is set by [`Maps::commit`]).
    pub annotations: Vec<NewAnnotation>,
    /// The set's server-generated image of that name, if there is one (it is reused).
    pub existing: Option<Image>,
}

impl TypeMap {
    /// The map's size in pixels: the whole grid, as EXACT sizes it.
    pub fn size(&self) -> (u32, u32) {
        (self.grid.0 * self.patch.0, self.grid.1 * self.patch.1)
    }

    /// Indexes of `patches` in grid row `row`, by column.
    pub fn row(&self, row: u32) -> Vec<usize> {
        let mut out: Vec<usize> = (0..self.patches.len())
            .filter(|&i| self.patches[i].cell.1 == row)
            .collect();
        out.sort_by_key(|&i| self.patches[i].cell.0);
        out
    }
}

/// Everything a map creation will write, checked.
#[derive(Debug, Clone)]
pub struct MapPlan {
    /// The set.
    pub set: ImageSetId,
    /// One map per type, by type id.
    pub maps: Vec<TypeMap>,
    /// Map images whose annotations are replaced (EXACT deletes those of every
    /// server-generated image of the set when all types are mapped).
    pub replaced: Vec<ImageId>,
}

/// The pixels made for one [`TypeMap`]: a blob holding a pyramid of [`TypeMap::size`].
#[derive(Debug, Clone)]
pub struct MapPixels {
    /// Blob key of the pyramidal TIFF.
    pub filename: String,
}

/// One map made: its image and how many annotations it holds.
#[derive(Debug, Clone)]
pub struct MadeMap {
    /// The server-generated image.
    pub image: Image,
    /// Annotations on it.
    pub annotations: usize,
}

/// Annotation map use cases.
pub struct Maps<'a>(pub(crate) &'a Catalog);

impl Catalog {
    /// Annotation maps.
    pub fn maps(&self) -> Maps<'_> {
        Maps(self)
    }
}

impl Maps<'_> {
    /// The live images of `set` (edit rights required: EXACT's `edit_set`), split into
    /// originals and server-generated maps.
    fn images(&self, actor: &Actor, set: ImageSetId) -> Result<(Vec<Image>, Vec<Image>)> {
        let c = self.0;
        let (s, rights) = c.readable_set(actor, set)?;
        if !rights.edit_set || !rights.annotate {
            return Err(Error::denied(format!(
                "no rights to edit {} (annotation maps add images and annotations to the set)",
                s.id
            )));
        }
        let mut all: Vec<Image> =
            c.by_index::<Image>(Index::ImageBySet, &Key::new().u64(set.0).build())?;
        all.retain(|i| !i.deleted);
        all.sort_by_key(|i| i.id);
        Ok(all
            .into_iter()
            .partition(|i| i.image_type != ImageType::ServerGenerated))
    }

    /// Plans the maps of `set` — of every type with live annotations, or of `only` — and
    /// checks everything before anything is written: the actor may edit the set, `only` is
    /// a type of the set, there are annotations to map, every type has a default size, and
    /// each map stays within the image and memory limits.
    pub fn plan(
        &self,
        actor: &Actor,
        set: ImageSetId,
        only: Option<AnnotationTypeId>,
    ) -> Result<MapPlan> {
        let c = self.0;
        let (originals, generated) = self.images(actor, set)?;
        let offered = c.annotation_types().of_set(actor, set)?;
        if let Some(t) = only
            && !offered.iter().any(|o| o.id == t)
        {
            return Err(Error::invalid(
                "annotation_type",
                format!("{t} is not an annotation type of {set}"),
            ));
        }
        // Every live annotation the actor sees, by type, in image order (EXACT's
        // `order_by('image')`).
        let mut by_type: BTreeMap<AnnotationTypeId, Vec<(Annotation, &Image)>> = BTreeMap::new();
        let query = super::AnnotationQuery {
            annotation_types: only.map(|t| vec![t]),
            ..Default::default()
        };
        let mut total = 0usize;
        // EXACT skips the annotations of images whose file is missing; so do we (images
        // registered by metadata only, or not converted yet).
        let servable = |i: &&Image| {
            i.state == PixelState::Ready
                && (i.image_type == ImageType::FileLink || !i.original.is_empty())
        };
        for image in originals.iter().filter(servable) {
            let mut found = c.annotations().query(actor, image.id, &query)?;
            found.sort_by_key(|a| a.id);
            total += found.len();
            if total > MAX_MAP_ANNOTATIONS * 4 {
                return Err(Error::invalid(
                    "annotation_type",
                    format!(
                        "{set} has more than {} annotations to map: map one type at a time",
                        MAX_MAP_ANNOTATIONS * 4
                    ),
                ));
            }
            for a in found {
                by_type
                    .entry(a.annotation_type)
                    .or_default()
                    .push((a, image));
            }
        }
        if by_type.is_empty() {
            return Err(Error::invalid(
                "annotation_type",
                match only {
                    Some(t) => format!(
                        "{set} has no live annotations of type {t} on images with pixels to map"
                    ),
                    None => format!("{set} has no live annotations on images with pixels to map"),
                },
            ));
        }
        let mut maps = Vec::new();
        for (t, annotations) in by_type {
            let ty: AnnotationType = c.load(t.0)?;
            let product = match ty.product {
                Some(p) => c.load::<Product>(p.0)?.name,
                None => "None".into(),
            };
            let name = format!("{product}_{}.tiff", ty.name);
            let existing = generated.iter().find(|i| i.name == name).cloned();
            maps.push(plan_type(ty, name, existing, annotations)?);
        }
        let replaced = if only.is_some() {
            maps.iter()
                .filter_map(|m| m.existing.as_ref().map(|i| i.id))
                .collect()
        } else {
            generated.iter().map(|i| i.id).collect()
        };
        Ok(MapPlan {
            set,
            maps,
            replaced,
        })
    }

    /// Writes the records of a planned map creation once its pixels exist (`pixels[i]` for
    /// `plan.maps[i]`): the new map images, then the annotations of every map in one atomic
    /// batch (if it fails, the new images are removed again and the set is as before), then
    /// the set's existing map images of those names take the new pixels, and the annotations
    /// the maps replace are soft-deleted (kept, with their history).
    pub fn commit(
        &self,
        actor: &Actor,
        plan: MapPlan,
        pixels: Vec<MapPixels>,
    ) -> Result<Vec<MadeMap>> {
        let c = self.0;
        if pixels.len() != plan.maps.len() {
            return Err(Error::invalid("pixels", "one pyramid per map is needed"));
        }
        self.images(actor, plan.set)?;
        // What the maps replace, read before the new annotations exist.
        let mut old = Vec::new();
        for image in &plan.replaced {
            for a in c
                .annotations()
                .query(actor, *image, &super::AnnotationQuery::default())?
            {
                old.push(a.id);
            }
        }
        let mut fresh = Vec::new();
        let mut targets = Vec::new();
        let mut news = Vec::new();
        let mut counts = Vec::new();
        let undo = |fresh: &[Image]| -> Result<()> {
            let mut tx = super::Tx::default();
            for i in fresh {
                tx.remove(i);
            }
            tx.commit(c)
        };
        for (map, px) in plan.maps.into_iter().zip(&pixels) {
            let (w, h) = map.size();
            let image = match map.existing {
                Some(i) => i,
                None => {
                    let mut new = NewImage::new(plan.set, map.name.clone(), w.into(), h.into());
                    new.filename.clone_from(&px.filename);
                    new.original.clone_from(&px.filename);
                    new.image_type = ImageType::ServerGenerated;
                    match c.images().add(actor, new) {
                        Ok(i) => {
                            fresh.push(i.clone());
                            i
                        }
                        Err(e) => {
                            undo(&fresh)?;
                            return Err(e);
                        }
                    }
                }
            };
            counts.push(map.annotations.len());
            news.extend(map.annotations.into_iter().map(|mut n| {
                n.image = image.id;
                n
            }));
            targets.push((image, (w, h)));
        }
        if let Err(e) = c.annotations().create_many(actor, news) {
            undo(&fresh)?;
            return Err(e);
        }
        let mut made = Vec::new();
        for (((image, (w, h)), px), count) in targets.into_iter().zip(pixels).zip(counts) {
            let image = if fresh.iter().any(|f| f.id == image.id) {
                image
            } else {
                c.modify::<Image>(image.id.0, |old| {
                    let mut n = old.clone();
                    n.filename.clone_from(&px.filename);
                    n.original.clone_from(&px.filename);
                    (n.width, n.height) = (u64::from(w), u64::from(h));
                    n.state = PixelState::Ready;
                    n.state_detail.clear();
                    Ok((n, Vec::new()))
                })?
            };
            made.push(MadeMap {
                image,
                annotations: count,
            });
        }
        if !old.is_empty() {
            c.annotations().delete_many(actor, &old)?;
        }
        Ok(made)
    }

    /// Pushes the classes given on the maps of `set` back to the originals (EXACT's
    /// `annotation_map/sync/`): every live annotation of an original image whose UUID a map
    /// annotation carries with another type takes that type, in one atomic batch through the
    /// ordinary update (so each change is in the original's history). Answers, per original
    /// changed, EXACT's `"Id: <id> Original Type: <a> New Type: <b>"`.
    pub fn sync(&self, actor: &Actor, set: ImageSetId) -> Result<BTreeMap<AnnotationId, String>> {
        let c = self.0;
        let (originals, generated) = self.images(actor, set)?;
        let all = super::AnnotationQuery::default();
        let mut wanted: HashMap<uuid::Uuid, AnnotationTypeId> = HashMap::new();
        for image in &generated {
            c.annotations().query_each(actor, image.id, &all, |a| {
                wanted.insert(a.unique_identifier, a.annotation_type);
            })?;
        }
        let mut changes = Vec::new();
        if !wanted.is_empty() {
            for image in &originals {
                c.annotations().query_each(actor, image.id, &all, |a| {
                    if let Some(t) = wanted.get(&a.unique_identifier)
                        && *t != a.annotation_type
                    {
                        changes.push((a.id, a.annotation_type, *t));
                    }
                })?;
            }
        }
        let mut names: HashMap<AnnotationTypeId, String> = HashMap::new();
        let mut out = BTreeMap::new();
        for (id, from, to) in &changes {
            for t in [from, to] {
                if !names.contains_key(t) {
                    let ty: AnnotationType = c.load(t.0)?;
                    names.insert(*t, ty.name);
                }
            }
            out.insert(
                *id,
                format!(
                    "Id: {} Original Type: {} New Type: {}",
                    id.0, names[from], names[to]
                ),
            );
        }
        let patches = changes
            .into_iter()
            .map(|(id, _, to)| {
                (
                    id,
                    super::AnnotationPatch {
                        annotation_type: Some(to),
                        ..Default::default()
                    },
                )
            })
            .collect();
        c.annotations().update_many(actor, patches)?;
        Ok(out)
    }
}

/// The map of one type: grid, patches and the annotations moved onto it.
fn plan_type(
    ty: AnnotationType,
    name: String,
    existing: Option<Image>,
    mut annotations: Vec<(Annotation, &Image)>,
) -> Result<TypeMap> {
    let n = annotations.len();
    if n > MAX_MAP_ANNOTATIONS {
        return Err(Error::invalid(
            "annotation_type",
            format!(
                "{} has {n} annotations; a map holds at most {MAX_MAP_ANNOTATIONS}",
                ty.name
            ),
        ));
    }
    let global = ty.vector_type == VectorType::Global;
    let context = if global { 0.0 } else { CONTEXT };
    if ty.default_width == 0 || ty.default_height == 0 {
        return Err(Error::invalid(
            "annotation_type",
            format!(
                "type {:?} has no default size ({}x{}): its map's patch size comes from it",
                ty.name, ty.default_width, ty.default_height
            ),
        ));
    }
    let pw = (f64::from(ty.default_width) * (1.0 + context)) as u32;
    let ph = (f64::from(ty.default_height) * (1.0 + context)) as u32;
    let side = (n as f64).sqrt().ceil() as u32;
    let (mw, mh) = (
        u64::from(side) * u64::from(pw),
        u64::from(side) * u64::from(ph),
    );
    let band = mw * u64::from(ph) * 3;
    if mw.max(mh) > crate::limits::MAX_IMAGE_SIDE || band > MAX_BAND_BYTES {
        return Err(Error::invalid(
            "annotation_type",
            format!(
                "the map of {:?} would be {mw}x{mh} pixels ({n} patches of {pw}x{ph}), beyond the limits of one image",
                ty.name
            ),
        ));
    }
    // EXACT pops ids from the end of the image-ordered list and fills column by column.
    annotations.reverse();
    let mut patches = Vec::with_capacity(n);
    let mut news = Vec::with_capacity(n);
    for (k, (a, image)) in annotations.into_iter().enumerate() {
        let cell = ((k as u32) / side, (k as u32) % side);
        let (iw, ih) = (image.width.max(1) as f64, image.height.max(1) as f64);
        let bbox = a.vector.as_ref().and_then(|v| v.bbox()).filter(|_| !global);
        let (x0, y0, w0, h0) = match bbox {
            Some(b) => {
                // Points and lines have no extent: the default size around them.
                let (mut w, mut h) = (b.max_x - b.min_x, b.max_y - b.min_y);
                let (mut x, mut y) = (b.min_x, b.min_y);
                if w < 1.0 {
                    w = f64::from(ty.default_width);
                    x -= w / 2.0;
                }
                if h < 1.0 {
                    h = f64::from(ty.default_height);
                    y -= h / 2.0;
                }
                (x, y, w, h)
            }
            None => (0.0, 0.0, iw, ih),
        };
        // Context centred on the annotation, clamped to the image.
        let (w, h) = (w0 * (1.0 + context), h0 * (1.0 + context));
        let x = (x0 - (w - w0) / 2.0).clamp(0.0, iw - 1.0).floor();
        let y = (y0 - (h - h0) / 2.0).clamp(0.0, ih - 1.0).floor();
        let w = w.ceil().min(iw - x).max(1.0);
        let h = h.ceil().min(ih - y).max(1.0);
        let (cx, cy) = (
            f64::from(cell.0) * f64::from(pw),
            f64::from(cell.1) * f64::from(ph),
        );
        let (sx, sy) = (f64::from(pw) / w, f64::from(ph) / h);
        let vector = if global {
            None
        } else {
            a.vector.as_ref().map(|v| Vector {
                points: v
                    .points
                    .iter()
                    .map(|p| {
                        Point::new(((p.x - x) * sx + cx).round(), ((p.y - y) * sy + cy).round())
                    })
                    .collect(),
                frame: None,
            })
        };
        let mut new = NewAnnotation::new(ty.id, ImageId(0), vector);
        new.concealed = a.concealed;
        new.blurred = a.blurred;
        new.description = a.description.clone();
        new.meta_data = a.meta_data.clone();
        new.unique_identifier = Some(a.unique_identifier);
        news.push(new);
        patches.push(MapPatch {
            source: image.id,
            region: (x as u64, y as u64, w as u32, h as u32),
            cell,
        });
    }
    Ok(TypeMap {
        annotation_type: ty,
        name,
        grid: (side, side),
        patch: (pw, ph),
        patches,
        annotations: news,
        existing,
    })
}
