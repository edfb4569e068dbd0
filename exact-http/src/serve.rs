//! The accept loop of `exact serve` and `exact_wsi.serve`: hyper's HTTP/1 connection builder
//! with the limits `axum::serve` lacks. A client may not hold a connection by sending
//! nothing, or a request by sending it slowly:
//!
//! - **header read timeout**: the request line and headers must arrive within it (hyper
//!   starts this timer whenever it waits for a request head, so it also bounds an idle
//!   keep-alive connection);
//! - **body read timeout**: while a handler reads a body, each wait for the client's next
//!   bytes is bounded by it (a gap, not a total: a 100 GB upload at a steady rate is fine, a
//!   body that stops is cut off);
//! - **keep-alive idle timeout**: a connection with no request in progress is closed after it;
//! - **connection cap**: beyond it, new connections get a `503` with `Retry-After` and are
//!   closed at once, so open file handles stay bounded; one address may hold only part of
//!   them, so a single client cannot take every slot (loopback is exempt: a reverse proxy on
//!   the same machine carries everyone's connections).
//!
//! Every request carries its peer address as axum's [`ConnectInfo`] and as a [`ClientAddr`]
//! (the last `X-Forwarded-For` hop when the proxy in front is trusted), which the login
//! throttle keys on. Shutdown is graceful: stop accepting, let requests in flight finish
//! (bounded by [`ServeOptions::grace`]), then return.

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::Request;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// Connection limits of the server. Defaults are for a server on the open network: every
/// timeout well under a minute, the cap below a typical 4,096 open-file limit with room for
/// slides and the database.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Time a client has to send a request's line and headers (`EXACT_HEADER_TIMEOUT`).
    pub header_read_timeout: Duration,
    /// Longest wait for the next bytes of a request body (`EXACT_BODY_TIMEOUT`).
    pub body_read_timeout: Duration,
    /// How long a connection may sit idle between requests (`EXACT_KEEPALIVE_TIMEOUT`).
    pub keep_alive_timeout: Duration,
    /// Connections open at once (`EXACT_MAX_CONNECTIONS`).
    pub max_connections: usize,
    /// Connections one non-loopback address may hold at once, 0 for no limit
    /// (`EXACT_MAX_CONNECTIONS_PER_IP`).
    pub max_connections_per_ip: usize,
    /// How long a shutdown waits for requests in flight before dropping them.
    pub grace: Duration,
    /// Trust the last `X-Forwarded-For` hop as the client's address (only behind a proxy
    /// that sets it; otherwise any client could pick its address).
    pub trust_forwarded_for: bool,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(30),
            keep_alive_timeout: Duration::from_secs(30),
            max_connections: 2_048,
            // A browser opens 6 per host, a busy notebook some tens: 256 leaves most of the
            // 2,048 to everyone else when one address floods.
            max_connections_per_ip: 256,
            grace: Duration::from_secs(30),
            trust_forwarded_for: false,
        }
    }
}

/// The address a request came from, as the throttle and logs see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddr(pub IpAddr);

/// Serves `app` on `listener` until `shutdown` resolves, then drains connections gracefully.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    opts: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let max = opts.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max));
    let (stop_tx, stop_rx) = watch::channel(false);
    let opts = Arc::new(opts);
    let per_ip: Arc<std::sync::Mutex<HashMap<IpAddr, usize>>> = Arc::default();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(opts.header_read_timeout)
        .keep_alive(true);
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file handles and the like: wait rather than spin.
                    if !is_per_connection(&e) {
                        tracing::error!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tokio::spawn(refuse(tcp));
            continue;
        };
        let Some(counted) = PerIp::take(&per_ip, peer.ip(), opts.max_connections_per_ip) else {
            tokio::spawn(refuse(tcp));
            continue;
        };
        // Interactive answers come in small writes: no Nagle delay on them.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {e}");
        }
        let conn = Connection {
            app: app.clone(),
            opts: opts.clone(),
            builder: builder.clone(),
            stop: stop_rx.clone(),
            peer,
        };
        tokio::spawn(async move {
            conn.run(tcp).await;
            drop(counted);
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection holds a slot: all slots back means all connections closed.
    let drained = slots.acquire_many(u32::try_from(max).unwrap_or(u32::MAX));
    if tokio::time::timeout(opts.grace, drained).await.is_err() {
        tracing::warn!(
            "{} connection(s) still open after {:?}; stopping anyway",
            max - slots.available_permits(),
            opts.grace
        );
    }
    Ok(())
}

/// One connection counted against its address; the count drops with it.
struct PerIp {
    counts: Arc<std::sync::Mutex<HashMap<IpAddr, usize>>>,
    ip: Option<IpAddr>,
}

impl PerIp {
    /// Counts a connection from `ip`, or `None` when the address holds `max` already.
    fn take(
        counts: &Arc<std::sync::Mutex<HashMap<IpAddr, usize>>>,
        ip: IpAddr,
        max: usize,
    ) -> Option<PerIp> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if max == 0 || ip.is_loopback() {
            return Some(PerIp {
                counts: counts.clone(),
                ip: None,
            });
        }
        let mut map = counts.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(PerIp {
            counts: counts.clone(),
            ip: Some(ip),
        })
    }
}

impl Drop for PerIp {
    fn drop(&mut self) {
        let Some(ip) = self.ip else { return };
        let mut map = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&ip);
            }
        }
    }
}

/// Errors of one accepted connection, not of the listener.
fn is_per_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        e.kind(),
        K::ConnectionRefused | K::ConnectionAborted | K::ConnectionReset
    )
}

/// The answer of a full server: short, closed at once, without reading the request.
async fn refuse(mut tcp: tokio::net::TcpStream) {
    let body = r#"{"detail":"Too many open connections; retry shortly."}"#;
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = tcp.write_all(head.as_bytes()).await;
        let _ = tcp.shutdown().await;
    })
    .await;
}

/// One accepted connection.
struct Connection {
    app: Router,
    opts: Arc<ServeOptions>,
    builder: Arc<hyper::server::conn::http1::Builder>,
    stop: watch::Receiver<bool>,
    peer: SocketAddr,
}

/// Requests in progress on a connection and when the last one ended, so an idle
/// connection can be told apart from one streaming a long answer.
#[derive(Default)]
struct Activity {
    busy: AtomicUsize,
    /// Milliseconds since the connection opened, when a request last ended.
    last_ms: AtomicU64,
}

impl Connection {
    async fn run(mut self, tcp: tokio::net::TcpStream) {
        let opened = Instant::now();
        let activity = Arc::new(Activity::default());
        let service = {
            let (app, opts, activity, peer) = (
                self.app.clone(),
                self.opts.clone(),
                activity.clone(),
                self.peer,
            );
            hyper::service::service_fn(move |req: Request<Incoming>| {
                let mut app = app.clone();
                let req = prepare(req, &opts, peer);
                activity.busy.fetch_add(1, Ordering::Relaxed);
                let done = Done {
                    activity: activity.clone(),
                    opened,
                };
                async move {
                    let res = tower_service::Service::call(&mut app, req).await;
                    res.map(|r| r.map(|b| axum::body::Body::new(Tracked { inner: b, done })))
                }
            })
        };
        let conn = self
            .builder
            .serve_connection(TokioIo::new(tcp), service)
            .with_upgrades();
        tokio::pin!(conn);
        let keep_alive = self.opts.keep_alive_timeout;
        let mut closing = false;
        loop {
            // The earliest moment the connection can have been idle for `keep_alive`.
            let last = Duration::from_millis(activity.last_ms.load(Ordering::Relaxed));
            let idle_at = tokio::time::Instant::from_std(opened + last + keep_alive);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(peer = %self.peer, "connection ended: {e}");
                    }
                    return;
                }
                _ = self.stop.changed(), if !closing => {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
                () = tokio::time::sleep_until(idle_at), if !closing => {
                    let last = Duration::from_millis(activity.last_ms.load(Ordering::Relaxed));
                    if activity.busy.load(Ordering::Relaxed) == 0
                        && opened.elapsed() >= last + keep_alive
                    {
                        closing = true;
                        conn.as_mut().graceful_shutdown();
                    } else if activity.busy.load(Ordering::Relaxed) > 0 {
                        // A request is in progress: look again once a full idle period
                        // could have passed after it.
                        activity.last_ms.store(
                            u64::try_from(opened.elapsed().as_millis()).unwrap_or(u64::MAX),
                            Ordering::Relaxed,
                        );
                    }
                }
            }
        }
    }
}

/// Adds the peer address and the body timeout to a request for the router.
fn prepare(
    req: Request<Incoming>,
    opts: &ServeOptions,
    peer: SocketAddr,
) -> Request<axum::body::Body> {
    let client = opts
        .trust_forwarded_for
        .then(|| forwarded_for(req.headers()))
        .flatten()
        .unwrap_or(peer.ip());
    let (mut parts, body) = req.into_parts();
    parts.extensions.insert(ConnectInfo(peer));
    parts.extensions.insert(ClientAddr(client));
    let body = TimeoutBody {
        inner: body,
        timeout: opts.body_read_timeout,
        sleep: None,
        armed: false,
    };
    Request::from_parts(parts, axum::body::Body::new(body))
}

/// The last hop of `X-Forwarded-For`: the address the trusted proxy saw.
fn forwarded_for(headers: &axum::http::HeaderMap) -> Option<IpAddr> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .next_back()?
        .to_str()
        .ok()?
        .rsplit(',')
        .next()?
        .trim()
        .parse()
        .ok()
}

/// Marks the end of a request when its answer has been sent (or dropped).
struct Done {
    activity: Arc<Activity>,
    opened: Instant,
}

impl Drop for Done {
    fn drop(&mut self) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.activity.last_ms.store(ms, Ordering::Relaxed);
        self.activity.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body that ends its request's activity when it is finished or dropped.
struct Tracked {
    inner: axum::body::Body,
    #[allow(dead_code)] // held for its Drop
    done: Done,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The error a request body gives when the client stops sending it.
#[derive(Debug)]
pub struct BodyTimeout(pub Duration);

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the client sent no body bytes for {} s (body read timeout)",
            self.0.as_secs()
        )
    }
}

impl std::error::Error for BodyTimeout {}

/// Whether `e` (or an error it wraps) is a [`BodyTimeout`].
pub fn is_body_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<BodyTimeout>() || err.to_string().contains("body read timeout") {
            return true;
        }
        cur = err.source();
    }
    false
}

/// A request body whose every wait for more bytes is bounded.
struct TimeoutBody {
    inner: Incoming,
    timeout: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    armed: bool,
}

impl HttpBody for TimeoutBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(r) => {
                this.armed = false;
                Poll::Ready(r.map(|r| r.map_err(Into::into)))
            }
            Poll::Pending => {
                let deadline = tokio::time::Instant::now() + this.timeout;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if !this.armed {
                    sleep.as_mut().reset(deadline);
                    this.armed = true;
                }
                if sleep.as_mut().poll(cx).is_ready() {
                    this.armed = false;
                    return Poll::Ready(Some(Err(Box::new(BodyTimeout(this.timeout)))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_holds_at_most_its_share() {
        let counts = Arc::default();
        let ip: IpAddr = "203.0.113.5".parse().unwrap();
        let held: Vec<PerIp> = (0..3)
            .map(|_| PerIp::take(&counts, ip, 3).unwrap())
            .collect();
        assert!(PerIp::take(&counts, ip, 3).is_none());
        // Others are not affected; loopback and "no limit" are never refused.
        assert!(PerIp::take(&counts, "203.0.113.6".parse().unwrap(), 3).is_some());
        let local: Vec<PerIp> = (0..10)
            .map(|_| PerIp::take(&counts, "127.0.0.1".parse().unwrap(), 3).unwrap())
            .collect();
        assert!(PerIp::take(&counts, ip, 0).is_some());
        drop(held);
        assert!(PerIp::take(&counts, ip, 3).is_some());
        drop(local);
        assert!(
            counts.lock().unwrap().is_empty(),
            "counts are dropped with connections"
        );
    }
}
