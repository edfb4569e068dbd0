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

/// Largest message a store carries (PostgreSQL's NOTIFY takes under 8,000 bytes).
const MESSAGE_BYTES: usize = 7_900;

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A committed write as messages for other processes on the same store:
/// `v1 ORIGIN OP ACTOR TIME ID:HEX …`, split so each stays under [`MESSAGE_BYTES`]; an
/// annotation too large for one message is left out (live events are best effort).
pub(crate) fn encode_messages(origin: u64, change: &AnnotationsChanged<'_>) -> Vec<String> {
    let head = format!(
        "v1 {origin:016x} {} {} {}",
        change.op.name(),
        change.actor.0,
        change.time.0
    );
    let mut out = Vec::new();
    let mut cur = head.clone();
    for a in change.annotations {
        let item = format!(" {}:{}", a.id.0, hex(&crate::codec::encode_annotation(a)));
        if head.len() + item.len() > MESSAGE_BYTES {
            continue;
        }
        if cur.len() + item.len() > MESSAGE_BYTES {
            out.push(std::mem::replace(&mut cur, head.clone()));
        }
        cur.push_str(&item);
    }
    if cur.len() > head.len() {
        out.push(cur);
    }
    out
}

/// A message of [`encode_messages`] from another origin than `own`: (op, actor, time,
/// annotations). `None` for our own, or anything unreadable.
pub(crate) fn decode_message(
    own: u64,
    message: &str,
) -> Option<(ChangeOp, UserId, Timestamp, Vec<Annotation>)> {
    let mut parts = message.split(' ');
    if parts.next()? != "v1" {
        return None;
    }
    let origin = u64::from_str_radix(parts.next()?, 16).ok()?;
    if origin == own {
        return None;
    }
    let op = match parts.next()? {
        "created" => ChangeOp::Created,
        "updated" => ChangeOp::Updated,
        "deleted" => ChangeOp::Deleted,
        _ => return None,
    };
    let actor = UserId(parts.next()?.parse().ok()?);
    let time = Timestamp(parts.next()?.parse().ok()?);
    let mut annotations = Vec::new();
    for item in parts {
        let (id, data) = item.split_once(':')?;
        let bytes = unhex(data)?;
        annotations
            .push(crate::codec::decode_annotation(id.parse().ok()?, &bytes, "a live event").ok()?);
    }
    Some((op, actor, time, annotations))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{AnnotationId, AnnotationTypeId, ImageId};
    use crate::model::Annotation;
    use crate::vector::Vector;

    fn annotation(id: u64, meta: usize) -> Annotation {
        let mut a = Annotation {
            id: AnnotationId(id),
            annotation_type: AnnotationTypeId(1),
            image: ImageId(2),
            vector: Some(Vector::rect(1.0, 2.0, 30.0, 40.0)),
            user: Some(UserId(3)),
            last_editor: None,
            time: Timestamp(5),
            last_edit_time: Timestamp(6),
            deleted: false,
            concealed: false,
            blurred: false,
            description: String::new(),
            unique_identifier: uuid::Uuid::nil(),
            meta_data: serde_json::Value::Null,
        };
        a.description = "x".repeat(meta);
        a
    }

    #[test]
    fn messages_round_trip_in_chunks_and_skip_their_origin() {
        let anns: Vec<Annotation> = (1..=200).map(|i| annotation(i, 10)).collect();
        let change = AnnotationsChanged {
            op: ChangeOp::Updated,
            actor: UserId(9),
            time: Timestamp(77),
            annotations: &anns,
        };
        let messages = encode_messages(42, &change);
        assert!(messages.len() > 1, "split");
        assert!(messages.iter().all(|m| m.len() <= MESSAGE_BYTES));
        let mut back = Vec::new();
        for m in &messages {
            assert!(decode_message(42, m).is_none(), "our own");
            let (op, actor, time, mut a) = decode_message(7, m).unwrap();
            assert_eq!(
                (op, actor, time),
                (ChangeOp::Updated, UserId(9), Timestamp(77))
            );
            back.append(&mut a);
        }
        assert_eq!(back, anns);
        // Too large for one message: left out, never split across two.
        let big = [annotation(1, MESSAGE_BYTES)];
        let change = AnnotationsChanged {
            annotations: &big,
            ..change
        };
        assert!(encode_messages(42, &change).is_empty());
        assert!(decode_message(7, "v1 zz created 1 2").is_none());
    }
}
