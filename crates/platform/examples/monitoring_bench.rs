//! Monitoring's costs against issue 13's goals. Not a timed test: run it and read the
//! table.
//!
//! ```text
//! cargo run --release -p platform --example monitoring_bench [N]
//! ```
//!
//! 1. The metrics middleware (`monitoring::metrics::track`): N requests (default
//!    200,000) through a one-route router in process (`tower::ServiceExt::oneshot`, no
//!    sockets, so the difference is the middleware and not the network), with and
//!    without the layer, alternating in rounds so both see the same machine; plus the
//!    bare `Metrics::observe` call. Goal: under 5 µs per request.
//! 2. `GET /api/v1/operator/health` over HTTP with every dependency healthy: PostgreSQL
//!    (the test harness's private cluster: set `K12_TEST_PG_DIR`), a private
//!    `redis-server`, the file store's write-read-delete probe and a loopback gateway
//!    answering 200; 500 sequential requests after 20 warm-up ones. Goal: p99 under
//!    50 ms.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use axum::Router;
use platform::monitoring::{Metrics, MonitoringConfig};
use tower::ServiceExt;

fn percentiles(mut samples: Vec<Duration>) -> (f64, f64, f64) {
    samples.sort_unstable();
    let at = |p: f64| {
        let i = ((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i].as_secs_f64() * 1e6
    };
    (at(0.50), at(0.99), at(1.0))
}

fn router(metrics: Option<Metrics>) -> Router {
    let router = Router::new().route("/api/v1/courses/{id}", get(|| async { "ok" }));
    match metrics {
        Some(m) => router.layer(axum::middleware::from_fn_with_state(
            m,
            platform::monitoring::metrics::track,
        )),
        None => router,
    }
}

/// Mean nanoseconds per request over `n` in-process requests.
async fn per_request_ns(router: &Router, n: usize) -> f64 {
    let started = Instant::now();
    for i in 0..n {
        let req = Request::get(format!("/api/v1/courses/{}", i % 1000))
            .body(Body::empty())
            .unwrap();
        let res = router.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), 200);
    }
    started.elapsed().as_nanos() as f64 / n as f64
}

async fn middleware(n: usize) {
    let bare = router(None);
    let metrics = Metrics::new();
    let tracked = router(Some(metrics.clone()));
    // Warm-up: allocator, label children, caches.
    per_request_ns(&bare, 10_000).await;
    per_request_ns(&tracked, 10_000).await;
    let rounds = 10;
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        without.push(per_request_ns(&bare, n / rounds).await);
        with.push(per_request_ns(&tracked, n / rounds).await);
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (without, with) = (median(without), median(with));
    let observe = {
        let started = Instant::now();
        for i in 0..n {
            metrics.observe(
                "/api/v1/courses/{id}",
                "GET",
                if i % 50 == 0 { 503 } else { 200 },
                Duration::from_micros(300 + (i % 700) as u64),
            );
        }
        started.elapsed().as_nanos() as f64 / n as f64
    };
    println!("metrics middleware, {n} in-process requests, median of {rounds} rounds:");
    println!("| what | ns per request |");
    println!("|---|---:|");
    println!("| router without `track` | {without:.0} |");
    println!("| router with `track` | {with:.0} |");
    println!("| difference (the middleware) | {:.0} |", with - without);
    println!("| `Metrics::observe` alone | {observe:.0} |");
}

async fn answering_200() -> String {
    let app = Router::new().fallback(|| async { "ok" });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    url
}

async fn operator_health() {
    let redis = testkit::RedisServer::start();
    let mut config = platform::http::ServiceConfig::new(
        platform::config::Environment::Production,
        testkit::test_outbound(testkit::test_egress()),
    );
    config.monitoring = MonitoringConfig {
        gateway_url: Some(answering_200().await),
        data_dir: Some(std::env::temp_dir()),
        ..Default::default()
    };
    let app =
        testkit::TestApp::spawn_full(config, testkit::generous_limits(), Some(&redis.url()), None)
            .await;
    let op = app.create_operator("bench@example.org").await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/operator/health", app.base_url);
    let mut samples = Vec::new();
    for i in 0..520 {
        let started = Instant::now();
        let res = client.get(&url).bearer_auth(&op).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let body: serde_json::Value = res.json().await.unwrap();
        let took = started.elapsed();
        assert_eq!(body["overall"], "healthy", "{body}");
        if i >= 20 {
            samples.push(took);
        }
    }
    let (p50, p99, max) = percentiles(samples);
    println!();
    println!("GET /api/v1/operator/health, 500 sequential requests, every check healthy:");
    println!("| p50 ms | p99 ms | max ms |");
    println!("|---:|---:|---:|");
    println!("| {:.2} | {:.2} | {:.2} |", p50 / 1e3, p99 / 1e3, max / 1e3);
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|v| v.parse().expect("N: a number of requests"))
        .unwrap_or(200_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        middleware(n).await;
        operator_health().await;
    });
}
