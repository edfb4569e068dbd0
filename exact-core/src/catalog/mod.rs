//! The use cases: every operation a user can do, with validation and permission checks inside,
//! written once over the [`MetaStore`] port. [`Catalog`] groups them by resource
//! (`catalog.teams().create(&actor, …)`); the library handle, the HTTP server and the Python
//! wheel call these and add nothing but translation.

mod accounts;
mod annostore;
mod annotations;
mod byid;
mod changes;
mod copies;
mod counts;
mod exports;
mod fsck;
mod images;
mod imports;
mod leases;
mod listing;
mod lists;
mod maps;
mod messages;
mod misc;
mod overviews;
mod processing;
mod processing_model;
mod query;
mod registrations;
mod removals;
mod sets;
mod statistics;
mod status;
mod teams;
mod trash;
mod verified;
mod versions;

pub use accounts::{
    Accounts, IMAGE_TOKEN_PREFIX, MAX_PASSWORD_BYTES, MAX_TOKEN_DAYS, MIN_PASSWORD_CHARS,
    MintedToken, SESSION_TOKEN_NAME, Secrets, TrustedAccounts, check_password, expiry_in_days,
};
pub use annotations::{AnnotationPatch, Annotations, NewAnnotation, Revision};
pub use changes::{AnnotationsChanged, ChangeOp, ChangeSink};
pub use copies::ImageCopy;
pub use counts::TypeCounts;
pub use exports::{Exports, MAX_EXPORT_TEXT, NewExport, file_name};
pub use fsck::{Finding, FsckReport};
pub use images::{
    ImagePatch, Images, MAX_CHANNELS, MAX_FRAME_DESCRIPTION_CHARS, MAX_FRAME_DESCRIPTIONS,
    MAX_FRAME_FILES, NewImage, PixelUpdate,
};
pub use imports::{
    ImportJob, ImportJobs, JobState as ImportState, RESUME_AFTER_MICROS, STALE_MICROS,
};
pub use leases::Leases;
pub use listing::{AnnotationList, FieldFilters, Paged, TimeBounds};
pub use maps::{CONTEXT as MAP_CONTEXT, MadeMap, MapPatch, MapPixels, MapPlan, Maps, TypeMap};
pub use messages::{MAX_MESSAGE_CHARS, Messages, NewMessage};
pub use misc::{
    ExportFormats, LogImageActions, MediaFiles, NewExportFormat, ScreeningModes, SetTags,
    Verifications,
};
pub use overviews::{MAX_SUMMARY_BYTES, OverviewSummary};
pub use processing::{
    Agreement, AgreementOptions, JobProgress, MAX_REVIEW_IDS, MAX_TRASHED_RECORDS, ModelAllowlist,
    PairAgreement, Processing, ProposalFilter, Trashable,
};
pub use processing_model::{
    JobState, MAX_PROMPTS, ModelEndpoint, ModelInput, Plugin, PluginJob, PluginResult,
    PluginResultAnnotation, PluginResultBitmap, PluginResultEntry, ProcessingTrash, Prompt,
    TrashedEntry, TrashedRecord,
};
pub use query::{AnnotationExtras, AnnotationQuery};
pub use registrations::{NewRegistration, Registrations};
pub use removals::MAX_SUGGESTIONS;
pub use sets::{
    AnnotationTypePatch, AnnotationTypes, ImageSetPatch, ImageSets, NewAnnotationType, NewImageSet,
    NewProduct, ProductPatch, Products,
};
pub use statistics::TypeStatistics;
pub use status::{CatalogStatus, FailedImage, RECENT_FAILURES};
pub use teams::{NewTeam, NewUser, TeamPatch, Teams, UserPatch, Users};
pub use versions::{VersionChange, VersionDiff, Versions};

use crate::ids::{ImageId, ImageSetId, UserId};
use crate::keys::{Key, prefix_end};
use crate::model::{Image, ImageSet, TeamMembership, User};
use crate::permissions::{Actor, SetRights};
use crate::record::Record;
use crate::store::{Batch, Expect, Index, MetaStore, Term, Write};
use crate::time::{Clock, SystemClock, Timestamp};
use crate::{Error, ErrorKind, Result};
use std::sync::Arc;

/// How often an optimistic read-modify-write is retried before giving up with `Conflict`.
pub(crate) const RETRIES: usize = 16;

/// Waits a little before retry `attempt` of a write that lost a race: writers (several servers
/// on one database) appending to the same page would otherwise retry in lockstep and all 16
/// tries of one could lose. Nothing for the first two; then 0.1 ms doubling (at most 51.2 ms:
/// on a busy database one attempt, reads to commit, can take longer than 6.4 ms, and a shorter
/// wait kept colliding writers in step), with jitter from the clock so they spread out.
pub(crate) fn backoff(attempt: usize) {
    if attempt < 2 {
        return;
    }
    let base = 100u64 << (attempt - 2).min(9);
    let jitter = u64::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos()),
    ) % base;
    std::thread::sleep(std::time::Duration::from_micros(base + jitter));
}
/// Page size of internal scans.
const PAGE: usize = 4096;

/// Called with every stored record a read had to skip because it does not decode.
pub type CorruptionReporter = dyn Fn(&Error) + Send + Sync;

/// The use cases over one metadata store. Cheap to clone; thread-safe.
#[derive(Clone)]
pub struct Catalog {
    store: Arc<dyn MetaStore>,
    clock: Arc<dyn Clock>,
    corrupt: Arc<CorruptionReporter>,
    sinks: Arc<changes::Sinks>,
    /// Whether committed writes are also published to other processes on the store (see
    /// [`Catalog::share_changes`]), and this process's origin in those messages.
    shared: Arc<(std::sync::atomic::AtomicBool, u64)>,
    /// Whether the maintained annotation counts are known to be built (see `counts`).
    counts_built: Arc<std::sync::atomic::AtomicBool>,
    /// Whether the acceptances and accepted counts are known to be built (see `verified`).
    accepted_built: Arc<std::sync::atomic::AtomicBool>,
    byid_built: Arc<std::sync::atomic::AtomicBool>,
    /// Where annotation listings left off (see `listing`).
    cursors: Arc<listing::Cursors>,
}

/// The default [`CorruptionReporter`]: each distinct problem once on stderr (core has no
/// logging framework; embedders install their own with [`Catalog::on_corrupt`]). Remembers a
/// bounded number of messages, so a damaged store cannot grow it.
fn report_once_to_stderr() -> Arc<CorruptionReporter> {
    let seen = std::sync::Mutex::new(std::collections::HashSet::<String>::new());
    Arc::new(move |e: &Error| {
        let msg = e.to_string();
        let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() < 1024 && seen.insert(msg.clone()) {
            eprintln!("exact: skipped a damaged record (run `exact fsck`): {msg}");
        }
    })
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("store", &self.store.location())
            .finish()
    }
}

impl Catalog {
    /// Use cases over `store`, with the system clock.
    pub fn new(store: Arc<dyn MetaStore>) -> Self {
        Catalog {
            store,
            clock: Arc::new(SystemClock),
            corrupt: report_once_to_stderr(),
            sinks: Arc::default(),
            shared: Arc::new((
                std::sync::atomic::AtomicBool::new(false),
                uuid::Uuid::new_v4().as_u64_pair().0,
            )),
            counts_built: Arc::default(),
            accepted_built: Arc::default(),
            byid_built: Arc::default(),
            cursors: Arc::default(),
        }
    }

    /// Replaces what is told about damaged records that reads skip (by default: stderr, once
    /// per problem). Reads never fail because of one damaged annotation; they report it here
    /// and go on, and `fsck` repairs it.
    pub fn on_corrupt(mut self, reporter: Arc<CorruptionReporter>) -> Self {
        self.corrupt = reporter;
        self
    }

    /// Reports a damaged record a read skipped.
    pub(crate) fn report(&self, e: &Error) {
        (self.corrupt)(e)
    }

    /// Replaces the clock (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Registers a sink told about every committed annotation write, by this catalog and all
    /// its clones. Held weakly: keep the `Arc` alive as long as notifications are wanted.
    pub fn add_change_sink(&self, sink: &Arc<dyn ChangeSink>) {
        self.sinks.add(sink);
    }

    /// Tells the sinks about a committed write.
    pub(crate) fn notify(
        &self,
        op: ChangeOp,
        actor: UserId,
        annotations: &[crate::model::Annotation],
    ) {
        let change = AnnotationsChanged {
            op,
            actor,
            time: self.now(),
            annotations,
        };
        self.sinks.notify(&change);
        if self.shared.0.load(std::sync::atomic::Ordering::Relaxed) && !annotations.is_empty() {
            // Best effort: the write is committed; other servers' viewers reload on reconnect.
            let _ = self
                .store
                .publish(&changes::encode_messages(self.shared.1, &change));
        }
    }

    /// Shares annotation writes with the other processes on this store (several servers on
    /// one PostgreSQL): this catalog's writes are published, and theirs reach this catalog's
    /// sinks as if made here. `Ok(false)` when the store has no messages across processes (a
    /// store one process opens needs none). Idempotent.
    pub fn share_changes(&self) -> Result<bool> {
        use std::sync::atomic::Ordering;
        if self.shared.0.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let (sinks, own) = (self.sinks.clone(), self.shared.1);
        let on = self.store.subscribe(Box::new(move |message| {
            if let Some((op, actor, time, annotations)) = changes::decode_message(own, message) {
                sinks.notify(&AnnotationsChanged {
                    op,
                    actor,
                    time,
                    annotations: &annotations,
                });
            }
        }))?;
        self.shared.0.store(on, Ordering::Relaxed);
        Ok(on)
    }

    /// The underlying store (raw records: only the use cases read it).
    pub(crate) fn store(&self) -> &Arc<dyn MetaStore> {
        &self.store
    }

    /// The current time of the catalog's clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Loads who `user` is and their team roles; fails for unknown or inactive users.
    pub fn actor(&self, user: UserId) -> Result<Actor> {
        let u: User = self.load(user.0)?;
        if !u.is_active {
            return Err(Error::denied(format!("user {:?} is inactive", u.username)));
        }
        let mut actor = Actor::new(user);
        actor.superuser = u.is_superuser;
        for m in self
            .by_index::<TeamMembership>(Index::MembershipByUser, &Key::new().u64(user.0).build())?
        {
            actor.teams.insert(m.team, m.is_admin);
        }
        Ok(actor)
    }

    /// Users.
    pub fn users(&self) -> Users<'_> {
        Users(self)
    }
    /// Teams and their members.
    pub fn teams(&self) -> Teams<'_> {
        Teams(self)
    }
    /// Products (labelling schemas).
    pub fn products(&self) -> Products<'_> {
        Products(self)
    }
    /// Annotation types.
    pub fn annotation_types(&self) -> AnnotationTypes<'_> {
        AnnotationTypes(self)
    }
    /// Image sets.
    pub fn image_sets(&self) -> ImageSets<'_> {
        ImageSets(self)
    }
    /// Images.
    pub fn images(&self) -> Images<'_> {
        Images(self)
    }
    /// Annotations, their history and viewport queries.
    pub fn annotations(&self) -> Annotations<'_> {
        Annotations(self)
    }
    /// Verifications.
    pub fn verifications(&self) -> Verifications<'_> {
        Verifications(self)
    }
    /// Set versions (snapshots) and their diffs.
    pub fn versions(&self) -> Versions<'_> {
        Versions(self)
    }
    /// Set tags.
    pub fn set_tags(&self) -> SetTags<'_> {
        SetTags(self)
    }
    /// The image open/close log.
    pub fn log_image_actions(&self) -> LogImageActions<'_> {
        LogImageActions(self)
    }
    /// Screening progress.
    pub fn screening_modes(&self) -> ScreeningModes<'_> {
        ScreeningModes(self)
    }
    /// Media files attached to annotations.
    pub fn media_files(&self) -> MediaFiles<'_> {
        MediaFiles(self)
    }
    /// Export formats.
    pub fn export_formats(&self) -> ExportFormats<'_> {
        ExportFormats(self)
    }

    /// Team and global messages.
    pub fn messages(&self) -> Messages<'_> {
        Messages(self)
    }

    /// Image registrations (homographies between images).
    pub fn image_registrations(&self) -> Registrations<'_> {
        Registrations(self)
    }

    /// Exports made with export formats, kept with their text.
    pub fn exports(&self) -> Exports<'_> {
        Exports(self)
    }

    /// Long imports running in the background.
    pub fn import_jobs(&self) -> ImportJobs<'_> {
        ImportJobs(self)
    }

    // ---- repository helpers shared by the use cases ----

    pub(crate) fn find<R: Record>(&self, id: u64) -> Result<Option<R>> {
        match self.store.get(R::KIND, id)? {
            Some(bytes) => R::decode(id, &bytes, self.store.location()).map(Some),
            None => Ok(None),
        }
    }

    pub(crate) fn load<R: Record>(&self, id: u64) -> Result<R> {
        self.find(id)?
            .ok_or_else(|| Error::not_found(format!("{} {id}", R::LABEL)))
    }

    pub(crate) fn all<R: Record>(&self) -> Result<Vec<R>> {
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let page = self.store.scan(R::KIND, after, PAGE)?;
            let done = page.len() < PAGE;
            for (id, bytes) in page {
                after = id;
                // One damaged record must not take the whole list down: report and skip it.
                match R::decode(id, &bytes, self.store.location()) {
                    Ok(r) => out.push(r),
                    Err(e) => self.report(&e),
                }
            }
            if done {
                return Ok(out);
            }
        }
    }

    /// Records whose `index` key starts with `prefix`, by increasing id within each key
    /// (damaged ones reported and skipped).
    pub(crate) fn by_index<R: Record>(&self, index: Index, prefix: &[u8]) -> Result<Vec<R>> {
        let entries = self
            .store
            .index_range(index, prefix, &prefix_end(prefix), usize::MAX)?;
        let ids: Vec<u64> = entries.iter().map(|e| e.id).collect();
        let mut out = Vec::with_capacity(ids.len());
        for (id, bytes) in ids.iter().zip(self.store.get_many(R::KIND, &ids)?) {
            if let Some(bytes) = bytes {
                match R::decode(*id, &bytes, self.store.location()) {
                    Ok(r) => out.push(r),
                    Err(e) => self.report(&e),
                }
            }
        }
        Ok(out)
    }

    /// Fails with `AlreadyExists` if a unique key of `rec` belongs to another record.
    pub(crate) fn check_unique<R: Record>(&self, rec: &R) -> Result<()> {
        for t in rec.terms().iter().filter(|t| t.index.unique()) {
            let hits = self
                .store
                .index_range(t.index, &t.key, &prefix_end(&t.key), 2)?;
            if hits.iter().any(|e| e.id != rec.id()) {
                return Err(Error::exists(rec.describe(t.index)));
            }
        }
        Ok(())
    }

    /// Inserts a new record under a fresh id and returns it.
    pub(crate) fn insert<R: Record>(&self, rec: R) -> Result<R> {
        let mut tx = Tx::default();
        let rec = tx.insert(self, rec)?;
        tx.commit(self)?;
        Ok(rec)
    }

    /// Read-modify-write of one record with optimistic retries: `change` gets the current
    /// record and returns the new one plus extra index entries (history) to add.
    pub(crate) fn modify<R: Record>(
        &self,
        id: u64,
        mut change: impl FnMut(&R) -> Result<(R, Vec<Term>)>,
    ) -> Result<R> {
        for _ in 0..RETRIES {
            let old: R = self.load(id)?;
            let (new, extra) = change(&old)?;
            self.check_unique(&new)?;
            let mut tx = Tx::default();
            tx.replace(&old, &new, extra);
            match tx.commit(self) {
                Err(e) if e.kind() == ErrorKind::Conflict => continue,
                Err(e) => return Err(e),
                Ok(()) => return Ok(new),
            }
        }
        Err(Error::Conflict {
            what: format!("{} {id}", R::LABEL),
        })
    }

    /// The set `id` if the actor may read it, with the actor's rights. Sets the actor may not
    /// see are reported as not found, so ids of other teams leak nothing.
    pub(crate) fn readable_set(
        &self,
        actor: &Actor,
        id: ImageSetId,
    ) -> Result<(ImageSet, SetRights)> {
        let set: ImageSet = self.load(id.0)?;
        let rights = actor.rights(&set);
        if !rights.read {
            return Err(Error::not_found(id));
        }
        Ok((set, rights))
    }

    /// The image `id`, its set and the actor's rights, if the actor may read it.
    pub(crate) fn readable_image(
        &self,
        actor: &Actor,
        id: ImageId,
    ) -> Result<(Image, ImageSet, SetRights)> {
        let image: Image = self.load(id.0)?;
        if image.deleted {
            return Err(Error::not_found(id));
        }
        let (set, rights) = self.readable_set(actor, image.image_set).map_err(|e| {
            if e.kind() == ErrorKind::NotFound {
                Error::not_found(id)
            } else {
                e
            }
        })?;
        Ok((image, set, rights))
    }
}

/// A batch under construction.
#[derive(Default)]
pub(crate) struct Tx {
    batch: Batch,
}

impl Tx {
    /// Allocates an id for `rec`, checks its unique keys and queues it.
    pub(crate) fn insert<R: Record>(&mut self, c: &Catalog, mut rec: R) -> Result<R> {
        let id = c.store.allocate_ids(R::KIND, 1)?;
        rec.set_id(id);
        c.check_unique(&rec)?;
        self.push_new(&rec, Vec::new());
        Ok(rec)
    }

    /// Queues a record that already has a fresh id (bulk inserts allocate ids in one call).
    pub(crate) fn push_new<R: Record>(&mut self, rec: &R, extra: Vec<Term>) {
        let mut add = rec.terms();
        add.extend(extra);
        self.batch.writes.push(Write {
            kind: R::KIND,
            id: rec.id(),
            data: Some(rec.encode()),
            expect: Expect::Anything,
            remove: Vec::new(),
            add,
        });
    }

    /// Queues replacing `old` by `new`, provided nobody changed `old` meanwhile.
    pub(crate) fn replace<R: Record>(&mut self, old: &R, new: &R, extra: Vec<Term>) {
        let mut add = new.terms();
        add.extend(extra);
        self.batch.writes.push(Write {
            kind: R::KIND,
            id: old.id(),
            data: Some(new.encode()),
            expect: Expect::Exactly(old.encode()),
            remove: old.terms(),
            add,
        });
    }

    /// Queues removing `old` (hard delete: memberships, and teams and sets once empty).
    pub(crate) fn remove<R: Record>(&mut self, old: &R) {
        self.batch.writes.push(Write {
            kind: R::KIND,
            id: old.id(),
            data: None,
            expect: Expect::Exactly(old.encode()),
            remove: old.terms(),
            add: Vec::new(),
        });
    }

    pub(crate) fn commit(self, c: &Catalog) -> Result<()> {
        if self.batch.writes.is_empty() {
            return Ok(());
        }
        c.store.commit(self.batch)
    }
}

/// Checks a required name: trimmed length within `min..=max` characters.
pub(crate) fn check_name(field: &str, value: &str, min: usize, max: usize) -> Result<()> {
    let n = value.trim().chars().count();
    if n < min || n > max || value.trim() != value {
        return Err(Error::invalid(
            field,
            format!("must be {min} to {max} characters without surrounding spaces, got {value:?}"),
        ));
    }
    Ok(())
}

/// Checks an optional free text's length.
pub(crate) fn check_text(field: &str, value: &str, max: usize) -> Result<()> {
    if value.chars().count() > max {
        return Err(Error::invalid(field, format!("at most {max} characters")));
    }
    Ok(())
}
