//! The rate limiter's added latency (spec 04: under 2 ms at p99), in-process and through
//! Redis, next to the same request without it. Not a timed test: run it and read the
//! table.
//!
//! ```text
//! cargo run --release -p platform --example ratelimit_bench [N]
//! ```
//!
//! Starts a private `redis-server` (scripts/install-deps.sh) on a free loopback port.
//! For each mode it serves a one-route axum router on loopback and sends N requests
//! (default 20,000) sequentially on one keep-alive connection, then N from 32
//! concurrent clients, and also times N bare `check` calls; it prints p50/p99 per
//! mode. Quotas are set so high that nothing is refused: what is measured is the check.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use platform::config::Environment;
use platform::ratelimit::{Limit, Quota, RateLimiter, Settings};
use testkit::RedisServer;

const CONCURRENCY: usize = 32;

fn settings() -> Settings {
    let mut s = Settings::defaults(Environment::Production);
    for limit in Limit::ALL {
        s.quotas
            .set(limit, Quota::new(1_000_000, 1).expect("quota"));
    }
    s
}

fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort_unstable();
    let at = |p: f64| {
        let i = ((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i].as_secs_f64() * 1e6
    };
    (at(0.50), at(0.99))
}

async fn serve(limiter: Option<RateLimiter>) -> String {
    let mut router = Router::new().route("/api/v1/ping", get(|| async { "ok" }));
    if let Some(limiter) = limiter {
        router = router.layer(axum::middleware::from_fn_with_state(
            limiter,
            platform::ratelimit::limit_api,
        ));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    format!("http://{addr}/api/v1/ping")
}

async fn timed_requests(url: &str, n: usize, clients: usize) -> Vec<Duration> {
    let mut tasks = Vec::new();
    for c in 0..clients {
        let url = url.to_string();
        let share = n / clients + usize::from(c < n % clients);
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut samples = Vec::with_capacity(share);
            for _ in 0..share {
                let started = Instant::now();
                let res = client.get(&url).send().await.unwrap();
                assert_eq!(res.status(), 200);
                res.bytes().await.unwrap();
                samples.push(started.elapsed());
            }
            samples
        }));
    }
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

async fn timed_checks(limiter: &RateLimiter, n: usize) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let key = format!("ip:10.0.{}.{}", (i / 256) % 256, i % 256);
        let started = Instant::now();
        let d = limiter.check(Limit::Api, &key).await;
        samples.push(started.elapsed());
        assert!(d.allowed);
    }
    samples
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("N"))
        .unwrap_or(20_000);
    let redis = RedisServer::start();
    let in_process = RateLimiter::in_process(settings());
    let through_redis = RateLimiter::with_redis(settings(), &redis.url()).unwrap();
    // Warm the Redis connection and script cache.
    through_redis.check(Limit::Api, "warm").await;
    assert!(through_redis.is_healthy(), "{:?}", through_redis.health());

    println!("N = {n} per row; latencies in microseconds");
    println!("| mode | what | p50 µs | p99 µs |");
    println!("|---|---|---:|---:|");
    let modes = [
        ("no limiter", None),
        ("in-process", Some(in_process.clone())),
        ("Redis", Some(through_redis.clone())),
    ];
    for (name, limiter) in modes {
        let url = serve(limiter.clone()).await;
        timed_requests(&url, 500, 1).await; // warm-up
        let (p50, p99) = percentiles(timed_requests(&url, n, 1).await);
        println!("| {name} | HTTP request, sequential | {p50:.0} | {p99:.0} |");
        let (p50, p99) = percentiles(timed_requests(&url, n, CONCURRENCY).await);
        println!("| {name} | HTTP request, {CONCURRENCY} concurrent | {p50:.0} | {p99:.0} |");
        if let Some(limiter) = &limiter {
            let (p50, p99) = percentiles(timed_checks(limiter, n).await);
            println!("| {name} | `check` alone | {p50:.1} | {p99:.1} |");
        }
    }
    assert!(through_redis.is_healthy(), "{:?}", through_redis.health());
}
