//! `GET /api/v1/events/?image=<id>`: live annotation events of one image as server-sent
//! events, for the viewer's live collaboration. Authenticated and scoped like every read (an
//! image the requester cannot see is a 404); in competitive sets a member only hears of the
//! annotations they may see. `Last-Event-ID` (or `?last_event_id=`) replays what the client
//! missed from the hub's ring, or sends `event: reset` when that is no longer known. The hub and
//! its bounds are in [`crate::events`].

use super::{Req, blocking, json};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::events::{Event, Payload, Resume};
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use exact_core::catalog::ChangeOp;
use exact_core::model::{Annotation, ImageSet};
use exact_core::permissions::{Actor, SetRights};
use exact_core::{ImageId, UserId};
use exact_store::Exact;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// How often an idle stream sends a `: keep-alive` comment (proxies drop silent connections).
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/events/", get(events))
}

/// The `Last-Event-ID` header, else `?last_event_id=`.
fn last_event_id(headers: &HeaderMap, r: &Req) -> ApiResult<Option<u64>> {
    let raw = match headers.get("last-event-id") {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ApiError::bad("Last-Event-ID", "is not ASCII"))?
                .to_owned(),
        ),
        None => r.q.get("last_event_id").map(str::to_owned),
    };
    match raw.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => s.parse().map(Some).map_err(|_| {
            ApiError::bad(
                "last_event_id",
                format!("{s:?} is not an event id (a non-negative integer)"),
            )
        }),
    }
}

async fn events(State(s): State<AppState>, headers: HeaderMap, r: Req) -> ApiResult<Response> {
    let image =
        r.q.u64("image")?
            .map(ImageId)
            .ok_or_else(|| ApiError::bad("image", "required: the image whose events to stream"))?;
    let last = last_event_id(&headers, &r)?;
    let Req { exact, actor, .. } = r;
    let (e, a) = (exact.clone(), actor.clone());
    let (set, rights) = blocking(move || {
        let img = e.images().get(&a, image)?;
        let set = e.image_sets().get(&a, img.image_set)?;
        let rights = a.rights(&set);
        Ok((set, rights))
    })
    .await?;
    let (rx, resume) = s.live.subscribe(last);
    let (pending, reset) = match resume {
        Resume::Replay(events) => (events.into_iter().collect(), false),
        Resume::Reset => (VecDeque::new(), true),
    };
    let sub = Subscriber {
        exact,
        actor,
        set: Arc::new(set),
        rights,
        image,
        rx,
        pending,
        reset: reset.then(|| "the last event id is no longer known".to_owned()),
        users: HashMap::new(),
    };
    let stream = futures::stream::unfold(sub, |mut sub| async move {
        let event = sub.next().await?;
        Some((Ok::<_, Infallible>(event), sub))
    });
    let mut res = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
        .into_response();
    // Reverse proxies (nginx) would otherwise buffer the stream.
    res.headers_mut().insert(
        "x-accel-buffering",
        axum::http::HeaderValue::from_static("no"),
    );
    Ok(res)
}

/// One connected client.
struct Subscriber {
    exact: Exact,
    actor: Actor,
    set: Arc<ImageSet>,
    rights: SetRights,
    image: ImageId,
    rx: broadcast::Receiver<Arc<Event>>,
    /// Replayed events still to send.
    pending: VecDeque<Arc<Event>>,
    /// A reset to send first.
    reset: Option<String>,
    /// `{"id", "username"}` of the writers seen so far.
    users: HashMap<UserId, Value>,
}

fn reset_event(reason: &str) -> SseEvent {
    SseEvent::default()
        .event("reset")
        .data(json!({ "reason": reason }).to_string())
}

impl Subscriber {
    /// The next event for this client; `None` ends the stream (the server is going away).
    async fn next(&mut self) -> Option<SseEvent> {
        if let Some(reason) = self.reset.take() {
            return Some(reset_event(&reason));
        }
        loop {
            let e = match self.pending.pop_front() {
                Some(e) => e,
                None => match self.rx.recv().await {
                    Ok(e) => e,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        return Some(reset_event(&format!("the client fell {n} events behind")));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
            };
            if e.image != self.image {
                continue;
            }
            match &e.payload {
                Payload::Reset { reason } => {
                    return Some(reset_event(reason).id(e.seq.to_string()));
                }
                Payload::Annotation {
                    op,
                    annotation,
                    user,
                    time,
                } => {
                    if !self.actor.sees(&self.set, &self.rights, annotation) {
                        continue;
                    }
                    let data = json!({
                        "op": op.name(),
                        "image": e.image.0,
                        "annotation": self.render(*op, annotation).await,
                        "user": self.user(*user).await,
                        "time": time,
                    });
                    return Some(
                        SseEvent::default()
                            .id(e.seq.to_string())
                            .event("annotation")
                            .data(data.to_string()),
                    );
                }
            }
        }
    }

    /// The annotation as `GET …/annotations/<id>/` renders it for this client. A new
    /// annotation has no verifications, media files or snapshots yet; a changed one is looked up.
    async fn render(&self, op: ChangeOp, a: &Annotation) -> Value {
        let mut v = json(a);
        let extras = match op {
            ChangeOp::Created => None,
            ChangeOp::Updated | ChangeOp::Deleted => {
                let (e, actor, one) = (self.exact.clone(), self.actor.clone(), a.clone());
                blocking(move || Ok(e.annotations().extras(&actor, &[one])?))
                    .await
                    .ok()
                    .and_then(|mut x| x.pop())
            }
        };
        let extras = extras.unwrap_or_default();
        if let Value::Object(m) = &mut v {
            m.insert(
                "verified_by_user".into(),
                Value::Bool(extras.verified_by_user),
            );
            m.insert(
                "uploaded_media_files".into(),
                json(&extras.uploaded_media_files),
            );
            m.insert(
                "annotationversion_set".into(),
                json(&extras.annotationversion_set),
            );
        }
        v
    }

    /// `{"id", "username"}` of a writer (username `null` if the client may not see them).
    async fn user(&mut self, id: UserId) -> Value {
        if let Some(v) = self.users.get(&id) {
            return v.clone();
        }
        let (e, actor) = (self.exact.clone(), self.actor.clone());
        let name = blocking(move || Ok(e.users().get(&actor, id)?.username))
            .await
            .ok();
        let v = json!({ "id": id.0, "username": name });
        self.users.insert(id, v.clone());
        v
    }
}
