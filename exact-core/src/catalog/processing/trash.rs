//! Deleting processing records as EXACT does (its DELETE cascades: a plugin takes its jobs and
//! results, a result its entries, an entry its result annotations and bitmaps), without
//! losing them: what is deleted goes, with everything under it, in one atomic batch into a
//! [`ProcessingTrash`] record, from which it can be restored as it was (same ids; blob files
//! are kept). Who may delete is who may change: a plugin its registrants (superusers, or the
//! admins of every product's team), the rest whoever may annotate the image.

use super::*;
use crate::record::Record;
use crate::store::{Kind, Write};

/// Most records one delete takes (a plugin with that many results and proposals must be
/// emptied piecewise), so a trash record stays a bounded size.
pub const MAX_TRASHED_RECORDS: usize = 100_000;

/// A processing collection whose records can be deleted and restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trashable {
    /// `plugins/{id}/`.
    Plugin(PluginId),
    /// `pluginresults/{id}/`.
    Result(PluginResultId),
    /// `pluginresultentrys/{id}/`.
    Entry(PluginResultEntryId),
    /// `pluginresultannotations/{id}/`.
    Annotation(PluginResultAnnotationId),
    /// `pluginresultbitmaps/{id}/`.
    Bitmap(PluginResultBitmapId),
}

impl Trashable {
    /// The collection's name, as in its URL.
    pub fn collection(self) -> &'static str {
        match self {
            Trashable::Plugin(_) => "plugins",
            Trashable::Result(_) => "pluginresults",
            Trashable::Entry(_) => "pluginresultentrys",
            Trashable::Annotation(_) => "pluginresultannotations",
            Trashable::Bitmap(_) => "pluginresultbitmaps",
        }
    }

    /// The record's id.
    pub fn id(self) -> u64 {
        match self {
            Trashable::Plugin(i) => i.0,
            Trashable::Result(i) => i.0,
            Trashable::Entry(i) => i.0,
            Trashable::Annotation(i) => i.0,
            Trashable::Bitmap(i) => i.0,
        }
    }

    fn label(self) -> String {
        match self {
            Trashable::Plugin(i) => i.to_string(),
            Trashable::Result(i) => i.to_string(),
            Trashable::Entry(i) => i.to_string(),
            Trashable::Annotation(i) => i.to_string(),
            Trashable::Bitmap(i) => i.to_string(),
        }
    }
}

/// The records under construction for one delete.
#[derive(Default)]
struct Taking {
    tx: Tx,
    records: Vec<TrashedRecord>,
    entries: Vec<TrashedEntry>,
}

impl Taking {
    /// Queues removing `rec` (as stored now: a change meanwhile fails the batch) and keeps its
    /// stored bytes for a restore.
    fn take<R: Record>(&mut self, c: &Catalog, rec: &R) -> Result<()> {
        if self.records.len() >= MAX_TRASHED_RECORDS {
            return Err(Error::invalid(
                "id",
                format!(
                    "deleting this takes more than {MAX_TRASHED_RECORDS} records; delete what \
                     is under it first"
                ),
            ));
        }
        let raw = c
            .store()
            .get(R::KIND, rec.id())?
            .ok_or_else(|| Error::Conflict {
                what: format!("{} {} went meanwhile", R::LABEL, rec.id()),
            })?;
        let data = String::from_utf8(raw.clone())
            .map_err(|e| Error::corrupt(R::LABEL, format!("{} {}: {e}", R::LABEL, rec.id())))?;
        self.records.push(TrashedRecord {
            kind: R::KIND.tag(),
            id: rec.id(),
            data,
        });
        self.tx.batch.writes.push(Write {
            kind: R::KIND,
            id: rec.id(),
            data: None,
            expect: Expect::Exactly(raw),
            remove: rec.terms(),
            add: Vec::new(),
        });
        Ok(())
    }
}

impl Processing<'_> {
    /// Deletes `what` and everything under it into the processing trash, in one atomic batch,
    /// and returns the trash record ([`Processing::restore`] puts it back). A plugin with a
    /// queued or running job is refused: cancel the job first.
    pub fn delete(&self, actor: &Actor, what: Trashable) -> Result<ProcessingTrash> {
        let mut t = Taking::default();
        let (image, products) = match what {
            Trashable::Plugin(id) => {
                let p = self.plugin(actor, id)?;
                self.check_plugin_rights(actor, &p.products)?;
                let jobs: Vec<PluginJob> = self
                    .0
                    .all::<PluginJob>()?
                    .into_iter()
                    .filter(|j| j.plugin == id)
                    .collect();
                if let Some(j) = jobs
                    .iter()
                    .find(|j| matches!(j.state, JobState::Queued | JobState::Running))
                {
                    return Err(Error::invalid(
                        "state",
                        format!("{} of {id} is {}: cancel it first", j.id, j.state.as_str()),
                    ));
                }
                t.take(self.0, &p)?;
                for j in &jobs {
                    t.take(self.0, j)?;
                    for tile in self.tiles_done_entries(j.id)? {
                        t.entries.push(TrashedEntry {
                            index: Index::PluginJobTiles.tag(),
                            key: tile.key.clone(),
                            id: tile.id,
                            value: tile.value.clone(),
                        });
                        t.tx.batch.entries.push(EntryWrite {
                            index: Index::PluginJobTiles,
                            key: tile.key,
                            id: tile.id,
                            value: None,
                            expect: Expect::Anything,
                        });
                    }
                }
                for r in self.results_of_plugin(id)? {
                    let r: PluginResult = self.0.load(r)?;
                    self.take_result(&mut t, &r)?;
                }
                (None, p.products)
            }
            Trashable::Result(id) => {
                let r = self.result(actor, id)?;
                self.writable_image(actor, r.image, "delete results")?;
                self.take_result(&mut t, &r)?;
                (Some(r.image), Vec::new())
            }
            Trashable::Entry(id) => {
                let (e, image) = self.entry(actor, id)?;
                self.writable_image(actor, image, "delete result entries")?;
                self.take_entry(&mut t, &e)?;
                (Some(image), Vec::new())
            }
            Trashable::Annotation(id) => {
                let a = self.result_annotation(actor, id)?;
                self.writable_image(actor, a.image, "delete result annotations")?;
                t.take(self.0, &a)?;
                (Some(a.image), Vec::new())
            }
            Trashable::Bitmap(id) => {
                let b = self.bitmap(actor, id)?;
                self.writable_image(actor, b.image, "delete result bitmaps")?;
                t.take(self.0, &b)?;
                (Some(b.image), Vec::new())
            }
        };
        let Taking {
            mut tx,
            records,
            entries,
        } = t;
        let trash = tx.insert(
            self.0,
            ProcessingTrash {
                id: ProcessingTrashId(0),
                collection: what.collection().to_owned(),
                object: what.id(),
                image,
                products,
                deleted_by: actor.user,
                time: self.0.now(),
                records,
                entries,
            },
        )?;
        tx.commit(self.0)?;
        Ok(trash)
    }

    fn take_result(&self, t: &mut Taking, r: &PluginResult) -> Result<()> {
        t.take(self.0, r)?;
        for e in self.entries_of(r.id)? {
            let e: PluginResultEntry = self.0.load(e)?;
            self.take_entry(t, &e)?;
        }
        Ok(())
    }

    fn take_entry(&self, t: &mut Taking, e: &PluginResultEntry) -> Result<()> {
        t.take(self.0, e)?;
        let (anns, bitmaps) = self.contents_of(e.id)?;
        for a in anns {
            t.take(self.0, &self.0.load::<PluginResultAnnotation>(a)?)?;
        }
        for b in bitmaps {
            t.take(self.0, &self.0.load::<PluginResultBitmap>(b)?)?;
        }
        Ok(())
    }

    fn tiles_done_entries(&self, id: PluginJobId) -> Result<Vec<crate::store::IndexEntry>> {
        let prefix = Key::new().u64(id.0).build();
        self.0.store().index_range(
            Index::PluginJobTiles,
            &prefix,
            &crate::keys::prefix_end(&prefix),
            usize::MAX,
        )
    }

    /// Whether the actor may restore (and so see) a trash record: the same rights as its
    /// delete needed.
    fn may_restore(&self, actor: &Actor, t: &ProcessingTrash) -> Result<bool> {
        Ok(match t.image {
            Some(image) => self
                .image_rights(actor, image)
                .is_ok_and(|(_, _, rights)| rights.annotate),
            None => self.check_plugin_rights(actor, &t.products).is_ok(),
        })
    }

    /// The trash records the actor could restore, newest first.
    pub fn trashed(&self, actor: &Actor) -> Result<Vec<ProcessingTrash>> {
        let mut out = Vec::new();
        for t in self.0.all::<ProcessingTrash>()? {
            if self.may_restore(actor, &t)? {
                out.push(t);
            }
        }
        out.reverse();
        Ok(out)
    }

    /// Puts a deleted record back with everything deleted with it, as it was (same ids), in
    /// one atomic batch, and returns the trash record it came from. Not found when `what` is
    /// not in the trash or the actor could not have deleted it; refused when what it hangs
    /// on (its plugin, result or entry) was deleted since: restore that first.
    pub fn restore(&self, actor: &Actor, what: Trashable) -> Result<ProcessingTrash> {
        let not_trashed = || Error::not_found(format!("{} in the trash", what.label()));
        let found: Vec<ProcessingTrash> = self.0.by_index(
            Index::ProcessingTrashByRoot,
            &Key::new().str(what.collection()).u64(what.id()).build(),
        )?;
        let t = found
            .into_iter()
            .find(|t| t.collection == what.collection() && t.object == what.id())
            .ok_or_else(not_trashed)?;
        if !self.may_restore(actor, &t)? {
            return Err(not_trashed());
        }
        let root = t
            .records
            .first()
            .ok_or_else(|| Error::corrupt("processing trash", format!("{:?} is empty", t.id)))?;
        self.check_parent(root)?;
        let mut tx = Tx::default();
        for r in &t.records {
            let kind = Kind::from_tag(r.kind).ok_or_else(|| {
                Error::corrupt("processing trash", format!("unknown kind {}", r.kind))
            })?;
            let bytes = r.data.as_bytes().to_vec();
            let add = super::super::processing_model::terms_of(kind, r.id, &bytes, "trash")
                .ok_or_else(|| {
                    Error::corrupt("processing trash", format!("{kind:?} is not restorable"))
                })??;
            tx.batch.writes.push(Write {
                kind,
                id: r.id,
                data: Some(bytes),
                expect: Expect::Absent,
                remove: Vec::new(),
                add,
            });
        }
        for e in &t.entries {
            let index = Index::ALL
                .iter()
                .copied()
                .find(|i| i.tag() == e.index)
                .ok_or_else(|| {
                    Error::corrupt("processing trash", format!("unknown index {}", e.index))
                })?;
            tx.batch.entries.push(EntryWrite {
                index,
                key: e.key.clone(),
                id: e.id,
                value: Some(e.value.clone()),
                expect: Expect::Absent,
            });
        }
        tx.remove(&t);
        tx.commit(self.0)?;
        Ok(t)
    }

    /// Fails when the record a trashed root hangs on is gone.
    fn check_parent(&self, root: &TrashedRecord) -> Result<()> {
        let data: Value = serde_json::from_str(&root.data)
            .map_err(|e| Error::corrupt("processing trash", e.to_string()))?;
        let field = |k: &str| data.get(k).and_then(Value::as_u64);
        let parent = match Kind::from_tag(root.kind) {
            Some(Kind::PluginResult) => field("plugin").map(|p| (Kind::Plugin, p, "plugin")),
            Some(Kind::PluginResultEntry) => {
                field("pluginresult").map(|p| (Kind::PluginResult, p, "plugin result"))
            }
            Some(Kind::PluginResultAnnotation | Kind::PluginResultBitmap) => {
                field("pluginresultentry")
                    .map(|p| (Kind::PluginResultEntry, p, "plugin result entry"))
            }
            _ => None,
        };
        if let Some((kind, id, label)) = parent
            && self.0.store().get(kind, id)?.is_none()
        {
            return Err(Error::invalid(
                "id",
                format!("its {label} {id} was deleted: restore that first"),
            ));
        }
        Ok(())
    }
}
