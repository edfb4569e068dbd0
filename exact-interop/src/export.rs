//! The export use case: every annotation of a set the actor may see (deleted ones included,
//! flagged), image by image in storage order, streamed through one format's [`Sink`] into any
//! writer. Nothing is collected: memory stays flat in the number of annotations.

use crate::{Format, Interop};
use exact_core::catalog::AnnotationQuery;
use exact_core::model::{Annotation, AnnotationType, Image, ImageSet};
use exact_core::{Actor, AnnotationTypeId, Error, ImageSetId, Result, UserId};
use std::collections::HashMap;
use std::io::Write;

/// What an export may leave out.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Leave soft-deleted annotations out (they are exported, flagged, by default).
    pub skip_deleted: bool,
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportSummary {
    /// Annotations written.
    pub annotations: u64,
    /// Images visited.
    pub images: u64,
}

/// What every row of an export knows up front.
pub(crate) struct Head<'a> {
    pub set: &'a ImageSet,
    pub images: &'a [Image],
    pub types: &'a [AnnotationType],
}

impl Head<'_> {
    /// The coordinate frame every export states.
    pub fn frame_note(&self) -> String {
        let mpp: Vec<String> = self
            .images
            .iter()
            .filter(|i| i.mpp > 0.0)
            .map(|i| format!("{}: {} µm/px", i.name, i.mpp))
            .collect();
        if mpp.is_empty() {
            "level-0 pixels, origin top-left".to_owned()
        } else {
            format!("level-0 pixels, origin top-left ({})", mpp.join("; "))
        }
    }
}

/// One annotation with what a format writes beside it.
pub(crate) struct Row<'a> {
    pub annotation: &'a Annotation,
    pub atype: &'a AnnotationType,
    pub image: &'a Image,
    pub user: Option<&'a str>,
}

/// A format's writer.
pub(crate) trait Sink {
    fn begin(&mut self, head: &Head) -> std::io::Result<()>;
    fn row(&mut self, row: &Row) -> std::io::Result<()>;
    fn end(&mut self) -> std::io::Result<()>;
}

fn io(e: std::io::Error) -> Error {
    Error::backend("export output", e)
}

impl Interop<'_> {
    /// Writes every annotation of `set` the actor may read to `out` in `format`, calling
    /// `progress(written)` now and then. Needs read rights on the set.
    pub fn export(
        &self,
        actor: &Actor,
        set: ImageSetId,
        format: Format,
        options: &ExportOptions,
        out: &mut dyn Write,
        progress: &mut dyn FnMut(u64),
    ) -> Result<ExportSummary> {
        let c = self.0;
        let the_set = c.image_sets().get(actor, set)?;
        let mut images = c.image_sets().images(actor, set)?;
        images.sort_by_key(|i| i.id);
        let mut types = c.annotation_types().of_set(actor, set)?;
        types.sort_by_key(|t| t.id);
        let mut type_index: HashMap<AnnotationTypeId, usize> =
            types.iter().enumerate().map(|(i, t)| (t.id, i)).collect();
        let mut extra_types: Vec<AnnotationType> = Vec::new();
        let mut users: HashMap<UserId, Option<String>> = HashMap::new();
        let head = Head {
            set: &the_set,
            images: &images,
            types: &types,
        };
        let mut sink: Box<dyn Sink + '_> = match format {
            Format::GeoJson => Box::new(crate::geojson::GeoJsonSink::new(&mut *out)),
            Format::Csv => Box::new(crate::csv::CsvSink::new(&mut *out)),
            Format::Coco => Box::new(crate::coco::CocoSink::new(&mut *out)),
            Format::ExactLabels => Box::new(crate::labels::LabelSink::new(&mut *out)),
            Format::SlideRunner => Box::new(crate::sliderunner::SlideRunnerSink::new(&mut *out)),
            Format::Asap => Box::new(crate::asap::AsapSink::new(&mut *out)),
            Format::ImageScope => Box::new(crate::imagescope::ImageScopeSink::new(&mut *out)),
        };
        sink.begin(&head).map_err(io)?;
        let mut summary = ExportSummary::default();
        let query = AnnotationQuery {
            deleted: if options.skip_deleted {
                Some(false)
            } else {
                None
            },
            ..AnnotationQuery::everything()
        };
        for image in &images {
            summary.images += 1;
            // Written as the store streams them (grid cell by cell): nothing is collected, so
            // memory stays flat however many annotations an image has.
            let mut failed: Option<Error> = None;
            c.annotations().query_each(actor, image.id, &query, |a| {
                if failed.is_some() {
                    return;
                }
                let r = (|| -> Result<()> {
                    let ti = match type_index.get(&a.annotation_type) {
                        Some(i) => *i,
                        None => {
                            // A type no longer offered on the set (detached product, inactive):
                            // still exported, under its own name.
                            let t = c.annotation_types().get(actor, a.annotation_type)?;
                            extra_types.push(t);
                            let i = types.len() + extra_types.len() - 1;
                            type_index.insert(a.annotation_type, i);
                            i
                        }
                    };
                    let atype = if ti < types.len() {
                        &types[ti]
                    } else {
                        &extra_types[ti - types.len()]
                    };
                    let user = match a.user {
                        Some(u) => users
                            .entry(u)
                            .or_insert_with(|| c.export_formats().user_name(Some(u)).ok().flatten())
                            .as_deref(),
                        None => None,
                    };
                    sink.row(&Row {
                        annotation: &a,
                        atype,
                        image,
                        user,
                    })
                    .map_err(io)?;
                    summary.annotations += 1;
                    if summary.annotations.is_multiple_of(65_536) {
                        progress(summary.annotations);
                    }
                    Ok(())
                })();
                if let Err(e) = r {
                    failed = Some(e);
                }
            })?;
            if let Some(e) = failed {
                return Err(e);
            }
        }
        sink.end().map_err(io)?;
        progress(summary.annotations);
        Ok(summary)
    }
}
