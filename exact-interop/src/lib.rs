//! exact-interop: annotations in and out of exact-rs. One import/export interface
//! ([`Format`], [`Item`]) with one module per file format — QuPath GeoJSON, COCO JSON, CSV and
//! EXACT's label-upload lines — and the two use cases over the [`Catalog`],
//! [`Interop::import`] and [`Interop::export`], which run with the actor's permissions.
//!
//! SlideRunner's SQLite databases, ASAP's XML and Aperio ImageScope's XML are modules of the
//! same interface (the XML formats read with quick-xml, tag by tag).
//!
//! Every format reads as a stream of [`Item`]s (one annotation each, with names instead of ids)
//! and writes from one. Imports are atomic: the whole file is read and checked first, then one
//! batch is written; nothing is written when any item is refused. Importing the same file twice
//! creates nothing the second time (same UUID, else same image, type and geometry).
//!
//! ```
//! use exact_interop::Format;
//! assert_eq!(Format::parse("geojson").unwrap(), Format::GeoJson);
//! assert_eq!(Format::detect(br#"{"type":"FeatureCollection","features":[]}"#), Some(Format::GeoJson));
//! assert_eq!(Format::detect(b"image,type,vector_type,vector\n"), Some(Format::Csv));
//! assert_eq!(Format::detect(b"<?xml version=\"1.0\"?><ASAP_Annotations>"), Some(Format::Asap));
//! assert_eq!(Format::detect(b"<Annotations MicronsPerPixel=\"0.25\">"), Some(Format::ImageScope));
//! ```
#![warn(missing_docs)]

pub mod asap;
pub mod coco;
pub mod csv;
pub mod exact_template;
mod export;
pub mod geojson;
pub mod imagescope;
mod import;
mod item;
pub mod labels;
mod rle;
pub mod sliderunner;
mod spool;
mod xmlio;

pub use export::{ExportOptions, ExportSummary};
pub use import::{BATCH, ImportOptions, ImportProgress, ImportReport, Refusal};
pub use item::{Item, ResumeAt, Shape, vector_type_from_name, vector_type_name};

use exact_core::{Catalog, Error, Result};

/// A file format annotations can be imported from or exported to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// GeoJSON as QuPath writes and reads it (FeatureCollection, Feature, or a bare list).
    GeoJson,
    /// COCO object-detection JSON.
    Coco,
    /// One row per annotation, header [`csv::HEADER`].
    Csv,
    /// EXACT's label-upload lines `imagename|typename|{vector}|flags|uuid`.
    ExactLabels,
    /// SlideRunner's SQLite database (both schemas read; the current one written).
    SlideRunner,
    /// ASAP's XML (`ASAP_Annotations`).
    Asap,
    /// Aperio ImageScope's XML (`Annotations/Annotation/Regions`).
    ImageScope,
}

impl Format {
    /// Every format, in the order the CLI lists them.
    pub const ALL: &'static [Format] = &[
        Format::GeoJson,
        Format::Coco,
        Format::Csv,
        Format::ExactLabels,
        Format::SlideRunner,
        Format::Asap,
        Format::ImageScope,
    ];

    /// The name the CLI, the API (`?format=`) and Python use.
    pub fn name(self) -> &'static str {
        match self {
            Format::GeoJson => "geojson",
            Format::Coco => "coco",
            Format::Csv => "csv",
            Format::ExactLabels => "exact-labels",
            Format::SlideRunner => "sliderunner",
            Format::Asap => "asap",
            Format::ImageScope => "imagescope",
        }
    }

    /// Parses a format name; the error lists the known ones.
    pub fn parse(name: &str) -> Result<Format> {
        let n = name.trim().to_ascii_lowercase();
        if n.starts_with(exact_template::PREFIX) {
            return Err(Error::invalid(
                "format",
                format!(
                    "{name:?} is an EXACT export format: those only export (exact export \
                     --format exact:<name>); EXACT's label lines import as exact-labels"
                ),
            ));
        }
        Format::ALL
            .iter()
            .copied()
            .find(|f| f.name() == n || (n == "qupath" && *f == Format::GeoJson))
            .ok_or_else(|| {
                let known: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
                if n.starts_with("exact:") {
                    Error::Unsupported {
                        what: format!(
                            "format {name:?} is not supported by this build yet (known: {})",
                            known.join(", ")
                        ),
                    }
                } else {
                    Error::invalid(
                        "format",
                        format!("unknown format {name:?}; known: {}", known.join(", ")),
                    )
                }
            })
    }

    /// A format guessed from the first bytes of a file, `None` when nothing fits.
    pub fn detect(head: &[u8]) -> Option<Format> {
        if head.starts_with(sliderunner::MAGIC) {
            return Some(Format::SlideRunner);
        }
        let text = String::from_utf8_lossy(&head[..head.len().min(64 * 1024)]);
        let t = text.trim_start_matches('\u{feff}').trim_start();
        if t.starts_with('{') || t.starts_with('[') {
            let coco = ["\"images\"", "\"categories\""]
                .iter()
                .any(|k| t.contains(k));
            let geo = ["\"Feature", "\"geometry\""].iter().any(|k| t.contains(k));
            return match (coco, geo) {
                (true, false) => Some(Format::Coco),
                (_, true) => Some(Format::GeoJson),
                // An empty bare list or collection is still GeoJSON.
                _ => Some(Format::GeoJson),
            };
        }
        if t.starts_with('<') {
            return xml_root(t).and_then(|root| match root {
                asap::ROOT => Some(Format::Asap),
                imagescope::ROOT => Some(Format::ImageScope),
                _ => None,
            });
        }
        let first = t.lines().next().unwrap_or("");
        if first.starts_with("image,type") {
            return Some(Format::Csv);
        }
        if first.split('|').count() >= 3 {
            return Some(Format::ExactLabels);
        }
        None
    }

    /// The file extension of an export.
    pub fn extension(self) -> &'static str {
        match self {
            Format::GeoJson => "geojson",
            Format::Coco => "json",
            Format::Csv => "csv",
            Format::ExactLabels => "txt",
            Format::SlideRunner => "sqlite",
            Format::Asap | Format::ImageScope => "xml",
        }
    }

    /// The media type of an export.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::GeoJson => "application/geo+json",
            Format::Coco => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
            Format::ExactLabels => "text/plain; charset=utf-8",
            Format::SlideRunner => "application/vnd.sqlite3",
            Format::Asap | Format::ImageScope => "application/xml",
        }
    }
}

/// The name of an XML document's root element, past the declaration, comments and DOCTYPE.
fn xml_root(mut t: &str) -> Option<&str> {
    loop {
        t = t.trim_start();
        if let Some(rest) = t.strip_prefix("<?") {
            t = &rest[rest.find("?>")? + 2..];
        } else if let Some(rest) = t.strip_prefix("<!--") {
            t = &rest[rest.find("-->")? + 3..];
        } else if let Some(rest) = t.strip_prefix("<!") {
            t = &rest[rest.find('>')? + 1..];
        } else {
            let rest = t.strip_prefix('<')?;
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
                .unwrap_or(rest.len());
            return Some(&rest[..end]);
        }
    }
}

/// The import/export use cases over a catalog (`Exact::interop()` in exact-store).
pub struct Interop<'a>(pub &'a Catalog);
