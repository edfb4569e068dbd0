//! The metadata-store port: what a backend (sled, memory, PostgreSQL) must provide.
//!
//! The contract is record-level, not SQL: records of a [`Kind`] are opaque bytes under a `u64`
//! id, plus ordered secondary [`Index`]es whose entries carry a small value. Core decides what
//! goes into records and index entries (including the spatial grid of annotations, see
//! [`crate::grid`]); a backend only stores, orders and commits them. This keeps callers unchanged
//! whatever the backend: a PostgreSQL adapter maps kinds and indexes to two tables with b-tree
//! keys and runs [`MetaStore::commit`] as one transaction.
//!
//! Implementations are synchronous and thread-safe (`Send + Sync`); async callers run them on a
//! blocking pool. A [`MetaStore::commit`] is atomic (all writes or none) and durable when it
//! returns `Ok` (flushed / committed).

use crate::Result;

/// A table of records, each under its own id space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
#[allow(missing_docs)] // the variants name the model types
pub enum Kind {
    User = 1,
    Team = 2,
    Membership = 3,
    Product = 4,
    AnnotationType = 5,
    ImageSet = 6,
    Image = 7,
    SetTag = 8,
    SetVersion = 9,
    AnnotationVersion = 10,
    Annotation = 11,
    Verification = 12,
    LogImageAction = 13,
    ScreeningMode = 14,
    MediaFile = 15,
    ExportFormat = 16,
    /// Id space of annotation history entries (stored as index entries, see [`Index::Changes`]).
    AnnotationChange = 17,
    /// Id space of annotation pages (stored as index entries, see [`Index::AnnotationGrid`]).
    AnnotationPage = 18,
    /// Password hashes ([`crate::model::Credential`]).
    Credential = 19,
    /// Personal access tokens ([`crate::model::AccessToken`]).
    AccessToken = 20,
    /// Exports made with export formats ([`crate::model::Export`]).
    Export = 21,
    /// Leases on background jobs ([`crate::catalog::Leases`]): owner and expiry, by job id.
    Lease = 22,
    /// Processing plugins (models), see [`crate::catalog::Plugin`].
    Plugin = 24,
    /// Runs of a plugin on an image ([`crate::catalog::PluginJob`]).
    PluginJob = 25,
    /// A job's results ([`crate::catalog::PluginResult`]).
    PluginResult = 26,
    /// Named layers of a result ([`crate::catalog::PluginResultEntry`]).
    PluginResultEntry = 27,
    /// Proposed objects of a result entry ([`crate::catalog::PluginResultAnnotation`]).
    PluginResultAnnotation = 28,
    /// Overlay bitmaps of a result entry ([`crate::catalog::PluginResultBitmap`]).
    PluginResultBitmap = 29,
    /// Team and global messages ([`crate::model::Message`]).
    Message = 30,
    /// Who read which message ([`crate::model::MessageRead`]).
    MessageRead = 31,
    /// Image registrations ([`crate::model::ImageRegistration`]).
    ImageRegistration = 32,
    /// Long imports running in the background ([`crate::catalog::ImportJob`]).
    ImportJob = 36,
    /// Deleted processing records, each with everything under it, kept restorable
    /// ([`crate::catalog::ProcessingTrash`]).
    ProcessingTrash = 38,
}

impl Kind {
    /// Every kind.
    pub const ALL: &'static [Kind] = &[
        Kind::User,
        Kind::Team,
        Kind::Membership,
        Kind::Product,
        Kind::AnnotationType,
        Kind::ImageSet,
        Kind::Image,
        Kind::SetTag,
        Kind::SetVersion,
        Kind::AnnotationVersion,
        Kind::Annotation,
        Kind::Verification,
        Kind::LogImageAction,
        Kind::ScreeningMode,
        Kind::MediaFile,
        Kind::ExportFormat,
        Kind::AnnotationChange,
        Kind::AnnotationPage,
        Kind::Credential,
        Kind::AccessToken,
        Kind::Export,
        Kind::Lease,
        Kind::Plugin,
        Kind::PluginJob,
        Kind::PluginResult,
        Kind::PluginResultEntry,
        Kind::PluginResultAnnotation,
        Kind::PluginResultBitmap,
        Kind::Message,
        Kind::MessageRead,
        Kind::ImageRegistration,
        Kind::ImportJob,
        Kind::ProcessingTrash,
    ];

    /// The byte that tags this kind in keys.
    pub fn tag(self) -> u8 {
        self as u8
    }

    /// The kind for a key tag.
    pub fn from_tag(tag: u8) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.tag() == tag)
    }
}

/// A secondary index. Entries are ordered by `(key bytes, id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
#[allow(missing_docs)] // see `Index::unique` and the record impls for what each holds
pub enum Index {
    UserName = 1,
    TeamName = 2,
    MembershipByUser = 3,
    MembershipByTeam = 4,
    ProductName = 5,
    ProductBySet = 6,
    TypeName = 7,
    TypeByProduct = 8,
    SetName = 9,
    SetByTeam = 10,
    ImageName = 11,
    ImageBySet = 12,
    TagName = 13,
    TagBySet = 14,
    VersionName = 15,
    VersionBySet = 16,
    AnnotationVersionByVersion = 17,
    /// The spatial grid of annotations: key = grid cell, id = page id, value = a page of
    /// encoded annotations (see [`crate::pages`]). Annotations live only here.
    AnnotationGrid = 18,
    /// Where each annotation is: key = annotation id / 256, value = a locator block.
    AnnotationLocator = 19,
    VerificationPair = 20,
    LogByImage = 21,
    ScreeningPair = 22,
    MediaFileName = 23,
    ExportFormatName = 24,
    /// Annotation history: key = annotation id, id = change id, value = the encoded change.
    Changes = 25,
    VerificationByAnnotation = 26,
    CredentialByUser = 27,
    /// Key = hex digest of a token's secret.
    TokenDigest = 28,
    TokenByUser = 29,
    /// Annotation entries `fsck --repair` took out of their page because they do not decode:
    /// key = annotation id, id = the page they came from, value = their stored bytes, kept
    /// for forensics rather than deleted.
    Quarantine = 30,
    /// Annotations deleted with EXACT's DELETE: taken out of the grid (gone for every read),
    /// kept here restorable with their history. Key = annotation id, id = image id, value =
    /// the encoded annotation as it was deleted.
    Trash = 31,
    /// Exports by set: key = image set id.
    ExportBySet = 32,
    /// Annotation counts maintained by every annotation write: key = image id, id = shard,
    /// value = a generation and per (type, state) deltas (see `catalog::counts`); the empty
    /// key marks them built for every image.
    AnnotationCounts = 33,
    /// Plugin jobs by image: key = image id.
    PluginJobByImage = 34,
    /// Plugin results by plugin: key = plugin id.
    PluginResultByPlugin = 35,
    /// Result entries by result: key = plugin result id.
    PluginEntryByResult = 36,
    /// Result annotations by entry: key = result entry id.
    PluginAnnotationByEntry = 37,
    /// Result bitmaps by entry: key = result entry id.
    PluginBitmapByEntry = 38,
    /// The tiles a plugin job has finished: key = job id | tile number, id = job id, value =
    /// how many proposals the tile gave. Written in the same batch as the tile's annotations,
    /// so a tile is either done with its proposals or not done at all.
    PluginJobTiles = 39,
    /// Messages by team: key = team id (none for global messages).
    MessageByTeam = 40,
    /// Read marks: key = (message id, user id), unique.
    MessageReadPair = 41,
    /// Read marks by user: key = user id.
    MessageReadByUser = 42,
    /// Registrations: key = (source image id, target image id), unique.
    RegistrationPair = 43,
    /// Retired: one copy per annotation (key = image id | annotation id), which made every
    /// bulk write twice as many entries; replaced by [`Index::AnnotationById`]'s blocks and
    /// emptied when they are built.
    RetiredAnnotationCopies = 44,
    /// Every filed annotation in id order per image, in blocks of 256 ids: key = image id |
    /// block, id = 0, value = the block's encodings (copies of their grid entries') in the
    /// page format, so a listing by id reads its page from a few blocks; a small insert's
    /// annotations as loose entries, key = image id | block | annotation id, value = the
    /// encoding, until a write to the block folds them in (see `catalog::byid`); the empty key
    /// marks them built for every image.
    AnnotationById = 45,
    /// Import jobs by set: key = image set id.
    ImportJobBySet = 46,
    /// Trashed processing records by what was deleted: key = collection name | its id, unique.
    ProcessingTrashByRoot = 48,
    /// How many acceptances (positive verifications) each accepted annotation has: key =
    /// annotation id, id = 0, value = the number (u64 LE); maintained with every verdict, so
    /// annotation writes know which of theirs are accepted (see `catalog::verified`). The
    /// empty key marks it (and the accepted counts in [`Index::AnnotationCounts`]) built.
    Acceptances = 47,
    /// Overview summaries (derived, rebuildable): key = image id | frame (0: every plane),
    /// id = 0, value = the image's write stamp (u64 LE) and the summary (see
    /// `catalog::overviews`).
    OverviewSummary = 49,
}

impl Index {
    /// Every index.
    pub const ALL: &'static [Index] = &[
        Index::UserName,
        Index::TeamName,
        Index::MembershipByUser,
        Index::MembershipByTeam,
        Index::ProductName,
        Index::ProductBySet,
        Index::TypeName,
        Index::TypeByProduct,
        Index::SetName,
        Index::SetByTeam,
        Index::ImageName,
        Index::ImageBySet,
        Index::TagName,
        Index::TagBySet,
        Index::VersionName,
        Index::VersionBySet,
        Index::AnnotationVersionByVersion,
        Index::AnnotationGrid,
        Index::AnnotationLocator,
        Index::VerificationPair,
        Index::LogByImage,
        Index::ScreeningPair,
        Index::MediaFileName,
        Index::ExportFormatName,
        Index::Changes,
        Index::VerificationByAnnotation,
        Index::CredentialByUser,
        Index::TokenDigest,
        Index::TokenByUser,
        Index::Quarantine,
        Index::Trash,
        Index::ExportBySet,
        Index::PluginJobByImage,
        Index::PluginResultByPlugin,
        Index::PluginEntryByResult,
        Index::PluginAnnotationByEntry,
        Index::PluginBitmapByEntry,
        Index::AnnotationCounts,
        Index::PluginJobTiles,
        Index::MessageByTeam,
        Index::MessageReadPair,
        Index::MessageReadByUser,
        Index::RegistrationPair,
        Index::ImportJobBySet,
        Index::AnnotationById,
        Index::RetiredAnnotationCopies,
        Index::ProcessingTrashByRoot,
        Index::Acceptances,
        Index::OverviewSummary,
    ];

    /// The record kind whose ids this index's entries point at; `None` for the indexes whose
    /// entries are data of their own (annotation pages, locators, history, quarantine).
    pub fn record_kind(self) -> Option<Kind> {
        Some(match self {
            Index::UserName => Kind::User,
            Index::TeamName => Kind::Team,
            Index::MembershipByUser | Index::MembershipByTeam => Kind::Membership,
            Index::ProductName | Index::ProductBySet => Kind::Product,
            Index::TypeName | Index::TypeByProduct => Kind::AnnotationType,
            Index::SetName | Index::SetByTeam => Kind::ImageSet,
            Index::ImageName | Index::ImageBySet => Kind::Image,
            Index::TagName | Index::TagBySet => Kind::SetTag,
            Index::VersionName | Index::VersionBySet => Kind::SetVersion,
            Index::AnnotationVersionByVersion => Kind::AnnotationVersion,
            Index::VerificationPair | Index::VerificationByAnnotation => Kind::Verification,
            Index::LogByImage => Kind::LogImageAction,
            Index::ScreeningPair => Kind::ScreeningMode,
            Index::MediaFileName => Kind::MediaFile,
            Index::ExportFormatName => Kind::ExportFormat,
            Index::CredentialByUser => Kind::Credential,
            Index::TokenDigest | Index::TokenByUser => Kind::AccessToken,
            Index::ExportBySet => Kind::Export,
            Index::PluginJobByImage => Kind::PluginJob,
            Index::PluginResultByPlugin => Kind::PluginResult,
            Index::PluginEntryByResult => Kind::PluginResultEntry,
            Index::PluginAnnotationByEntry => Kind::PluginResultAnnotation,
            Index::PluginBitmapByEntry => Kind::PluginResultBitmap,
            Index::MessageByTeam => Kind::Message,
            Index::MessageReadPair | Index::MessageReadByUser => Kind::MessageRead,
            Index::RegistrationPair => Kind::ImageRegistration,
            Index::ImportJobBySet => Kind::ImportJob,
            Index::ProcessingTrashByRoot => Kind::ProcessingTrash,
            Index::AnnotationGrid
            | Index::AnnotationLocator
            | Index::Changes
            | Index::Quarantine
            | Index::Trash
            | Index::AnnotationCounts
            | Index::AnnotationById
            | Index::RetiredAnnotationCopies
            | Index::Acceptances
            | Index::OverviewSummary
            | Index::PluginJobTiles => return None,
        })
    }
}

impl Index {
    /// Whether a key may map to at most one id. [`MetaStore::commit`] rejects a second one
    /// with `AlreadyExists`.
    pub fn unique(self) -> bool {
        matches!(
            self,
            Index::UserName
                | Index::TeamName
                | Index::MembershipByUser
                | Index::ProductName
                | Index::TypeName
                | Index::SetName
                | Index::ImageName
                | Index::TagName
                | Index::VersionName
                | Index::AnnotationVersionByVersion
                | Index::VerificationPair
                | Index::ScreeningPair
                | Index::MediaFileName
                | Index::ExportFormatName
                | Index::CredentialByUser
                | Index::TokenDigest
                | Index::MessageReadPair
                | Index::RegistrationPair
                | Index::ProcessingTrashByRoot
        )
    }

    /// The byte that tags this index in keys.
    pub fn tag(self) -> u8 {
        self as u8
    }
}

/// One entry a record puts into an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// The index.
    pub index: Index,
    /// Order-preserving key bytes (see [`crate::keys`]); prefix-free for unique indexes.
    pub key: Vec<u8>,
    /// A value stored with the entry (may be empty).
    pub value: Vec<u8>,
}

/// An index entry as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// The key bytes.
    pub key: Vec<u8>,
    /// The record id the entry points at.
    pub id: u64,
    /// The value stored with it.
    pub value: Vec<u8>,
}

/// A precondition on the current bytes of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// No check (fresh ids from [`MetaStore::allocate_ids`] need none).
    Anything,
    /// The record must not exist.
    Absent,
    /// The record must currently hold exactly these bytes (optimistic concurrency).
    Exactly(Vec<u8>),
}

/// One record write inside a [`Batch`].
#[derive(Debug, Clone)]
pub struct Write {
    /// Kind of the record.
    pub kind: Kind,
    /// Its id.
    pub id: u64,
    /// New bytes; `None` removes the record.
    pub data: Option<Vec<u8>>,
    /// Checked before anything in the batch is written; a failed check fails the batch with
    /// `Conflict`.
    pub expect: Expect,
    /// Index entries to remove (pointing at this id); applied before `add`.
    pub remove: Vec<Term>,
    /// Index entries to add (pointing at this id).
    pub add: Vec<Term>,
}

/// A write of one index entry by itself (annotation pages and locators, history entries),
/// with the same optimistic precondition as records, checked against the entry's value.
#[derive(Debug, Clone)]
pub struct EntryWrite {
    /// The index.
    pub index: Index,
    /// The entry's key bytes.
    pub key: Vec<u8>,
    /// The entry's id.
    pub id: u64,
    /// New value; `None` removes the entry.
    pub value: Option<Vec<u8>>,
    /// Checked before anything in the batch is written.
    pub expect: Expect,
}

/// Writes committed together: atomically and durably.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// Record writes, applied in order.
    pub writes: Vec<Write>,
    /// Index entry writes, applied after the record writes.
    pub entries: Vec<EntryWrite>,
}

/// Visits one index entry (key, id, value); returns whether to go on.
pub type EntryVisitor<'a> = dyn FnMut(&[u8], u64, &[u8]) -> bool + 'a;

/// The metadata store. See the module docs for the contract.
pub trait MetaStore: Send + Sync {
    /// Where the store lives, for messages (`sled://./exact-data/db`).
    fn location(&self) -> &str;

    /// The record of `kind` under `id`; `Ok(None)` when absent.
    fn get(&self, kind: Kind, id: u64) -> Result<Option<Vec<u8>>>;

    /// Up to `limit` records of `kind` with id > `after`, by increasing id.
    fn scan(&self, kind: Kind, after: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>>;

    /// Up to `limit` entries of `index` with `start <= key < end`, ordered by (key, id).
    fn index_range(
        &self,
        index: Index,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<IndexEntry>>;

    /// Visits the entries of `index` with `start <= key < end` in (key, id) order, borrowing
    /// their bytes, until `visit` returns `false`. Hot paths (viewport queries) use this to read
    /// annotation pages without copying them.
    fn index_visit(
        &self,
        index: Index,
        start: &[u8],
        end: &[u8],
        visit: &mut EntryVisitor<'_>,
    ) -> Result<()> {
        for e in self.index_range(index, start, end, usize::MAX)? {
            if !visit(&e.key, e.id, &e.value) {
                break;
            }
        }
        Ok(())
    }

    /// The last entry of `index` with `start <= key < end` in (key, id) order, if any.
    fn index_last(&self, index: Index, start: &[u8], end: &[u8]) -> Result<Option<IndexEntry>> {
        Ok(self.index_range(index, start, end, usize::MAX)?.pop())
    }

    /// Reserves `count` consecutive fresh ids of `kind` and returns the first. Ids are never
    /// handed out twice, even across restarts, once a batch using them has committed.
    fn allocate_ids(&self, kind: Kind, count: u64) -> Result<u64>;

    /// Applies `batch` atomically; durable when it returns `Ok`. Fails with `Conflict` when a
    /// precondition does not hold and with `AlreadyExists` when a unique index key would point
    /// at two ids; then nothing is written.
    fn commit(&self, batch: Batch) -> Result<()>;

    /// Sends `messages` (text, each under 7,900 bytes) to every process subscribed to this
    /// store ([`MetaStore::subscribe`]), this one included: after the fact and at most once,
    /// for live events, never for data. Backends only one process opens have nobody to tell:
    /// the default does nothing.
    fn publish(&self, _messages: &[String]) -> Result<()> {
        Ok(())
    }

    /// Calls `on_message` (on a thread of the backend's) with every message any process
    /// publishes from now on, while the store is open, reconnecting as needed; `Ok(false)`
    /// when the backend has no messages across processes (the default).
    fn subscribe(&self, _on_message: Box<dyn Fn(&str) + Send + Sync>) -> Result<bool> {
        Ok(false)
    }

    /// The records of `kind` under `ids`, in the same order (`None` where absent).
    fn get_many(&self, kind: Kind, ids: &[u64]) -> Result<Vec<Option<Vec<u8>>>> {
        ids.iter().map(|id| self.get(kind, *id)).collect()
    }

    /// [`MetaStore::index_range`] over each of `ranges` (`start <= key < end`), up to `limit`
    /// entries per range, in the order of `ranges`. A backend across a network answers them all
    /// in one round trip; the default asks range by range.
    fn index_range_many(
        &self,
        index: Index,
        ranges: &[(Vec<u8>, Vec<u8>)],
        limit: usize,
    ) -> Result<Vec<Vec<IndexEntry>>> {
        ranges
            .iter()
            .map(|(start, end)| self.index_range(index, start, end, limit))
            .collect()
    }

    /// [`MetaStore::index_last`] of each of `ranges`, in the same order; one round trip on a
    /// backend across a network, range by range by default.
    fn index_last_many(
        &self,
        index: Index,
        ranges: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<Vec<Option<IndexEntry>>> {
        ranges
            .iter()
            .map(|(start, end)| self.index_last(index, start, end))
            .collect()
    }

    /// [`MetaStore::index_visit`] over each of `ranges` in turn (a viewport's grid rows), until
    /// `visit` returns `false`. A backend across a network reads several ranges per round trip;
    /// the default visits range by range.
    fn index_visit_many(
        &self,
        index: Index,
        ranges: &[(Vec<u8>, Vec<u8>)],
        visit: &mut EntryVisitor<'_>,
    ) -> Result<()> {
        let mut go_on = true;
        for (start, end) in ranges {
            self.index_visit(index, start, end, &mut |k, id, v| {
                go_on = visit(k, id, v);
                go_on
            })?;
            if !go_on {
                break;
            }
        }
        Ok(())
    }
}
