//! Annotations: create (one or in bulk), read, update, soft delete, history and restore.
//! Every change appends to the annotation's history in the same atomic batch.

use super::query::AnnotationQuery;
use super::{Catalog, ChangeOp};
use crate::codec;
use crate::ids::{AnnotationId, AnnotationTypeId, ChangeId, ImageId, UserId};
use crate::keys::{Key, prefix_end};
use crate::limits;
use crate::model::{
    Annotation, AnnotationChange, AnnotationType, ChangeAction, CollaborationType, ImageSet,
    Product, VectorType,
};
use crate::permissions::{Actor, SetRights};
use crate::record::change_entry_after;
use crate::store::{Index, Kind};
use crate::time::Timestamp;
use crate::vector::Vector;
use crate::{Error, ErrorKind, Result};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use uuid::Uuid;

/// An annotation to create. `time`, `last_edit_time` and `unique_identifier` may be given by
/// syncing clients (SlideRunner, EXACT-Sync) and are then kept as sent.
#[derive(Debug, Clone)]
pub struct NewAnnotation {
    /// Its class.
    pub annotation_type: AnnotationTypeId,
    /// The image.
    pub image: ImageId,
    /// The geometry; `None` = "not in image" or an image-level global label.
    pub vector: Option<Vector>,
    /// Flag.
    pub concealed: bool,
    /// Flag.
    pub blurred: bool,
    /// Remark, at most [`limits::MAX_DESCRIPTION_CHARS`] characters.
    pub description: String,
    /// Free JSON, at most [`limits::MAX_META_DATA_BYTES`] bytes.
    pub meta_data: serde_json::Value,
    /// Client key; a fresh UUID when absent.
    pub unique_identifier: Option<Uuid>,
    /// Create already soft-deleted (sync of deleted annotations).
    pub deleted: bool,
    /// Creation time override.
    pub time: Option<Timestamp>,
    /// Last-edit time override.
    pub last_edit_time: Option<Timestamp>,
    /// Creator override: superusers only (imports on behalf of others).
    pub user: Option<UserId>,
}

impl NewAnnotation {
    /// An annotation of `annotation_type` on `image` with `vector`.
    pub fn new(annotation_type: AnnotationTypeId, image: ImageId, vector: Option<Vector>) -> Self {
        NewAnnotation {
            annotation_type,
            image,
            vector,
            concealed: false,
            blurred: false,
            description: String::new(),
            meta_data: serde_json::Value::Null,
            unique_identifier: None,
            deleted: false,
            time: None,
            last_edit_time: None,
            user: None,
        }
    }
}

/// Changes to an annotation; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AnnotationPatch {
    /// New class (must be offered on the image's set).
    pub annotation_type: Option<AnnotationTypeId>,
    /// New geometry (`Some(None)` = "not in image").
    pub vector: Option<Option<Vector>>,
    /// Soft delete (`true`) or undelete (`false`).
    pub deleted: Option<bool>,
    /// Flag.
    pub concealed: Option<bool>,
    /// Flag.
    pub blurred: Option<bool>,
    /// Remark.
    pub description: Option<String>,
    /// Free JSON.
    pub meta_data: Option<serde_json::Value>,
    /// Client key.
    pub unique_identifier: Option<Uuid>,
    /// Last-edit time override (sync); otherwise now.
    pub last_edit_time: Option<Timestamp>,
    /// Apply only if the annotation is still at one of these versions
    /// ([`Annotation::version`]; HTTP `If-Match`), else fail with [`Error::Stale`] and write
    /// nothing. Checked inside the write's optimistic batch, against the state it replaces,
    /// so it holds across any number of servers. `None`: the last writer wins, as in EXACT.
    pub if_match: Option<Vec<u64>>,
}

/// One state in an annotation's history: revision 0 is the creation, each later one a change.
#[derive(Debug, Clone, PartialEq)]
pub struct Revision {
    /// 0 for the creation, then 1, 2, … in order.
    pub number: usize,
    /// The history entry, `None` for the creation.
    pub change: Option<ChangeId>,
    /// What happened.
    pub action: ChangeAction,
    /// Who did it.
    pub user: Option<UserId>,
    /// When.
    pub time: Timestamp,
    /// The annotation before (`None` for the creation).
    pub before: Option<Annotation>,
    /// The annotation after.
    pub after: Annotation,
}

/// Annotation use cases.
pub struct Annotations<'a>(pub(crate) &'a Catalog);

/// What a write needs to know about an image, loaded once per image in bulk writes.
pub(crate) struct ImageCtx {
    pub set: ImageSet,
    pub rights: SetRights,
}

impl Annotations<'_> {
    /// Creates one annotation.
    pub fn create(&self, actor: &Actor, new: NewAnnotation) -> Result<Annotation> {
        let mut out = self.create_many_inner(actor, vec![new], false, Vec::new())?;
        Ok(out.remove(0))
    }

    /// Creates many annotations in one atomic, durable batch (all or none). Errors name the
    /// offending element as `[i].field`.
    pub fn create_many(&self, actor: &Actor, news: Vec<NewAnnotation>) -> Result<Vec<Annotation>> {
        self.create_many_inner(actor, news, true, Vec::new())
    }

    /// Like [`Annotations::create_many`], committing `extra` index entries in the same batch
    /// (a model job marks the tile whose proposals these are as done).
    pub(crate) fn create_many_with(
        &self,
        actor: &Actor,
        news: Vec<NewAnnotation>,
        extra: Vec<crate::store::EntryWrite>,
    ) -> Result<Vec<Annotation>> {
        self.create_many_inner(actor, news, true, extra)
    }

    fn create_many_inner(
        &self,
        actor: &Actor,
        news: Vec<NewAnnotation>,
        indexed: bool,
        extra: Vec<crate::store::EntryWrite>,
    ) -> Result<Vec<Annotation>> {
        let c = self.0;
        if news.is_empty() {
            return Ok(Vec::new());
        }
        let mut images: HashMap<ImageId, ImageCtx> = HashMap::new();
        let mut types: HashMap<AnnotationTypeId, AnnotationType> = HashMap::new();
        let mut globals: Vec<(ImageId, AnnotationTypeId, Option<u32>, Option<UserId>)> = Vec::new();
        let now = c.now();
        let mut out = Vec::with_capacity(news.len());
        for (i, new) in news.into_iter().enumerate() {
            let a = self
                .prepare(actor, new, now, &mut images, &mut types, &mut globals)
                .map_err(|e| if indexed { at_index(i, e) } else { e })?;
            out.push(a);
        }
        let first = c.store.allocate_ids(Kind::Annotation, out.len() as u64)?;
        for (i, a) in out.iter_mut().enumerate() {
            a.id = AnnotationId(first + i as u64);
        }
        if extra.is_empty() {
            c.insert_annotations(&out)?;
        } else {
            c.insert_annotations_with(&out, extra)?;
        }
        c.notify(ChangeOp::Created, actor.user, &out);
        Ok(out)
    }

    fn prepare(
        &self,
        actor: &Actor,
        new: NewAnnotation,
        now: Timestamp,
        images: &mut HashMap<ImageId, ImageCtx>,
        types: &mut HashMap<AnnotationTypeId, AnnotationType>,
        globals: &mut Vec<(ImageId, AnnotationTypeId, Option<u32>, Option<UserId>)>,
    ) -> Result<Annotation> {
        let c = self.0;
        let ctx = match images.entry(new.image) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => {
                let (_, set, rights) = c
                    .readable_image(actor, new.image)
                    .map_err(|e| field_of(e, "image"))?;
                v.insert(ImageCtx { set, rights })
            }
        };
        if !ctx.rights.annotate {
            return Err(Error::denied(format!(
                "no rights to annotate {}",
                new.image
            )));
        }
        let t = match types.entry(new.annotation_type) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => {
                v.insert(self.offered_type(actor, &ctx.set, new.annotation_type)?)
            }
        };
        Vector::validate(new.vector.as_ref(), t.vector_type, t.node_count)?;
        limits::check_description("description", &new.description)?;
        limits::check_meta_data("meta_data", &new.meta_data)?;
        let user = match new.user {
            Some(u) if u != actor.user && !actor.superuser => {
                return Err(Error::denied(
                    "only superusers create annotations on behalf of others",
                ));
            }
            Some(u) => u,
            None => actor.user,
        };
        if t.vector_type == VectorType::Global && !new.deleted {
            let owner =
                (ctx.set.collaboration_type == CollaborationType::Competitive).then_some(user);
            let frame = new.vector.as_ref().and_then(|v| v.frame);
            let key = (new.image, t.id, frame, owner);
            if globals.contains(&key) || self.live_global(new.image, t.id, frame, owner)? {
                return Err(Error::exists(format!(
                    "a global label {:?} on {}{}",
                    t.name,
                    new.image,
                    frame.map(|f| format!(" frame {f}")).unwrap_or_default()
                )));
            }
            globals.push(key);
        }
        let time = new.time.unwrap_or(now);
        Ok(Annotation {
            id: AnnotationId(0),
            annotation_type: t.id,
            vector: new.vector,
            image: new.image,
            user: Some(user),
            last_editor: Some(user),
            time,
            last_edit_time: new.last_edit_time.unwrap_or(time),
            deleted: new.deleted,
            concealed: new.concealed,
            blurred: new.blurred,
            description: new.description,
            unique_identifier: new.unique_identifier.unwrap_or_else(Uuid::new_v4),
            meta_data: new.meta_data,
        })
    }

    /// The type `id` if it may be used on `set`: active, and from a product attached to the set
    /// or owned by the set's team.
    fn offered_type(
        &self,
        actor: &Actor,
        set: &ImageSet,
        id: AnnotationTypeId,
    ) -> Result<AnnotationType> {
        let c = self.0;
        let t: AnnotationType = c
            .find(id.0)?
            .ok_or_else(|| Error::invalid("annotation_type", format!("{id} does not exist")))?;
        let product: Option<Product> = match t.product {
            Some(p) => c.find(p.0)?,
            None => None,
        };
        let offered = product.is_some_and(|p| {
            p.imagesets.contains(&set.id) || (p.team.is_some() && p.team == set.team)
        });
        if !offered && !actor.superuser {
            return Err(Error::invalid(
                "annotation_type",
                format!(
                    "{id} is not offered on {} (attach its product to the set)",
                    set.id
                ),
            ));
        }
        if !t.active {
            return Err(Error::invalid(
                "annotation_type",
                format!("{id} ({:?}) is inactive", t.name),
            ));
        }
        Ok(t)
    }

    fn live_global(
        &self,
        image: ImageId,
        t: AnnotationTypeId,
        frame: Option<u32>,
        owner: Option<UserId>,
    ) -> Result<bool> {
        let cell = crate::grid::cell_key(image.0, None);
        let mut entries = Vec::new();
        for page in self.0.cell_pages(&cell)? {
            self.0
                .page_annotations(&page.value, &mut |a| entries.push(a));
        }
        for a in entries {
            let same_frame = a.vector.as_ref().and_then(|v| v.frame) == frame;
            if a.annotation_type == t
                && !a.deleted
                && same_frame
                && (owner.is_none() || a.user == owner)
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// An annotation the actor may see (deleted ones included).
    pub fn get(&self, actor: &Actor, id: AnnotationId) -> Result<Annotation> {
        let a = self
            .0
            .find_annotation(id)?
            .ok_or_else(|| Error::not_found(id))?;
        let (_, set, rights) = self.0.readable_image(actor, a.image).map_err(|e| {
            if e.kind() == ErrorKind::NotFound {
                Error::not_found(id)
            } else {
                e
            }
        })?;
        if !actor.sees(&set, &rights, &a) {
            return Err(Error::not_found(id));
        }
        Ok(a)
    }

    /// The annotations of `image` with this client UUID that the actor may see (deleted ones
    /// included): how syncing clients match their objects.
    pub fn by_uuid(&self, actor: &Actor, image: ImageId, uuid: Uuid) -> Result<Vec<Annotation>> {
        let (_, set, rights) = self.0.readable_image(actor, image)?;
        let all = AnnotationQuery {
            deleted: None,
            ..Default::default()
        };
        let mut found = self.0.grid_scan(image, &all)?;
        found.retain(|a| a.unique_identifier == uuid && actor.sees(&set, &rights, a));
        Ok(found)
    }

    /// Changes an annotation the actor may edit, appending to its history.
    pub fn update(
        &self,
        actor: &Actor,
        id: AnnotationId,
        patch: AnnotationPatch,
    ) -> Result<Annotation> {
        let mut out = self.update_many_inner(actor, vec![(id, patch)], false)?;
        Ok(out.remove(0))
    }

    /// Changes many annotations in one atomic, durable batch (all or none). Every item is
    /// checked first — the actor must be able to *edit* each (in a competitive or
    /// second-opinion set: their own) — and nothing is written unless all pass. Errors name
    /// the offending element as `[i]`; an id given twice is invalid input.
    pub fn update_many(
        &self,
        actor: &Actor,
        patches: Vec<(AnnotationId, AnnotationPatch)>,
    ) -> Result<Vec<Annotation>> {
        self.update_many_inner(actor, patches, true)
    }

    /// Soft-deletes an annotation: it is hidden from queries but kept, with its history.
    pub fn delete(&self, actor: &Actor, id: AnnotationId) -> Result<Annotation> {
        self.update(actor, id, deletion())
    }

    /// Soft-deletes many annotations in one atomic batch, checked like
    /// [`Annotations::update_many`]: either every one is deleted or none. Repeated ids count
    /// once.
    pub fn delete_many(&self, actor: &Actor, ids: &[AnnotationId]) -> Result<Vec<Annotation>> {
        let mut seen = std::collections::HashSet::new();
        let patches = ids
            .iter()
            .filter(|id| seen.insert(**id))
            .map(|id| (*id, deletion()))
            .collect();
        self.update_many_inner(actor, patches, true)
    }

    fn update_many_inner(
        &self,
        actor: &Actor,
        patches: Vec<(AnnotationId, AnnotationPatch)>,
        indexed: bool,
    ) -> Result<Vec<Annotation>> {
        if patches.is_empty() {
            return Ok(Vec::new());
        }
        let tag = |i: usize, e: Error| if indexed { at_index(i, e) } else { e };
        let mut images: HashMap<ImageId, ImageCtx> = HashMap::new();
        let mut types: HashMap<AnnotationTypeId, Option<AnnotationType>> = HashMap::new();
        let mut plans: HashMap<AnnotationId, (usize, Plan)> = HashMap::new();
        let mut ids = Vec::with_capacity(patches.len());
        let wanted: Vec<AnnotationId> = patches.iter().map(|(id, _)| *id).collect();
        let found = self.0.find_annotations(&wanted)?;
        for (i, ((id, patch), current)) in patches.into_iter().zip(found).enumerate() {
            let plan = self
                .plan(actor, id, current, patch, &mut images, &mut types)
                .map_err(|e| tag(i, e))?;
            if plans.insert(id, (i, plan)).is_some() {
                return Err(tag(i, Error::invalid("id", format!("{id} is given twice"))));
            }
            ids.push(id);
        }
        let now = self.0.now();
        let me = actor.user;
        // One id allocation for the whole batch's history entries (the i-th change gets
        // `first + i`, on every attempt: a failed attempt committed none of them).
        let first = self
            .0
            .store
            .allocate_ids(Kind::AnnotationChange, ids.len() as u64)?;
        let out = self.0.modify_annotations(&ids, |old| {
            let (i, plan) = plans.get(&old.id).ok_or_else(|| Error::not_found(old.id))?;
            self.apply_numbered(old, plan, me, now, ChangeId(first + *i as u64))
                .map_err(|e| tag(*i, e))
        })?;
        // One notification per op, so a bulk mixing edits and deletes tells both.
        let (gone, live): (Vec<Annotation>, Vec<Annotation>) =
            out.iter().cloned().partition(|a| a.deleted);
        self.0.notify(ChangeOp::Updated, me, &live);
        self.0.notify(ChangeOp::Deleted, me, &gone);
        Ok(out)
    }

    /// Checks one change before anything is written: the annotation (looked up by the caller,
    /// `None` if missing, so a bulk change reads its annotations in one pass and each image's
    /// rights once) is visible and editable, a new type is offered on the set, the texts are
    /// within the limits.
    pub(super) fn plan(
        &self,
        actor: &Actor,
        id: AnnotationId,
        current: Option<Annotation>,
        patch: AnnotationPatch,
        images: &mut HashMap<ImageId, ImageCtx>,
        types: &mut HashMap<AnnotationTypeId, Option<AnnotationType>>,
    ) -> Result<Plan> {
        let current = current.ok_or_else(|| Error::not_found(id))?;
        let ctx = match images.entry(current.image) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => {
                let (_, set, rights) =
                    self.0
                        .readable_image(actor, current.image)
                        .map_err(|e| match e.kind() {
                            ErrorKind::NotFound => Error::not_found(id),
                            _ => e,
                        })?;
                v.insert(ImageCtx { set, rights })
            }
        };
        // As `get`: what the actor may not see is not found.
        if !actor.sees(&ctx.set, &ctx.rights, &current) {
            return Err(Error::not_found(id));
        }
        if !actor.may_edit(&ctx.set, &ctx.rights, &current) {
            return Err(Error::denied(format!("{id} belongs to someone else")));
        }
        let new_type = match patch.annotation_type {
            Some(t) if t != current.annotation_type => Some(self.offered_type(actor, &ctx.set, t)?),
            _ => None,
        };
        let old_type = match types.entry(current.annotation_type) {
            Entry::Occupied(o) => o.get().clone(),
            Entry::Vacant(v) => v.insert(self.0.find(current.annotation_type.0)?).clone(),
        };
        if let Some(d) = &patch.description {
            limits::check_description("description", d)?;
        }
        if let Some(m) = &patch.meta_data {
            limits::check_meta_data("meta_data", m)?;
        }
        Ok(Plan {
            patch,
            new_type,
            old_type,
        })
    }

    /// The new state of `old` under `plan`, with its history entry.
    pub(super) fn apply(
        &self,
        old: &Annotation,
        plan: &Plan,
        me: UserId,
        now: Timestamp,
    ) -> Result<(Annotation, Vec<crate::store::EntryWrite>)> {
        let id = ChangeId(self.0.store.allocate_ids(Kind::AnnotationChange, 1)?);
        self.apply_numbered(old, plan, me, now, id)
    }

    /// [`Annotations::apply`] with the history entry's id allocated by the caller (a bulk
    /// change allocates all of them at once).
    pub(super) fn apply_numbered(
        &self,
        old: &Annotation,
        plan: &Plan,
        me: UserId,
        now: Timestamp,
        change_id: ChangeId,
    ) -> Result<(Annotation, Vec<crate::store::EntryWrite>)> {
        if let Some(expected) = &plan.patch.if_match {
            let current = old.version();
            if !expected.contains(&current) {
                return Err(Error::Stale {
                    what: old.id.to_string(),
                    expected: expected
                        .iter()
                        .map(|v| format!("{v:016x}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    current: format!("{current:016x}"),
                });
            }
        }
        let mut a = old.clone();
        let p = plan.patch.clone();
        if let Some(t) = &plan.new_type {
            a.annotation_type = t.id;
        }
        if let Some(v) = p.vector {
            a.vector = v;
        }
        let t = plan.new_type.as_ref().or(plan.old_type.as_ref());
        if plan.new_type.is_some() || plan.patch.vector.is_some() {
            match t {
                Some(t) => Vector::validate(a.vector.as_ref(), t.vector_type, t.node_count)?,
                None if a
                    .vector
                    .as_ref()
                    .is_some_and(|v| v.points.len() > limits::MAX_VECTOR_NODES) =>
                {
                    return Err(Error::invalid(
                        "vector",
                        format!("more than {} nodes", limits::MAX_VECTOR_NODES),
                    ));
                }
                None => {}
            }
        }
        a.deleted = p.deleted.unwrap_or(a.deleted);
        a.concealed = p.concealed.unwrap_or(a.concealed);
        a.blurred = p.blurred.unwrap_or(a.blurred);
        a.description = p.description.unwrap_or(a.description);
        a.meta_data = p.meta_data.unwrap_or(a.meta_data);
        a.unique_identifier = p.unique_identifier.unwrap_or(a.unique_identifier);
        a.last_editor = Some(me);
        a.last_edit_time = p.last_edit_time.unwrap_or(now);
        let action = match (old.deleted, a.deleted) {
            (false, true) => ChangeAction::Deleted,
            (true, false) => ChangeAction::Restored,
            _ => ChangeAction::Updated,
        };
        let change = AnnotationChange {
            id: change_id,
            annotation: old.id,
            user: Some(me),
            time: now,
            action,
            before: Some(old.clone()),
        };
        let entry = change_entry_after(&change, &a);
        Ok((a, vec![entry]))
    }

    /// The annotation's history, oldest first: the creation, then every change.
    pub fn history(&self, actor: &Actor, id: AnnotationId) -> Result<Vec<Revision>> {
        let live = self.get(actor, id)?;
        let prefix = Key::new().u64(id.0).build();
        let entries =
            self.0
                .store
                .index_range(Index::Changes, &prefix, &prefix_end(&prefix), usize::MAX)?;
        // Entries store the earlier state as a delta against the later one (older entries as
        // a full copy), so they are decoded newest first, starting from the live annotation.
        let mut changes = Vec::with_capacity(entries.len());
        let mut after = live.clone();
        for e in entries.iter().rev() {
            let change_id = e
                .key
                .get(8..16)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            let c = codec::decode_change_after(
                change_id,
                id,
                &e.value,
                Some(&after),
                self.0.store.location(),
            )?;
            if let Some(b) = &c.before {
                after = b.clone();
            }
            changes.push(c);
        }
        changes.reverse();
        // The state after change i is the state before change i + 1, or the live annotation.
        let state_after = |i: usize| -> Annotation {
            changes
                .get(i + 1)
                .and_then(|c| c.before.clone())
                .unwrap_or_else(|| live.clone())
        };
        let created = changes
            .first()
            .and_then(|c| c.before.clone())
            .unwrap_or_else(|| live.clone());
        let mut out = vec![Revision {
            number: 0,
            change: None,
            action: ChangeAction::Created,
            user: created.user,
            time: created.time,
            before: None,
            after: created,
        }];
        for (i, c) in changes.iter().enumerate() {
            out.push(Revision {
                number: i + 1,
                change: Some(c.id),
                action: c.action,
                user: c.user,
                time: c.time,
                before: c.before.clone(),
                after: state_after(i),
            });
        }
        Ok(out)
    }

    /// Restores the annotation to the state after revision `number` of its history (undelete
    /// included); the restore is itself a new history entry.
    pub fn restore(&self, actor: &Actor, id: AnnotationId, number: usize) -> Result<Annotation> {
        let history = self.history(actor, id)?;
        let target = history
            .get(number)
            .ok_or_else(|| Error::not_found(format!("revision {number} of {id}")))?
            .after
            .clone();
        let current = history
            .last()
            .map(|r| r.after.clone())
            .unwrap_or_else(|| target.clone());
        let (_, set, rights) = self.0.readable_image(actor, current.image)?;
        if !actor.may_edit(&set, &rights, &current) {
            return Err(Error::denied(format!("{id} belongs to someone else")));
        }
        // States from before the write limits existed may not come back over them.
        limits::check_description("description", &target.description)?;
        limits::check_meta_data("meta_data", &target.meta_data)?;
        let now = self.0.now();
        let me = actor.user;
        let a = self.0.modify_annotation(id, |old| {
            let a = Annotation {
                annotation_type: target.annotation_type,
                vector: target.vector.clone(),
                deleted: target.deleted,
                concealed: target.concealed,
                blurred: target.blurred,
                description: target.description.clone(),
                meta_data: target.meta_data.clone(),
                unique_identifier: target.unique_identifier,
                last_editor: Some(me),
                last_edit_time: now,
                ..old.clone()
            };
            let change = self.change(old, ChangeAction::Restored, me, now)?;
            let entry = change_entry_after(&change, &a);
            Ok((a, vec![entry]))
        })?;
        self.0
            .notify(ChangeOp::of_update(&a), me, std::slice::from_ref(&a));
        Ok(a)
    }

    pub(super) fn change(
        &self,
        before: &Annotation,
        action: ChangeAction,
        user: UserId,
        time: Timestamp,
    ) -> Result<AnnotationChange> {
        Ok(AnnotationChange {
            id: ChangeId(self.0.store.allocate_ids(Kind::AnnotationChange, 1)?),
            annotation: before.id,
            user: Some(user),
            time,
            action,
            before: Some(before.clone()),
        })
    }
}

/// A checked change waiting for the batch that applies it.
pub(super) struct Plan {
    patch: AnnotationPatch,
    new_type: Option<AnnotationType>,
    old_type: Option<AnnotationType>,
}

pub(super) fn deletion() -> AnnotationPatch {
    AnnotationPatch {
        deleted: Some(true),
        ..Default::default()
    }
}

pub(super) fn at_index(i: usize, e: Error) -> Error {
    match e {
        Error::InvalidInput { field, reason } => Error::InvalidInput {
            field: format!("[{i}].{field}"),
            reason,
        },
        Error::NotFound { what } => Error::NotFound {
            what: format!("[{i}] {what}"),
        },
        Error::PermissionDenied { reason } => Error::PermissionDenied {
            reason: format!("[{i}] {reason}"),
        },
        Error::AlreadyExists { what } => Error::AlreadyExists {
            what: format!("[{i}] {what}"),
        },
        other => other,
    }
}

/// A referenced object that does not exist is invalid input of the referring field.
fn field_of(e: Error, field: &str) -> Error {
    match e {
        Error::NotFound { what } => Error::invalid(field, what),
        other => other,
    }
}
