//! Operations: every request gets an id (the client's `X-Request-Id` if it sent a sane one,
//! else a fresh UUID) that names its tracing span and comes back as `X-Request-Id`; request
//! counts by route, method and status and a latency histogram by route and method are kept in
//! memory and exposed in Prometheus' text format at `GET /metrics` (route = the matched
//! pattern such as `/api/v1/images/images/{id}/`, so ids never blow up the label set).

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tracing::Instrument;

/// Upper bounds (seconds) of the latency histogram's buckets.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Default)]
struct Latency {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Request counts by (route, method, status), in label order.
type Counts = BTreeMap<(String, String, u16), u64>;
/// Latency histograms by (route, method), in label order.
type Latencies = BTreeMap<(String, String), Latency>;

/// Counters of one route: by (method, status), and latency by method.
#[derive(Default)]
struct RouteStats {
    counts: Vec<(String, u16, u64)>,
    latency: Vec<(String, Latency)>,
}

/// Request counters and latency histograms. Recording allocates only the first time a
/// (route, method, status) is seen: tiles are answered tens of thousands of times a second.
#[derive(Default)]
pub struct Metrics {
    routes: Mutex<HashMap<String, RouteStats>>,
}

impl Metrics {
    pub(crate) fn record(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let mut routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        let stats = match routes.get_mut(route) {
            Some(s) => s,
            None => routes.entry(route.to_owned()).or_default(),
        };
        match stats
            .counts
            .iter_mut()
            .find(|(m, s, _)| m == method && *s == status)
        {
            Some((_, _, n)) => *n += 1,
            None => stats.counts.push((method.to_owned(), status, 1)),
        }
        let h = match stats.latency.iter().position(|(m, _)| m == method) {
            Some(i) => &mut stats.latency[i].1,
            None => {
                stats.latency.push((method.to_owned(), Latency::default()));
                &mut stats.latency.last_mut().expect("just pushed").1
            }
        };
        h.count += 1;
        h.sum += seconds;
        for (b, upper) in h.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= upper {
                *b += 1;
            }
        }
    }

    /// Snapshot in label order (stable output).
    fn snapshot(&self) -> (Counts, Latencies) {
        let routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        let mut counts = BTreeMap::new();
        let mut latency = BTreeMap::new();
        for (route, stats) in routes.iter() {
            for (m, s, n) in &stats.counts {
                counts.insert((route.clone(), m.clone(), *s), *n);
            }
            for (m, l) in &stats.latency {
                latency.insert(
                    (route.clone(), m.clone()),
                    Latency {
                        buckets: l.buckets,
                        count: l.count,
                        sum: l.sum,
                    },
                );
            }
        }
        (counts, latency)
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let (counts, latency) = self.snapshot();
        let mut out = String::new();
        out.push_str("# HELP exact_http_requests_total HTTP requests answered.\n");
        out.push_str("# TYPE exact_http_requests_total counter\n");
        for ((route, method, status), n) in &counts {
            let _ = writeln!(
                out,
                "exact_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        out.push_str("# HELP exact_http_request_duration_seconds Time to answer a request.\n");
        out.push_str("# TYPE exact_http_request_duration_seconds histogram\n");
        for ((route, method), h) in &latency {
            let labels = format!("route=\"{}\",method=\"{method}\"", escape(route));
            for (upper, n) in BUCKETS.iter().zip(h.buckets) {
                let _ = writeln!(
                    out,
                    "exact_http_request_duration_seconds_bucket{{{labels},le=\"{upper}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "exact_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "exact_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "exact_http_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A client's request id if it is short and printable, else a fresh one (formatted on the
/// stack: tiles are answered tens of thousands of times a second).
fn request_id(req: &Request) -> HeaderValue {
    if let Some(v) = client_request_id(req.headers()) {
        return v.clone();
    }
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
    HeaderValue::from_str(id).expect("a UUID is a valid header value")
}

/// The client's `X-Request-Id` if it is short and printable.
pub(crate) fn client_request_id(headers: &axum::http::HeaderMap) -> Option<&HeaderValue> {
    headers.get(&REQUEST_ID).filter(|v| {
        let b = v.as_bytes();
        !b.is_empty() && b.len() <= 128 && b.iter().all(|c| c.is_ascii_graphic())
    })
}

/// `app;dur=<ms with 2 decimals>` for `Server-Timing`, without a heap-allocated `String`.
fn server_timing(seconds: f64) -> Option<HeaderValue> {
    use std::io::Write as _;
    let mut buf = [0u8; 48];
    let mut w = &mut buf[..];
    write!(w, "app;dur={:.2}", seconds * 1e3).ok()?;
    let n = 48 - w.len();
    HeaderValue::from_bytes(&buf[..n]).ok()
}

async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let id = request_id(&req);
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = req.method().clone();
    let span = tracing::info_span!("request", id = %id.to_str().unwrap_or("?"), method = %method, path = %req.uri().path());
    let mut res = next.run(req).instrument(span.clone()).await;
    let seconds = start.elapsed().as_secs_f64();
    let status = res.status().as_u16();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    metrics.record(route, method.as_str(), status, seconds);
    span.in_scope(|| {
        if res.status().is_server_error() {
            tracing::warn!(status, ms = seconds * 1e3, "answered");
        } else {
            tracing::debug!(status, ms = seconds * 1e3, "answered");
        }
    });
    res.headers_mut().insert(REQUEST_ID.clone(), id);
    // The server's share of the request's time, readable by the page that made it
    // (`PerformanceResourceTiming.serverTiming`): the benchmark splits server from client time.
    if let Some(v) = server_timing(seconds) {
        res.headers_mut()
            .insert(HeaderName::from_static("server-timing"), v);
    }
    res
}

/// Adds `GET /metrics` (request metrics and the tile counters of `pixels`) and the
/// request-id and metrics middleware around `app`.
pub fn instrument(app: Router, pixels: Arc<crate::pixels::Pixels>) -> Router {
    instrument_with(app, pixels, Arc::new(Metrics::default()))
}

/// [`instrument`] recording into `metrics` (shared with the tile fast path).
pub(crate) fn instrument_with(
    app: Router,
    pixels: Arc<crate::pixels::Pixels>,
    metrics: Arc<Metrics>,
) -> Router {
    let exposition = metrics.clone();
    app.route(
        "/metrics",
        get(move || {
            let m = exposition.clone();
            let tiles = pixels.counters.render();
            async move {
                (
                    [(CONTENT_TYPE, "text/plain; version=0.0.4")],
                    m.render() + &tiles,
                )
                    .into_response()
            }
        }),
    )
    .layer(axum::middleware::from_fn_with_state(metrics, track))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_and_server_timing_are_formatted_without_strings() {
        assert_eq!(server_timing(0.0123456).unwrap(), "app;dur=12.35");
        assert_eq!(server_timing(1e9).unwrap(), "app;dur=1000000000000.00");
        let fresh = request_id(&Request::new(axum::body::Body::empty()));
        assert_eq!(fresh.len(), 36);
        assert!(uuid::Uuid::parse_str(fresh.to_str().unwrap()).is_ok());
        let mut req = Request::new(axum::body::Body::empty());
        req.headers_mut()
            .insert(&REQUEST_ID, HeaderValue::from_static("client-id-7"));
        assert_eq!(request_id(&req), "client-id-7");
        req.headers_mut()
            .insert(&REQUEST_ID, HeaderValue::from_static("has space"));
        assert_ne!(request_id(&req), "has space");
    }
}
