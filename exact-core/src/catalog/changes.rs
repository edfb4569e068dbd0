//! Change notification: the use cases tell registered [`ChangeSink`]s about every annotation
//! write after it is committed, so a server can push live events and invalidate caches
//! (overview tiles) without polling the store. Core stays pure: a sink is a plain trait
//! object, called synchronously; what it does with the change (a channel, a counter) is the
//! adapter's business.

use crate::ids::UserId;
use crate::model::Annotation;
use crate::time::Timestamp;
use std::sync::{Arc, RwLock, Weak};

/// What happened to the annotations of one notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOp {
    /// Newly created (one or a bulk batch).
    Created,
    /// Changed and still live (an undelete included).
    Updated,
    /// Deleted after the change (soft delete, or a restore to a deleted revision).
    Deleted,
}

impl ChangeOp {
    /// The op of a write that left the annotation as `after`.
    pub fn of_update(after: &Annotation) -> ChangeOp {
        if after.deleted {
            ChangeOp::Deleted
        } else {
            ChangeOp::Updated
        }
    }

    /// Lower-case name (`created`, `updated`, `deleted`).
    pub fn name(self) -> &'static str {
        match self {
            ChangeOp::Created => "created",
            ChangeOp::Updated => "updated",
            ChangeOp::Deleted => "deleted",
        }
    }
}

/// One committed write: the annotations as they are now, who wrote them and when.
#[derive(Debug, Clone, Copy)]
pub struct AnnotationsChanged<'a> {
    /// What happened.
    pub op: ChangeOp,
    /// Who did it.
    pub actor: UserId,
    /// When (the catalog's clock).
    pub time: Timestamp,
    /// The annotations after the write (possibly of several images in a bulk create).
    pub annotations: &'a [Annotation],
}

/// Receives committed annotation writes.
///
/// Contract: called on the writer's thread after the batch is durable, once per use-case
/// call, never for a failed write. It must return quickly and must not write through the
/// catalog (it would notify itself); a sink that needs to do work hands it to its own queue.
pub trait ChangeSink: Send + Sync {
    /// One committed write.
    fn annotations_changed(&self, change: &AnnotationsChanged<'_>);
}

/// The sinks of one catalog, shared by its clones. Held weakly: a sink lives as long as its
/// owner (a server's state), and a dropped one is forgotten on the next notification.
#[derive(Default)]
pub(crate) struct Sinks(RwLock<Vec<Weak<dyn ChangeSink>>>);

impl Sinks {
    pub(crate) fn add(&self, sink: &Arc<dyn ChangeSink>) {
        let mut v = self.0.write().unwrap_or_else(|e| e.into_inner());
        v.retain(|w| w.strong_count() > 0);
        v.push(Arc::downgrade(sink));
    }

    pub(crate) fn notify(&self, change: &AnnotationsChanged<'_>) {
        if change.annotations.is_empty() {
            return;
        }
        let live: Vec<Arc<dyn ChangeSink>> = self
            .0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for s in live {
            s.annotations_changed(change);
        }
    }
}
