//! EXACT's DELETE without losing data: a trashed annotation leaves the grid (so every read —
//! retrieve, lists, viewports, exports, live views — no longer sees it, and a retrieve is a 404
//! as in EXACT) but its last state is kept in [`Index::Trash`] next to its untouched history,
//! and an editor who could delete it can put it back. `PATCH deleted=true` is the other,
//! visible soft delete and does not come here.

use super::annotations::{AnnotationPatch, Annotations, at_index, deletion};
use super::{Catalog, ChangeOp};
use crate::codec;
use crate::ids::{AnnotationId, ImageId};
use crate::keys::{Key, prefix_end};
use crate::model::Annotation;
use crate::permissions::Actor;
use crate::record::change_entry_after;
use crate::store::{EntryWrite, Expect, Index};
use crate::{Error, ErrorKind, Result};
use std::collections::{HashMap, HashSet};

/// The last key of the trash: every key is an 8-byte annotation id.
const TRASH_END: [u8; 9] = [0xFF; 9];

fn trash_key(id: AnnotationId) -> Vec<u8> {
    Key::new().u64(id.0).build()
}

impl Catalog {
    /// The trashed state of `id` and its raw entry, if it is in the trash.
    pub(crate) fn trashed_entry(&self, id: AnnotationId) -> Result<Option<(Annotation, Vec<u8>)>> {
        let key = trash_key(id);
        let found = self
            .store
            .index_range(Index::Trash, &key, &prefix_end(&key), 1)?;
        let Some(e) = found.into_iter().next() else {
            return Ok(None);
        };
        let a = codec::decode_annotation(id.0, &e.value, self.store.location())?;
        Ok(Some((a, e.value)))
    }
}

impl Annotations<'_> {
    /// EXACT's DELETE of one annotation the actor may edit: gone for every read, kept in the
    /// trash with its history (see [`Annotations::restore_trashed`]).
    pub fn trash(&self, actor: &Actor, id: AnnotationId) -> Result<Annotation> {
        self.trash_if(actor, id, None)
    }

    /// [`Annotations::trash`] only if the annotation is still at one of the versions in
    /// `if_match` (see [`AnnotationPatch::if_match`]); `None` checks nothing.
    pub fn trash_if(
        &self,
        actor: &Actor,
        id: AnnotationId,
        if_match: Option<Vec<u64>>,
    ) -> Result<Annotation> {
        let mut out = self.trash_inner(actor, &[id], false, if_match)?;
        Ok(out.remove(0))
    }

    /// EXACT's DELETE of many annotations in one atomic batch: every one must be editable by
    /// the actor (in a competitive or second-opinion set: their own), checked before anything
    /// is written; errors name the offending element as `[i]`. Repeated ids count once.
    pub fn trash_many(&self, actor: &Actor, ids: &[AnnotationId]) -> Result<Vec<Annotation>> {
        self.trash_inner(actor, ids, true, None)
    }

    fn trash_inner(
        &self,
        actor: &Actor,
        ids: &[AnnotationId],
        indexed: bool,
        if_match: Option<Vec<u64>>,
    ) -> Result<Vec<Annotation>> {
        let tag = |i: usize, e: Error| if indexed { at_index(i, e) } else { e };
        let mut seen = HashSet::new();
        let ids: Vec<AnnotationId> = ids.iter().copied().filter(|id| seen.insert(*id)).collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let (mut images, mut types, mut plans) = (HashMap::new(), HashMap::new(), HashMap::new());
        let found = self.0.find_annotations(&ids)?;
        for (i, (&id, current)) in ids.iter().zip(found).enumerate() {
            let plan = self
                .plan(
                    actor,
                    id,
                    current,
                    AnnotationPatch {
                        if_match: if_match.clone(),
                        ..deletion()
                    },
                    &mut images,
                    &mut types,
                )
                .map_err(|e| tag(i, e))?;
            plans.insert(id, plan);
        }
        let now = self.0.now();
        let me = actor.user;
        let out = self.0.remove_annotations(&ids, |old| {
            let plan = plans.get(&old.id).ok_or_else(|| Error::not_found(old.id))?;
            let (a, mut extra) = self.apply(old, plan, me, now)?;
            extra.push(EntryWrite {
                index: Index::Trash,
                key: trash_key(a.id),
                id: a.image.0,
                value: Some(codec::encode_annotation(&a)),
                expect: Expect::Anything,
            });
            Ok((a, extra))
        })?;
        self.0.notify(ChangeOp::Deleted, me, &out);
        Ok(out)
    }

    /// Puts trashed annotations back, live (`deleted` false), in one atomic batch; the restore
    /// is a new history entry. The actor must be able to edit each (as to delete it); an id
    /// that is not in the trash, or whose image the actor cannot see, is not found (`[i]`).
    pub fn restore_trashed(&self, actor: &Actor, ids: &[AnnotationId]) -> Result<Vec<Annotation>> {
        let mut seen = HashSet::new();
        let ids: Vec<AnnotationId> = ids.iter().copied().filter(|id| seen.insert(*id)).collect();
        let now = self.0.now();
        let me = actor.user;
        let mut back = Vec::with_capacity(ids.len());
        let mut extra = Vec::with_capacity(2 * ids.len());
        for (i, &id) in ids.iter().enumerate() {
            let not_trashed = || at_index(i, Error::not_found(format!("{id} in the trash")));
            let (trashed, raw) = self.0.trashed_entry(id)?.ok_or_else(not_trashed)?;
            let (_, set, rights) =
                self.0
                    .readable_image(actor, trashed.image)
                    .map_err(|e| match e.kind() {
                        ErrorKind::NotFound => not_trashed(),
                        _ => e,
                    })?;
            if !actor.sees(&set, &rights, &trashed) {
                return Err(not_trashed());
            }
            if !actor.may_edit(&set, &rights, &trashed) {
                return Err(at_index(
                    i,
                    Error::denied(format!("{id} belongs to someone else")),
                ));
            }
            let a = Annotation {
                deleted: false,
                last_editor: Some(me),
                last_edit_time: now,
                ..trashed.clone()
            };
            let change = self.change(&trashed, crate::model::ChangeAction::Restored, me, now)?;
            extra.push(change_entry_after(&change, &a));
            extra.push(EntryWrite {
                index: Index::Trash,
                key: trash_key(id),
                id: trashed.image.0,
                value: None,
                expect: Expect::Exactly(raw),
            });
            back.push(a);
        }
        if back.is_empty() {
            return Ok(back);
        }
        self.0.insert_annotations_with(&back, extra)?;
        self.0.notify(ChangeOp::Updated, me, &back);
        Ok(back)
    }

    /// The trashed annotations of `image` the actor could restore, by id.
    pub fn trashed(&self, actor: &Actor, image: ImageId) -> Result<Vec<Annotation>> {
        let (_, set, rights) = self.0.readable_image(actor, image)?;
        let what = self.0.store.location().to_owned();
        let mut out = Vec::new();
        let mut damaged = None;
        self.0
            .store
            .index_visit(Index::Trash, &[], &TRASH_END, &mut |key, img, value| {
                if img == image.0 {
                    let id = key
                        .get(..8)
                        .and_then(|b| b.try_into().ok())
                        .map(u64::from_be_bytes)
                        .unwrap_or(0);
                    match codec::decode_annotation(id, value, &what) {
                        Ok(a) => out.push(a),
                        Err(e) => damaged = Some(e),
                    }
                }
                true
            })?;
        if let Some(e) = damaged {
            self.0.report(&e);
        }
        out.retain(|a| actor.sees(&set, &rights, a) && actor.may_edit(&set, &rights, a));
        out.sort_by_key(|a| a.id);
        Ok(out)
    }
}
