//! Live annotation events: the server's [`ChangeSink`]. Every committed annotation write becomes
//! numbered events in a bounded in-memory ring (for `Last-Event-ID` resumes) and on a tokio
//! broadcast channel (for connected `text/event-stream` clients, see `routes/events.rs`); the
//! annotation overview rasters hear about the same writes and stay current.
//!
//! Bounded on purpose: the ring keeps at most [`RING_EVENTS`] events and [`RING_BYTES`] bytes of
//! geometry, the channel [`CHANNEL`] events; a subscriber that falls further behind is told to
//! reset (reload its viewport) instead of making the server buffer for it. A bulk write of more
//! than [`BULK_EVENTS`] annotations on one image is one reset event for that image, not a
//! flood. Sequence numbers start at the process's start time in microseconds, so an id from an
//! earlier process is never mistaken for one of ours (it is out of range and gets a reset).
//! Several servers behind one PostgreSQL share their writes (`Catalog::share_changes`, LISTEN/
//! NOTIFY), so each one's events include the others' writes; sequence numbers stay per server.

use crate::overview::Overviews;
use exact_core::catalog::{AnnotationsChanged, ChangeOp, ChangeSink};
use exact_core::model::Annotation;
use exact_core::{ImageId, Timestamp, UserId};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Most events kept for resumes.
pub const RING_EVENTS: usize = 4096;
/// Most bytes of annotations (approximately) kept for resumes.
pub const RING_BYTES: usize = 32 << 20;
/// Events a connected subscriber may lag behind before it is told to reset.
pub const CHANNEL: usize = 1024;
/// Larger writes on one image become one reset event for it.
pub const BULK_EVENTS: usize = 1000;

/// What an event says.
#[derive(Debug, Clone)]
pub enum Payload {
    /// One annotation changed.
    Annotation {
        /// What happened.
        op: ChangeOp,
        /// The annotation after the change.
        annotation: Annotation,
        /// Who did it.
        user: UserId,
        /// When.
        time: Timestamp,
    },
    /// Too much changed to list: clients reload.
    Reset {
        /// Why.
        reason: String,
    },
}

/// One numbered event of one image.
#[derive(Debug, Clone)]
pub struct Event {
    /// Monotonic sequence number (the SSE `id`).
    pub seq: u64,
    /// The image concerned.
    pub image: ImageId,
    /// What happened.
    pub payload: Payload,
}

impl Event {
    fn bytes(&self) -> usize {
        let points = match &self.payload {
            Payload::Annotation { annotation, .. } => {
                annotation.vector.as_ref().map_or(0, |v| v.points.len()) * 16
                    + annotation.description.len()
                    + annotation.meta_data.to_string().len()
            }
            Payload::Reset { reason } => reason.len(),
        };
        256 + points
    }
}

/// Where a resume starts.
#[derive(Debug)]
pub enum Resume {
    /// These events (of every image) are newer than the client's id, in order.
    Replay(Vec<Arc<Event>>),
    /// The id is older than the ring or unknown: the client must reload.
    Reset,
}

struct Ring {
    next: u64,
    events: VecDeque<Arc<Event>>,
    bytes: usize,
    /// The sequence number of the last event of each image: its annotation generation.
    last_of_image: HashMap<ImageId, u64>,
}

/// The event hub: ring, channel and per-image generations.
pub struct EventHub {
    base: u64,
    ring: Mutex<Ring>,
    tx: broadcast::Sender<Arc<Event>>,
}

impl std::fmt::Debug for EventHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventHub")
            .field("base", &self.base)
            .finish()
    }
}

impl Default for EventHub {
    fn default() -> Self {
        let base = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_micros() as u64);
        EventHub {
            base,
            ring: Mutex::new(Ring {
                next: base + 1,
                events: VecDeque::new(),
                bytes: 0,
                last_of_image: HashMap::new(),
            }),
            tx: broadcast::channel(CHANNEL).0,
        }
    }
}

impl EventHub {
    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The annotation generation of `image`: changes with every write on it, and differs
    /// between server processes (so cached tiles of a previous process are not reused).
    pub fn generation(&self, image: ImageId) -> u64 {
        self.ring()
            .last_of_image
            .get(&image)
            .copied()
            .unwrap_or(self.base)
    }

    /// Numbers and publishes events; they are visible to resumes and subscribers at once.
    pub fn publish(&self, events: impl IntoIterator<Item = (ImageId, Payload)>) {
        let mut ring = self.ring();
        for (image, payload) in events {
            let e = Arc::new(Event {
                seq: ring.next,
                image,
                payload,
            });
            ring.next += 1;
            ring.last_of_image.insert(image, e.seq);
            ring.bytes += e.bytes();
            ring.events.push_back(e.clone());
            while ring.events.len() > RING_EVENTS || ring.bytes > RING_BYTES {
                match ring.events.pop_front() {
                    Some(old) => ring.bytes -= old.bytes(),
                    None => break,
                }
            }
            // No receiver is fine: nobody is listening.
            let _ = self.tx.send(e);
        }
    }

    /// Subscribes, and says what a client that saw event `last` (if any) has missed, without
    /// a gap or a duplicate between the two.
    pub fn subscribe(&self, last: Option<u64>) -> (broadcast::Receiver<Arc<Event>>, Resume) {
        let ring = self.ring();
        let rx = self.tx.subscribe();
        let resume = match last {
            None => Resume::Replay(Vec::new()),
            Some(l) => {
                let oldest = ring.events.front().map_or(ring.next, |e| e.seq);
                if l >= ring.next || l.saturating_add(1) < oldest {
                    Resume::Reset
                } else {
                    Resume::Replay(ring.events.iter().filter(|e| e.seq > l).cloned().collect())
                }
            }
        };
        (rx, resume)
    }
}

/// The sink registered on the catalog: feeds the hub and the overview rasters.
#[derive(Debug)]
pub struct LiveSink {
    /// Live events.
    pub hub: Arc<EventHub>,
    /// Overview rasters to keep current.
    pub overviews: Arc<Overviews>,
}

impl ChangeSink for LiveSink {
    fn annotations_changed(&self, change: &AnnotationsChanged<'_>) {
        let mut per_image: HashMap<ImageId, usize> = HashMap::new();
        for a in change.annotations {
            *per_image.entry(a.image).or_default() += 1;
        }
        let mut events = Vec::new();
        for (image, n) in &per_image {
            if *n > BULK_EVENTS {
                events.push((
                    *image,
                    Payload::Reset {
                        reason: format!("{n} annotations {} at once", change.op.name()),
                    },
                ));
            }
        }
        for a in change.annotations {
            if per_image.get(&a.image).is_some_and(|n| *n > BULK_EVENTS) {
                continue;
            }
            events.push((
                a.image,
                Payload::Annotation {
                    op: change.op,
                    annotation: a.clone(),
                    user: change.actor,
                    time: change.time,
                },
            ));
        }
        // Publish first: a raster being built compares generations before it is stored, so
        // a write that lands during its build is either counted or triggers a rebuild.
        self.hub.publish(events);
        self.overviews.apply(change);
    }
}
