//! The import use case. The whole file is read (streamed, item by item) and every item
//! checked — image, class, geometry, bounds, duplicates — before anything is written; checked
//! annotations wait in a spool file (compact binary, see [`spool`]), so memory does not grow
//! with the file. Then missing images and types are created (only with `create_missing`) and
//! the spool goes through the catalog's `create_many` (which checks the actor's rights) in
//! atomic batches of [`BATCH`] annotations. Any refused item means nothing is written, and the
//! report names each refusal's place. A batch that fails takes back the batches written before
//! it (ids are known: each batch's ids are consecutive), so a failed import leaves no
//! annotation; a process that dies between two batches leaves the batches written so far,
//! which importing the same file again completes (duplicates are skipped). With `verify`, each
//! batch is verified right after it is written. After each batch the progress callback gets
//! the place in the file of the first annotation not yet written ([`ImportProgress::resume_at`],
//! GeoJSON and SlideRunner), from which [`Interop::import_from`] reads on after a restart.

use crate::item::{Item, ResumeAt};
use crate::{Format, Interop};
use exact_core::catalog::{
    AnnotationQuery, NewAnnotation, NewAnnotationType, NewImage, NewProduct,
};
use exact_core::model::{Annotation, AnnotationType, Image, VectorType};
use exact_core::vector::Vector;
use exact_core::{Actor, AnnotationTypeId, Error, ImageId, ImageSetId, Result, UserId};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::io::Read;
use uuid::Uuid;

/// Annotations per atomic write: large enough that each touched grid cell gets a page's worth
/// per batch, small enough that a batch's memory (about 1 KiB per annotation while it is
/// encoded and committed) stays near 100 MiB whatever the file's size.
pub const BATCH: usize = 100_000;

/// How far an import has come, handed to the progress callback now and then.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ImportProgress {
    /// `reading` (parsing and checking) or `writing`.
    pub phase: &'static str,
    /// Bytes of the file read so far.
    pub bytes_read: u64,
    /// Items (features, rows, lines) read and checked so far.
    pub items_read: u64,
    /// Annotations to write (known once reading is done).
    pub to_write: u64,
    /// Annotations written so far.
    pub written: u64,
    /// Once a batch is written (and verified): where in the file the first annotation not
    /// yet written starts; reading on from there (with [`Interop::import_from`]) finishes the
    /// import. `None` before the first batch, or for formats read only whole.
    pub resume_at: Option<ResumeAt>,
}

/// Counts the bytes read through it.
struct Counted<'r> {
    inner: &'r mut dyn Read,
    bytes: std::rc::Rc<std::cell::Cell<u64>>,
}

impl Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes.set(self.bytes.get() + n as u64);
        Ok(n)
    }
}

/// How to import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The file's format; detected from its first bytes when `None`.
    pub format: Option<Format>,
    /// Create annotation types and images the file names but the set lacks.
    pub create_missing: bool,
    /// Check everything and report, write nothing.
    pub dry_run: bool,
    /// The image for items that name none (QuPath's per-image GeoJSON); a set with one image
    /// needs no name.
    pub image: Option<String>,
    /// Verify each created annotation as the importing user (EXACT's label upload checkbox).
    pub verify: bool,
    /// Annotations per atomic write; `None` (or 0) = [`BATCH`].
    pub batch_size: Option<usize>,
}

/// One item that was refused, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// Where in the file: `feature 3`, `row 12`, `line 7`.
    pub place: String,
    /// What is wrong.
    pub reason: String,
}

/// What an import did (or, refused or dry, would have done).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// The format read.
    pub format: &'static str,
    /// Items read from the file.
    pub read: u64,
    /// Annotations created (0 when refused or dry).
    pub created: u64,
    /// Items skipped as already present (same UUID, else same image, type and geometry).
    pub skipped_duplicates: u64,
    /// Types created (or to create, when dry).
    pub created_types: Vec<String>,
    /// Images created (or to create, when dry).
    pub created_images: Vec<String>,
    /// Refused items; any refusal means nothing was written. At most 100 are listed.
    pub refused: Vec<Refusal>,
    /// How many items were refused in all.
    pub refused_count: u64,
    /// Things carried differently than the file said (e.g. a creator kept in `meta_data`).
    pub notes: Vec<String>,
    /// Whether anything was written.
    pub written: bool,
    /// A dry run.
    pub dry_run: bool,
}

const MAX_LISTED: usize = 100;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum ImageRef {
    Known(ImageId),
    New(usize),
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum TypeRef {
    Known(AnnotationTypeId),
    New(usize),
}

struct PlannedImage {
    name: String,
    width: f64,
    height: f64,
}

struct Plan<'c> {
    interop: &'c Interop<'c>,
    actor: &'c Actor,
    set: ImageSetId,
    options: &'c ImportOptions,
    images: Vec<Image>,
    by_name: HashMap<String, usize>,
    by_stem: HashMap<String, Vec<usize>>,
    types: HashMap<String, AnnotationType>,
    new_images: Vec<PlannedImage>,
    new_image_index: HashMap<String, usize>,
    new_types: Vec<NewAnnotationType>,
    new_type_index: HashMap<String, usize>,
    existing: HashMap<ImageId, (HashSet<Uuid>, HashSet<u64>)>,
    seen_uuids: HashSet<Uuid>,
    seen_keys: HashSet<(ImageRef, u64)>,
    users: HashMap<String, Option<UserId>>,
    me: Option<String>,
    pending: crate::spool::Spool,
    report: ImportReport,
}

fn stem(name: &str) -> &str {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    base.split_once('.').map(|(s, _)| s).unwrap_or(base)
}

fn geometry_key(atype: &str, v: Option<&Vector>) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    atype.hash(&mut h);
    if let Some(v) = v {
        v.frame.hash(&mut h);
        for p in &v.points {
            p.x.to_bits().hash(&mut h);
            p.y.to_bits().hash(&mut h);
        }
    } else {
        0xdead_u32.hash(&mut h);
    }
    h.finish()
}

impl<'c> Plan<'c> {
    fn refuse(&mut self, place: String, reason: String) {
        self.report.refused_count += 1;
        if self.report.refused.len() < MAX_LISTED {
            self.report.refused.push(Refusal { place, reason });
        }
    }

    fn image_of(&mut self, item: &Item) -> std::result::Result<ImageRef, String> {
        // Borrowed: the name is copied only for an image to create, not for every item.
        let options = self.options;
        let name = match item.image.as_deref().or(options.image.as_deref()) {
            Some(n) => n,
            None if self.images.len() == 1 => return Ok(ImageRef::Known(self.images[0].id)),
            None => {
                return Err(format!(
                    "names no image and the set has {} images; give the image (--image NAME)",
                    self.images.len()
                ));
            }
        };
        if let Some(i) = self.by_name.get(name) {
            return Ok(ImageRef::Known(self.images[*i].id));
        }
        if let Some(list) = self.by_stem.get(stem(name)) {
            if list.len() == 1 {
                return Ok(ImageRef::Known(self.images[list[0]].id));
            }
            return Err(format!(
                "image {name:?} matches {} images by file stem",
                list.len()
            ));
        }
        if let Some(i) = self.new_image_index.get(name) {
            return Ok(ImageRef::New(*i));
        }
        if !self.options.create_missing {
            return Err(format!(
                "image {name:?} matches no image of set {} by name or file stem (--create-missing adds it)",
                self.set.0
            ));
        }
        self.new_images.push(PlannedImage {
            name: name.to_owned(),
            width: 1.0,
            height: 1.0,
        });
        self.new_image_index
            .insert(name.to_owned(), self.new_images.len() - 1);
        Ok(ImageRef::New(self.new_images.len() - 1))
    }

    fn type_of(
        &mut self,
        item: &Item,
    ) -> std::result::Result<(TypeRef, VectorType, (f64, f64)), String> {
        if let Some(t) = self.types.get(&item.type_name) {
            let size = (t.default_width as f64, t.default_height as f64);
            return Ok((TypeRef::Known(t.id), t.vector_type, size));
        }
        if let Some(i) = self.new_type_index.get(&item.type_name) {
            let t = &self.new_types[*i];
            let size = (t.default_width as f64, t.default_height as f64);
            return Ok((TypeRef::New(*i), t.vector_type, size));
        }
        if !self.options.create_missing {
            return Err(format!(
                "unknown class {:?}: no active annotation type of that name is offered on set {} (--create-missing creates it)",
                item.type_name, self.set.0
            ));
        }
        if item.type_name.is_empty() || item.type_name.chars().count() > 50 {
            return Err(format!(
                "class name {:?} must be 1 to 50 characters",
                item.type_name
            ));
        }
        // The product is filled in when the plan is carried out.
        let mut t = NewAnnotationType::new(
            item.type_name.clone(),
            item.natural_type(),
            exact_core::ProductId(0),
        );
        if let Some(c) = &item.color {
            t.color_code = c.clone();
        }
        t.closed = t.vector_type == VectorType::Polygon;
        let size = (t.default_width as f64, t.default_height as f64);
        let vt = t.vector_type;
        self.new_types.push(t);
        self.new_type_index
            .insert(item.type_name.clone(), self.new_types.len() - 1);
        Ok((TypeRef::New(self.new_types.len() - 1), vt, size))
    }

    fn existing_of(&mut self, image: ImageId) -> Result<&(HashSet<Uuid>, HashSet<u64>)> {
        if !self.existing.contains_key(&image) {
            let mut uuids = HashSet::new();
            let mut keys = HashSet::new();
            let mut names: HashMap<AnnotationTypeId, String> = HashMap::new();
            for t in self.types.values() {
                names.insert(t.id, t.name.clone());
            }
            self.interop.0.annotations().query_each(
                self.actor,
                image,
                &AnnotationQuery::everything(),
                |a: Annotation| {
                    uuids.insert(a.unique_identifier);
                    let n = names
                        .get(&a.annotation_type)
                        .map(String::as_str)
                        .unwrap_or("");
                    keys.insert(geometry_key(n, a.vector.as_ref()));
                },
            )?;
            self.existing.insert(image, (uuids, keys));
        }
        Ok(&self.existing[&image])
    }

    fn user_of(&mut self, name: &str) -> Result<Option<UserId>> {
        if let Some(u) = self.users.get(name) {
            return Ok(*u);
        }
        let u = self.interop.0.users().by_username(name)?.map(|u| u.id);
        self.users.insert(name.to_owned(), u);
        Ok(u)
    }

    fn take(&mut self, item: Item) -> Result<()> {
        self.report.read += 1;
        let resume = item.resume;
        let image = match self.image_of(&item) {
            Ok(i) => i,
            Err(r) => {
                self.refuse(item.place, r);
                return Ok(());
            }
        };
        let (atype, vt, size) = match self.type_of(&item) {
            Ok(t) => t,
            Err(r) => {
                self.refuse(item.place, r);
                return Ok(());
            }
        };
        let vector = match item.fit(vt, size) {
            Ok(v) => v,
            Err(e) => {
                let (place, reason) = match e {
                    Error::InvalidInput { field, reason } => (field, reason),
                    other => (item.place.clone(), other.to_string()),
                };
                self.refuse(place, reason);
                return Ok(());
            }
        };
        if let (ImageRef::Known(id), Some(v)) = (image, &vector) {
            let img = self
                .images
                .iter()
                .find(|i| i.id == id)
                .expect("known image");
            let (w, h) = (img.width as f64, img.height as f64);
            let check: &[exact_core::vector::Point] = match &item.shape {
                crate::Shape::Point { at, .. } => std::slice::from_ref(at),
                _ => &v.points,
            };
            if let Some(p) = check
                .iter()
                .find(|p| p.x < 0.0 || p.y < 0.0 || p.x > w || p.y > h)
            {
                let r = format!(
                    "coordinate ({}, {}) lies outside image {:?} ({w} × {h} pixels)",
                    p.x, p.y, img.name
                );
                self.refuse(item.place, r);
                return Ok(());
            }
        }
        if let (ImageRef::New(i), Some(v)) = (image, &vector)
            && let Some(b) = v.bbox()
        {
            let p = &mut self.new_images[i];
            p.width = p.width.max(b.max_x.ceil());
            p.height = p.height.max(b.max_y.ceil());
        }
        // The geometry's hash is only needed for items without a UUID.
        let key = match item.uuid {
            Some(_) => 0,
            None => geometry_key(&item.type_name, vector.as_ref()),
        };
        let dup_existing = match image {
            ImageRef::Known(id) => {
                let (uuids, keys) = self.existing_of(id)?;
                match item.uuid {
                    Some(u) => uuids.contains(&u),
                    None => keys.contains(&key),
                }
            }
            ImageRef::New(_) => false,
        };
        let dup_file = match item.uuid {
            Some(u) => !self.seen_uuids.insert(u),
            None => !self.seen_keys.insert((image, key)),
        };
        if dup_existing || dup_file {
            self.report.skipped_duplicates += 1;
            return Ok(());
        }
        let mut new = NewAnnotation::new(AnnotationTypeId(0), ImageId(0), vector);
        new.unique_identifier = item.uuid;
        new.deleted = item.deleted;
        new.blurred = item.blurred;
        new.concealed = item.concealed;
        new.description = item.description;
        new.meta_data = item.meta_data;
        new.time = item.time;
        new.last_edit_time = item.last_edit_time;
        if let Some(name) = item.user
            && Some(&name) != self.me.as_ref()
        {
            match self.user_of(&name)? {
                Some(u) if self.actor.superuser => new.user = Some(u),
                found => {
                    let why = if found.is_some() {
                        "only superusers import on behalf of others"
                    } else {
                        "no such user here"
                    };
                    let note = format!("creator {name:?} kept as the importing user ({why})");
                    if !self.report.notes.contains(&note) && self.report.notes.len() < MAX_LISTED {
                        self.report.notes.push(note);
                    }
                }
            }
        }
        let image = match image {
            ImageRef::Known(id) => (false, id.0),
            ImageRef::New(i) => (true, i as u64),
        };
        let atype = match atype {
            TypeRef::Known(id) => (false, id.0),
            TypeRef::New(i) => (true, i as u64),
        };
        self.pending
            .push(image, atype, resume, &new)
            .map_err(|e| Error::backend("import spool", e))
    }
}

impl Interop<'_> {
    /// Imports the annotations in `input` into `set` (see the module docs), calling
    /// `progress` now and then. A report with refusals wrote nothing; an `Err` is a file that
    /// cannot be read at all (syntax, wrong format), a missing set, no rights, or a failed
    /// write (then nothing is left written either).
    pub fn import(
        &self,
        actor: &Actor,
        set: ImageSetId,
        input: &mut dyn Read,
        options: &ImportOptions,
        progress: &mut dyn FnMut(&ImportProgress),
    ) -> Result<ImportReport> {
        self.import_from(actor, set, input, options, None, progress)
    }

    /// [`Interop::import`], reading on from `resume` (a [`ImportProgress::resume_at`] of an
    /// earlier import of the same file that stopped after some batches) instead of from the
    /// start: `input` must be the file positioned at [`ResumeAt::seek_to`] (or at its start
    /// when that is `None`). The annotations before `resume` were written by the earlier run
    /// and are not read again; the report counts this run only. The file was read whole and
    /// checked before the earlier run wrote anything, so the part read here is the rest of a
    /// checked file (it is checked again all the same).
    pub fn import_from(
        &self,
        actor: &Actor,
        set: ImageSetId,
        input: &mut dyn Read,
        options: &ImportOptions,
        resume: Option<ResumeAt>,
        progress: &mut dyn FnMut(&ImportProgress),
    ) -> Result<ImportReport> {
        let c = self.0;
        let the_set = c.image_sets().get(actor, set)?;
        let rights = actor.rights(&the_set);
        if !rights.annotate && !actor.superuser {
            return Err(Error::denied(format!(
                "no rights to annotate image set {}",
                set.0
            )));
        }
        let bytes = std::rc::Rc::new(std::cell::Cell::new(
            resume.and_then(|r| r.seek_to()).unwrap_or(0),
        ));
        let mut counted = Counted {
            inner: input,
            bytes: bytes.clone(),
        };
        let input = &mut counted;
        let mut head = Vec::with_capacity(64 * 1024);
        input
            .take(64 * 1024)
            .read_to_end(&mut head)
            .map_err(|e| Error::backend("import input", e))?;
        let format = match (resume, options.format) {
            (Some(ResumeAt::GeoJson { .. }), _) => Format::GeoJson,
            (Some(ResumeAt::SlideRunner { .. }), _) => Format::SlideRunner,
            (None, Some(f)) => f,
            (None, None) => Format::detect(&head).ok_or_else(|| {
                Error::invalid(
                    "format",
                    "cannot tell the file's format from its content; name it (--format)",
                )
            })?,
        };
        let mut images = c.image_sets().images(actor, set)?;
        images.sort_by_key(|i| i.id);
        let mut by_name = HashMap::new();
        let mut by_stem: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, img) in images.iter().enumerate() {
            by_name.entry(img.name.clone()).or_insert(i);
            by_stem
                .entry(stem(&img.name).to_owned())
                .or_default()
                .push(i);
        }
        let mut types = HashMap::new();
        let mut offered = c.annotation_types().of_set(actor, set)?;
        offered.sort_by_key(|t| t.id);
        for t in offered.into_iter().filter(|t| t.active) {
            types.entry(t.name.clone()).or_insert(t);
        }
        let me = c.export_formats().user_name(Some(actor.user))?;
        let mut plan = Plan {
            interop: self,
            actor,
            set,
            options,
            images,
            by_name,
            by_stem,
            types,
            new_images: Vec::new(),
            new_image_index: HashMap::new(),
            new_types: Vec::new(),
            new_type_index: HashMap::new(),
            existing: HashMap::new(),
            seen_uuids: HashSet::new(),
            seen_keys: HashSet::new(),
            users: HashMap::new(),
            me,
            pending: crate::spool::Spool::new().map_err(|e| Error::backend("import spool", e))?,
            report: ImportReport {
                format: format.name(),
                read: 0,
                created: 0,
                skipped_duplicates: 0,
                created_types: Vec::new(),
                created_images: Vec::new(),
                refused: Vec::new(),
                refused_count: 0,
                notes: Vec::new(),
                written: false,
                dry_run: options.dry_run,
            },
        };
        let mut reader = std::io::Cursor::new(head).chain(input);
        {
            let mut sink = |item: Item| {
                plan.take(item)?;
                if plan.report.read.is_multiple_of(16_384) {
                    progress(&ImportProgress {
                        phase: "reading",
                        bytes_read: bytes.get(),
                        items_read: plan.report.read,
                        ..Default::default()
                    });
                }
                Ok(())
            };
            match format {
                Format::GeoJson => crate::geojson::read_from(&mut reader, resume, &mut sink)?,
                Format::Csv => crate::csv::read(&mut reader, &mut sink)?,
                Format::Coco => crate::coco::read(&mut reader, &mut sink)?,
                Format::ExactLabels => crate::labels::read(&mut reader, &mut sink)?,
                Format::SlideRunner => {
                    crate::sliderunner::read_from(&mut reader, resume, &mut sink)?
                }
                Format::Asap => crate::asap::read(
                    std::io::BufReader::with_capacity(1 << 16, &mut reader),
                    &mut sink,
                )?,
                Format::ImageScope => crate::imagescope::read(
                    std::io::BufReader::with_capacity(1 << 16, &mut reader),
                    &mut sink,
                )?,
            }
        }
        progress(&ImportProgress {
            phase: "reading",
            bytes_read: bytes.get(),
            items_read: plan.report.read,
            to_write: plan.pending.len(),
            ..Default::default()
        });
        plan.report.created_types = plan.new_types.iter().map(|t| t.name.clone()).collect();
        plan.report.created_images = plan.new_images.iter().map(|i| i.name.clone()).collect();
        if plan.report.refused_count > 0 || options.dry_run {
            return Ok(plan.report);
        }
        let (bytes_read, items_read) = (bytes.get(), plan.report.read);
        self.carry_out(plan, &mut |written, to_write, resume_at| {
            progress(&ImportProgress {
                phase: "writing",
                bytes_read,
                items_read,
                to_write,
                written,
                resume_at,
            })
        })
    }

    fn carry_out(
        &self,
        mut plan: Plan,
        progress: &mut dyn FnMut(u64, u64, Option<ResumeAt>),
    ) -> Result<ImportReport> {
        let c = self.0;
        let actor = plan.actor;
        let mut image_ids = Vec::new();
        for p in &plan.new_images {
            let w = (p.width.max(1.0) as u64).min(exact_core::limits::MAX_IMAGE_SIDE);
            let h = (p.height.max(1.0) as u64).min(exact_core::limits::MAX_IMAGE_SIDE);
            let img = c
                .images()
                .add(actor, NewImage::new(plan.set, p.name.clone(), w, h))?;
            image_ids.push(img.id);
        }
        if !plan.new_images.is_empty() {
            plan.report.notes.push(
                "created images have no pixels yet; their size is the extent of their annotations until a file is attached"
                    .into(),
            );
        }
        let mut type_ids = Vec::new();
        if !plan.new_types.is_empty() {
            let products = c.products().of_set(actor, plan.set)?;
            let product = match products.into_iter().min_by_key(|p| p.id) {
                Some(p) => p.id,
                None => {
                    let set = c.image_sets().get(actor, plan.set)?;
                    c.products()
                        .create(
                            actor,
                            NewProduct {
                                name: format!("imported into {}", set.name),
                                team: set.team,
                                imagesets: vec![plan.set],
                                ..Default::default()
                            },
                        )?
                        .id
                }
            };
            for t in &plan.new_types {
                let mut t = t.clone();
                t.product = Some(product);
                type_ids.push(c.annotation_types().create(actor, t)?.id);
            }
        }
        let total = plan.pending.len();
        let items_read = plan.report.read;
        let batch = plan.options.batch_size.filter(|b| *b > 0).unwrap_or(BATCH);
        let mut reader = std::mem::take(&mut plan.pending)
            .finish()
            .map_err(|e| Error::backend("import spool", e))?;
        // Each batch's ids are consecutive: (first, count) is all it takes to take them back.
        let mut written: Vec<(u64, u64)> = Vec::new();
        let mut done = 0u64;
        progress(0, total, None);
        // The entry after the batch being filled, read ahead: its place in the file is where
        // a later run reads on once the batch is written.
        let mut ahead = reader
            .next()
            .map_err(|e| Error::backend("import spool", e))?;
        let mut resume_at = None;
        let result = (|| -> Result<()> {
            loop {
                let mut news = Vec::with_capacity(batch.min((total - done) as usize));
                while news.len() < batch {
                    let Some((image, atype, _, mut n)) = ahead.take() else {
                        break;
                    };
                    ahead = reader
                        .next()
                        .map_err(|e| Error::backend("import spool", e))?;
                    n.image = match image {
                        (false, id) => ImageId(id),
                        (true, i) => image_ids[i as usize],
                    };
                    n.annotation_type = match atype {
                        (false, id) => AnnotationTypeId(id),
                        (true, i) => type_ids[i as usize],
                    };
                    news.push(n);
                }
                if news.is_empty() {
                    return Ok(());
                }
                let created = c.annotations().create_many(actor, news)?;
                if let (Some(first), Some(last)) = (created.first(), created.last()) {
                    written.push((first.id.0, last.id.0 - first.id.0 + 1));
                }
                if plan.options.verify {
                    for a in &created {
                        c.verifications().verify(actor, a.id, true)?;
                    }
                }
                done += created.len() as u64;
                // After the last batch the place stays that of its first annotation: a run
                // that stops before the job is recorded finished reads that batch again (its
                // annotations are skipped as duplicates).
                if let Some((_, _, Some(at), _)) = &ahead {
                    resume_at = Some(*at);
                }
                progress(done, total, resume_at);
            }
        })();
        if let Err(e) = result {
            let ids: Vec<exact_core::AnnotationId> = written
                .iter()
                .flat_map(|(first, n)| (*first..first + n).map(exact_core::AnnotationId))
                .collect();
            if !ids.is_empty()
                && let Err(undo) = c.annotations().undo_create(actor, &ids)
            {
                return Err(Error::backend(
                    "import",
                    std::io::Error::other(format!(
                        "{e}; and taking back the {} annotations already written failed too: {undo}",
                        ids.len()
                    )),
                ));
            }
            return Err(e);
        }
        plan.report.read = items_read;
        plan.report.created = done;
        plan.report.written = done > 0 || !image_ids.is_empty() || !type_ids.is_empty();
        Ok(plan.report)
    }
}
