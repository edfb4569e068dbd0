//! Annotation maps below the handle (EXACT's `annotation_map/create/` and `…/sync/`): the
//! core plans and checks a map ([`exact_core::catalog::Maps`]), this module makes its pixels —
//! each patch read from its slide at level 0 and resized to the patch size, one grid row of
//! patches at a time, pushed row by row into a tiled JPEG pyramid ([`RowWriter`]), so memory
//! is one grid row whatever the number of patches — and the core then writes the records.

use super::pending::{fresh_dir, mark_pending, remove_dir};
use super::receive::put_file;
use super::{blob_name, blocking};
use crate::Exact;
use exact_core::catalog::{MadeMap, MapPixels, TypeMap};
use exact_core::{Actor, AnnotationId, AnnotationTypeId, Error, ImageId, ImageSetId, Result};
use exact_tiles::DeepZoomGenerator;
use exact_tiles::convert::{ConvertOptions, RowWriter};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Annotation map use cases, from [`Exact::annotation_maps`].
pub struct AnnotationMaps<'a> {
    exact: &'a Exact,
}

impl Exact {
    /// Annotation maps: collages of a set's annotations by type, and relabels synced back.
    pub fn annotation_maps(&self) -> AnnotationMaps<'_> {
        AnnotationMaps { exact: self }
    }
}

impl AnnotationMaps<'_> {
    /// Makes the maps of `set` — of every type with live annotations, or of `only` — as
    /// server-generated images named `<product>_<type>.tiff` whose annotations carry their
    /// originals' UUIDs. Every check (edit rights, the type, annotations to map, limits)
    /// happens before a pixel is written; if making the pixels fails, nothing is kept.
    pub async fn create(
        &self,
        actor: &Actor,
        set: ImageSetId,
        only: Option<AnnotationTypeId>,
    ) -> Result<Vec<MadeMap>> {
        let (e, a) = (self.exact.clone(), actor.clone());
        let plan = blocking(move || e.catalog().maps().plan(&a, set, only)).await?;
        let blobs = self.exact.blobs();
        let (dir, marker) = fresh_dir();
        mark_pending(blobs, &marker).await?;
        let mut pixels = Vec::new();
        for map in &plan.maps {
            match self.render(actor, map, &dir).await {
                Ok(p) => pixels.push(p),
                Err(e) => {
                    remove_dir(blobs, &dir).await;
                    let _ = blobs.delete(&marker).await;
                    return Err(e);
                }
            }
        }
        let (e, a) = (self.exact.clone(), actor.clone());
        let made = blocking(move || e.catalog().maps().commit(&a, plan, pixels)).await;
        // Every check ran in the plan; a commit that still fails (a race, the store) may
        // have written a record naming these files, so they stay (an orphan at worst).
        let _ = blobs.delete(&marker).await;
        let made = made?;
        for m in &made {
            self.exact.pixel_cache().invalidate(&m.image);
        }
        Ok(made)
    }

    /// Pushes the classes given on the maps of `set` back to their originals (with
    /// history); per original changed, EXACT's description of the change.
    pub async fn sync(
        &self,
        actor: &Actor,
        set: ImageSetId,
    ) -> Result<BTreeMap<AnnotationId, String>> {
        let (e, a) = (self.exact.clone(), actor.clone());
        blocking(move || e.catalog().maps().sync(&a, set)).await
    }

    /// The pyramid of one map, written into the blob directory `dir`.
    async fn render(&self, actor: &Actor, map: &TypeMap, dir: &str) -> Result<MapPixels> {
        let blobs = self.exact.blobs();
        let key = format!("{dir}/{}", blob_name(&map.name));
        let staging = tempfile::tempdir().map_err(|e| Error::backend("staging", e))?;
        let output = match blobs.local_path(&key)? {
            Some(p) => {
                if let Some(parent) = p.parent() {
                    tokio::fs::create_dir_all(parent)
                        .await
                        .map_err(|e| Error::backend("blobs", e))?;
                }
                p.with_extension("part~")
            }
            None => staging.path().join("map.tiff"),
        };
        let written = self.compose(actor, map, &output).await;
        if let Err(e) = written {
            let _ = tokio::fs::remove_file(&output).await;
            return Err(e);
        }
        put_file(blobs, &output, &key).await?;
        Ok(MapPixels { filename: key })
    }

    async fn compose(&self, actor: &Actor, map: &TypeMap, output: &std::path::Path) -> Result<()> {
        let (w, h) = map.size();
        let (pw, ph) = map.patch;
        let name = map.name.clone();
        let out = output.to_owned();
        let tiles = |e| crate::pixels::slide_error(&name, e);
        let mut writer = Some(
            blocking({
                let name = name.clone();
                move || {
                    RowWriter::create(&out, w, h, &ConvertOptions::default())
                        .map_err(|e| crate::pixels::slide_error(&name, e))
                }
            })
            .await?,
        );
        let mut rows: Vec<Vec<usize>> = vec![Vec::new(); map.grid.1 as usize];
        for (i, p) in map.patches.iter().enumerate() {
            rows[p.cell.1 as usize].push(i);
        }
        let mut slides: HashMap<ImageId, Arc<DeepZoomGenerator>> = HashMap::new();
        let stride = w as usize * 3;
        for row in rows {
            // EXACT's background: black where no patch is.
            let mut band = vec![0u8; stride * ph as usize];
            for i in row {
                let p = &map.patches[i];
                let g = match slides.get(&p.source) {
                    Some(g) => g.clone(),
                    None => {
                        let (_, g) = self.exact.pixels(actor, p.source, None).await?;
                        slides.insert(p.source, g.clone());
                        g
                    }
                };
                let (x, y, rw, rh) = p.region;
                let img = g
                    .slide()
                    .read_region_resized(
                        x as i64,
                        y as i64,
                        0,
                        rw,
                        rh,
                        Some((pw, ph)),
                        [255, 255, 255],
                    )
                    .await
                    .map_err(tiles)?;
                let img = if img.channels == 3 {
                    img
                } else {
                    img.to_rgb([255, 255, 255])
                };
                let x0 = p.cell.0 as usize * pw as usize * 3;
                let line = pw as usize * 3;
                for (r, src) in img.data.chunks_exact(line).take(ph as usize).enumerate() {
                    band[r * stride + x0..r * stride + x0 + line].copy_from_slice(src);
                }
            }
            let mut wr = writer
                .take()
                .expect("the writer is put back after every band");
            let name = name.clone();
            writer = Some(
                blocking(move || {
                    for r in band.chunks_exact(stride) {
                        wr.push_row(r)
                            .map_err(|e| crate::pixels::slide_error(&name, e))?;
                    }
                    Ok(wr)
                })
                .await?,
            );
        }
        let wr = writer
            .take()
            .expect("the writer is put back after every band");
        blocking(move || {
            wr.finish()
                .map(|_| ())
                .map_err(|e| crate::pixels::slide_error(&name, e))
        })
        .await
    }
}
