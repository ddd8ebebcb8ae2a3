//! Feature-flag evaluation latency (issue 16: p99 under 1 µs in-process, under 1 ms over
//! OFREP). Not a timed test: run it and read the table.
//!
//! ```text
//! K12_TEST_PG_DIR=$(mktemp -d) cargo run --release -p platform --example flags_bench [N]
//! ```
//!
//! Starts the real app on loopback with its own database (the test harness's private
//! PostgreSQL), 200 tenants, a global row, a 50 % rollout and an override per tenant.
//! Then:
//! * in-process: N (default 200,000) `FlagCache::is_enabled` calls from the cached
//!   snapshot, each timed alone (so the figure includes `Instant::now()` itself), over
//!   every tenant and every known key, override, rollout and default alike;
//! * baseline: N / 100 sequential `GET /api/v1/me` (the same session check, no flags);
//! * OFREP: N / 100 sequential `POST /ofrep/v1/evaluate/flags/{key}` on one keep-alive
//!   connection (session check, cached evaluation, JSON), and N / 400 bulk evaluations;
//!   then the same two with a tenant API key (`Authorization: Bearer k12k_...`), which
//!   the process resolves from its key map: no SQL at all once the key was seen.
//!
//! Prints p50/p99 per mode.

use std::time::{Duration, Instant};

use serde_json::json;
use testkit::TestApp;

fn percentiles(mut samples: Vec<Duration>) -> (f64, f64, f64) {
    samples.sort_unstable();
    let at = |p: f64| {
        let i = ((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i].as_secs_f64() * 1e6
    };
    (at(0.50), at(0.99), at(1.0))
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let app = TestApp::spawn().await;
    let operator = app.create_operator("bench@example.org").await;
    // The first through the harness (default roles, so it can have a user), the rest bare.
    let first = app.create_tenant("bench0", None).await;
    let mut sys = app.pool().system().await.unwrap();
    let tenants: Vec<i64> = {
        let mut ids = vec![first];
        for i in 1..200 {
            let (id,): (i64,) =
                sqlx::query_as("INSERT INTO tenants (name, slug) VALUES ($1, $1) RETURNING id")
                    .bind(format!("bench{i}"))
                    .fetch_one(&mut *sys)
                    .await
                    .unwrap();
            ids.push(id);
        }
        ids
    };
    sqlx::query(
        "INSERT INTO feature_flags (tenant_id, key, enabled)
         SELECT id, 'portfolio_enabled', id % 2 = 0 FROM tenants",
    )
    .execute(&mut *sys)
    .await
    .unwrap();
    sys.commit().await.unwrap();
    for (key, body) in [
        ("webhook_events", json!({"enabled": false})),
        (
            "advanced_analytics",
            json!({"enabled": true, "percentage": 50}),
        ),
    ] {
        let (st, b) = app
            .put(
                &format!("/api/v1/operator/feature_flags/{key}"),
                &operator,
                body,
            )
            .await;
        assert_eq!(st, 200, "{b}");
    }
    let cache = app.state.flags.clone();
    cache.reload(app.pool()).await.unwrap();
    let keys: Vec<&str> = featureflags::CATALOGUE.iter().map(|f| f.key).collect();

    // In-process.
    let mut samples = Vec::with_capacity(n);
    let mut on = 0usize;
    for i in 0..n {
        let tenant = tenants[i % tenants.len()];
        let key = keys[i % keys.len()];
        let start = Instant::now();
        let v = cache.is_enabled(tenant, key);
        samples.push(start.elapsed());
        on += usize::from(std::hint::black_box(v) == Some(true));
    }
    let (p50, p99, max) = percentiles(samples);
    println!("in-process is_enabled   n={n:>7}  p50 {p50:>8.3} µs  p99 {p99:>8.3} µs  max {max:>9.1} µs  ({on} on)");

    // Over OFREP, as a tenant user with a session.
    let user = app
        .create_user("bench0", "reader", &["teacher"], true)
        .await;
    let tenant = tenants[0];
    let ctx = json!({"context": {"targetingKey": tenant.to_string()}}).to_string();
    let client = reqwest::Client::new();
    let (st, created) = app
        .post(
            "/api/v1/admin/api_keys",
            &admin_token(&app).await,
            json!({"name": "bench"}),
        )
        .await;
    assert_eq!(st, 201, "{created}");
    let api_key = created["secret"].as_str().unwrap().to_string();
    let one = "/ofrep/v1/evaluate/flags/advanced_analytics";
    let bulk = "/ofrep/v1/evaluate/flags";
    for (label, count, path, token) in [
        // The baseline: an authenticated request of the same API (session check, one
        // small query), without flags.
        (
            "baseline GET /me",
            (n / 100).max(100),
            "/api/v1/me",
            &user.token,
        ),
        ("OFREP one flag", (n / 100).max(100), one, &user.token),
        (
            "OFREP bulk (9 flags)",
            (n / 400).max(100),
            bulk,
            &user.token,
        ),
        ("OFREP one flag, key", (n / 100).max(100), one, &api_key),
        ("OFREP bulk, key", (n / 400).max(100), bulk, &api_key),
    ] {
        let url = format!("{}{path}", app.base_url);
        let mut samples = Vec::with_capacity(count);
        for i in 0..count + 50 {
            let start = Instant::now();
            let req = if path == "/api/v1/me" {
                client.get(&url)
            } else {
                client.post(&url)
            };
            let res = req
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(ctx.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            res.bytes().await.unwrap();
            // The first 50 warm the connection and the session path (or the key map).
            if i >= 50 {
                samples.push(start.elapsed());
            }
        }
        let (p50, p99, max) = percentiles(samples);
        println!(
            "{label:<22}  n={count:>7}  p50 {p50:>8.1} µs  p99 {p99:>8.1} µs  max {max:>9.1} µs"
        );
    }
}

/// A tenant admin of `bench0`, to create the API key.
async fn admin_token(app: &TestApp) -> String {
    app.create_user("bench0", "keys", &["admin"], true)
        .await
        .token
}
