//! Request metrics: the middleware every API request passes through, the rolling window
//! the health report reads, and the Prometheus registry `/metrics` encodes. Routes are
//! labelled by their template (`/api/v1/courses/{id}`), never by the raw path, so the
//! number of series stays bounded whatever clients send.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

use super::shared::{SharedWindows, PUBLISH_EVERY};
use super::window::{RequestWindow, WindowSummary};

/// Latency buckets of `k12_http_request_duration_seconds`, in seconds.
const DURATION_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The label of requests that matched no route (404s from the fallback).
const UNMATCHED: &str = "unmatched";

/// This process's request metrics. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    requests: IntCounterVec,
    durations: HistogramVec,
    window: RequestWindow,
    /// Set when the process shares its window through Redis ([`Metrics::share_through`]).
    shared: OnceLock<SharedWindows>,
    /// Requests recorded since the last publication.
    dirty: AtomicBool,
    /// The last publication failed (warned once per outage).
    publish_failing: AtomicBool,
    publisher: Once,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "k12_http_requests_total",
                "API requests answered, by route template, method and status.",
            ),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        let durations = HistogramVec::new(
            HistogramOpts::new(
                "k12_http_request_duration_seconds",
                "API request latency by route template, in seconds.",
            )
            .buckets(DURATION_BUCKETS.to_vec()),
            &["route"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(requests.clone()))
            .expect("unique metric");
        registry
            .register(Box::new(durations.clone()))
            .expect("unique metric");
        Self {
            inner: Arc::new(Inner {
                registry,
                requests,
                durations,
                window: RequestWindow::new(),
                shared: OnceLock::new(),
                dirty: AtomicBool::new(false),
                publish_failing: AtomicBool::new(false),
                publisher: Once::new(),
            }),
        }
    }

    /// Records one answered request.
    pub fn observe(&self, route: &str, method: &str, status: u16, elapsed: std::time::Duration) {
        let code = status.to_string();
        self.inner
            .requests
            .with_label_values(&[route, method, code.as_str()])
            .inc();
        self.inner
            .durations
            .with_label_values(&[route])
            .observe(elapsed.as_secs_f64());
        self.inner
            .window
            .record(unix_secs(), elapsed, status >= 500);
        if self.inner.shared.get().is_some() {
            self.inner.dirty.store(true, Ordering::Relaxed);
            self.start_publisher();
        }
    }

    /// The last five minutes of this process's requests.
    pub fn window(&self) -> WindowSummary {
        self.inner.window.summary(unix_secs())
    }

    /// Shares this process's window with the other API processes through Redis (the
    /// rate limiter's connection); the health report then combines them all.
    pub fn share_through(&self, conn: redis::aio::ConnectionManager) {
        let _ = self.inner.shared.set(SharedWindows::new(conn));
    }

    /// The last five minutes of every API process's requests when the windows are
    /// shared (this process's published first, so it is current), else this process's.
    /// When Redis cannot answer, this process's own window (with a warning).
    pub async fn combined_window(&self) -> WindowSummary {
        let now = unix_secs();
        let Some(shared) = self.inner.shared.get() else {
            return self.inner.window.summary(now);
        };
        let combined = async {
            shared.publish(&self.inner.window, now).await?;
            shared.combined(now).await
        };
        match combined.await {
            Ok((summary, _processes)) => summary,
            Err(e) => {
                tracing::warn!(error = %e, "shared request windows unavailable; this process's own window is reported");
                self.inner.window.summary(now)
            }
        }
    }

    /// Publishes the window every [`PUBLISH_EVERY`] while there are new requests, from
    /// a task started by the first request; it ends with the last handle on the metrics.
    fn start_publisher(&self) {
        self.inner.publisher.call_once(|| {
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                return;
            };
            let weak = Arc::downgrade(&self.inner);
            runtime.spawn(async move {
                let mut tick = tokio::time::interval(PUBLISH_EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                loop {
                    tick.tick().await;
                    let Some(inner) = weak.upgrade() else { break };
                    let Some(shared) = inner.shared.get() else {
                        break;
                    };
                    if !inner.dirty.swap(false, Ordering::Relaxed) {
                        continue;
                    }
                    match shared.publish(&inner.window, unix_secs()).await {
                        Ok(()) => {
                            if inner.publish_failing.swap(false, Ordering::Relaxed) {
                                tracing::info!("request window published to Redis again");
                            }
                        }
                        Err(e) => {
                            inner.dirty.store(true, Ordering::Relaxed);
                            if !inner.publish_failing.swap(true, Ordering::Relaxed) {
                                tracing::warn!(error = %e, "request window not published to Redis");
                            }
                        }
                    }
                }
            });
        });
    }

    /// The request metrics plus `extra` (gauges measured at scrape time), in the
    /// Prometheus text exposition format.
    pub fn encode(&self, extra: &Registry) -> String {
        let mut families = self.inner.registry.gather();
        families.extend(extra.gather());
        let mut out = Vec::with_capacity(16 * 1024);
        prometheus::TextEncoder::new()
            .encode(&families, &mut out)
            .expect("encoding into memory");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The middleware: times the request and records it under its route template.
pub async fn track(State(metrics): State<Metrics>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let response = next.run(req).await;
    metrics.observe(
        route.as_deref().unwrap_or(UNMATCHED),
        method.as_str(),
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn requests_are_counted_by_template_and_status() {
        let m = Metrics::new();
        m.observe("/api/v1/courses/{id}", "GET", 200, Duration::from_millis(3));
        m.observe("/api/v1/courses/{id}", "GET", 200, Duration::from_millis(4));
        m.observe(
            "/api/v1/courses/{id}",
            "GET",
            503,
            Duration::from_millis(40),
        );
        let text = m.encode(&Registry::new());
        assert!(text.contains(
            r#"k12_http_requests_total{method="GET",route="/api/v1/courses/{id}",status="200"} 2"#
        ), "{text}");
        assert!(text.contains(
            r#"k12_http_request_duration_seconds_count{route="/api/v1/courses/{id}"} 3"#
        ));
        let w = m.window();
        assert_eq!((w.requests, w.errors), (3, 1));
    }
}
