//! Monitoring (spec 07): readiness, the operator's health report with each dependency
//! healthy, down and hanging, and the Prometheus exposition parsed by `promtool`.

#[path = "../../storage/tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use platform::config::Environment;
use platform::http::ServiceConfig;
use platform::monitoring::MonitoringConfig;
use serde_json::Value;
use testkit::{generous_limits, test_egress, test_outbound, RedisServer, School, TestApp};

fn config(monitoring: MonitoringConfig) -> ServiceConfig {
    let mut c = ServiceConfig::new(Environment::Development, test_outbound(test_egress()));
    c.monitoring = monitoring;
    c
}

async fn health(app: &TestApp, token: &str) -> Value {
    let (status, body) = app.get("/api/v1/operator/health", token).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// A loopback HTTP server answering every request with `status` (a stand-in gateway).
async fn answering(status: u16) -> String {
    let app = axum::Router::new()
        .fallback(move || async move { axum::http::StatusCode::from_u16(status).unwrap() });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    url
}

/// A loopback TCP server that accepts connections and never answers.
async fn hanging() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    url
}

#[tokio::test]
async fn ready_answers_the_schema_version() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get("/api/v1/ready", "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
    let expected = platform::db::MIGRATOR
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap();
    assert_eq!(body["schema_version"], expected);
    assert_eq!(body["expected_schema_version"], expected);
}

#[tokio::test]
async fn healthy_report_has_every_metric_and_unconfigured_checks_do_not_count() {
    let app = TestApp::spawn_with_config(config(MonitoringConfig {
        gateway_url: None,
        data_dir: Some(std::env::temp_dir()),
        ..Default::default()
    }))
    .await;
    let op = app.create_operator("ops@example.org").await;
    // Some traffic for the request window.
    for _ in 0..5 {
        app.get("/api/v1/health", "").await;
    }
    let body = health(&app, &op).await;
    assert_eq!(body["overall"], "healthy", "{body}");
    for check in ["database", "job_queue", "storage"] {
        assert_eq!(
            body["checks"][check]["status"], "healthy",
            "{check}: {body}"
        );
        assert!(body["checks"][check]["latency_ms"].is_number());
    }
    assert_eq!(body["checks"]["redis"]["status"], "not_configured");
    assert_eq!(body["checks"]["ai_gateway"]["status"], "not_configured");
    let m = &body["metrics"];
    for name in platform::monitoring::health::METRIC_NAMES {
        assert!(m.get(name).is_some(), "{name} missing: {m}");
    }
    for name in [
        "db_connection_pool",
        "db_response_time",
        "response_time_p95",
        "error_rate_5m",
        "job_queue_depth",
        "job_latency",
        "disk_usage_percent",
        "memory_usage_percent",
    ] {
        assert!(m[name].is_number(), "{name}: {m}");
    }
    assert_eq!(m["error_rate_5m"], 0.0);
    assert_eq!(m["storage_health"], 1.0);
    assert_eq!(m["backup_age_hours"], -1.0);
    // Not configured: not measured, so null rather than 0.
    assert!(m["redis_memory"].is_null());
    assert!(m["ai_gateway_health"].is_null());
}

#[tokio::test]
async fn job_queue_depth_counts_ready_jobs() {
    let app = TestApp::spawn().await;
    let op = app.create_operator("ops@example.org").await;
    let mut tx = app.pool().system().await.unwrap();
    for i in 0..3 {
        sqlx::query(
            "INSERT INTO jobs (kind, queue, run_at) VALUES ('probe', 'default', now() - make_interval(secs => $1))",
        )
        .bind(f64::from(90 + i))
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let body = health(&app, &op).await;
    assert_eq!(body["metrics"]["job_queue_depth"], 3.0, "{body}");
    let latency = body["metrics"]["job_latency"].as_f64().unwrap();
    assert!((92.0..150.0).contains(&latency), "{latency}");
    // Older than a minute: the queue check warns.
    assert_eq!(body["checks"]["job_queue"]["status"], "warning");
    assert_eq!(body["overall"], "warning");
}

#[tokio::test]
async fn redis_healthy_then_stopped() {
    let redis = RedisServer::start();
    let app = TestApp::spawn_full(
        config(MonitoringConfig::default()),
        generous_limits(),
        Some(&redis.url()),
        None,
    )
    .await;
    let op = app.create_operator("ops@example.org").await;
    let body = health(&app, &op).await;
    assert_eq!(body["checks"]["redis"]["status"], "healthy", "{body}");
    assert!(body["metrics"]["redis_memory"].as_f64().unwrap() > 0.0);
    drop(redis);
    let body = health(&app, &op).await;
    assert_eq!(body["checks"]["redis"]["status"], "critical", "{body}");
    assert_eq!(body["overall"], "critical");
    assert!(body["metrics"]["redis_memory"].is_null());
}

#[tokio::test]
async fn gateway_answers_are_judged() {
    for (status, verdict, up) in [(200, "healthy", 1.0), (503, "critical", 0.0)] {
        let app = TestApp::spawn_with_config(config(MonitoringConfig {
            gateway_url: Some(answering(status).await),
            data_dir: None,
            ..Default::default()
        }))
        .await;
        let op = app.create_operator("ops@example.org").await;
        let body = health(&app, &op).await;
        assert_eq!(body["checks"]["ai_gateway"]["status"], verdict, "{body}");
        assert_eq!(body["metrics"]["ai_gateway_health"], up);
        assert!(body["metrics"]["disk_usage_percent"].is_null());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_store_and_gateway_cost_one_timeout_not_more() {
    let endpoint = hanging().await;
    let store = storage::Store::open(&support::s3_config(&endpoint, "k12-dead", "p")).unwrap();
    let app = TestApp::spawn_full(
        config(MonitoringConfig {
            gateway_url: Some(hanging().await),
            data_dir: None,
            ..Default::default()
        }),
        generous_limits(),
        None,
        Some(store),
    )
    .await;
    let op = app.create_operator("ops@example.org").await;
    let started = Instant::now();
    let body = health(&app, &op).await;
    let took = started.elapsed();
    assert_eq!(body["checks"]["storage"]["status"], "critical", "{body}");
    assert_eq!(body["checks"]["ai_gateway"]["status"], "critical", "{body}");
    assert_eq!(body["checks"]["database"]["status"], "healthy");
    assert_eq!(body["metrics"]["storage_health"], 0.0);
    assert_eq!(body["overall"], "critical");
    // Both hang; the checks run concurrently, so the report waits one timeout, not two.
    let bound = platform::monitoring::health::CHECK_TIMEOUT + Duration::from_secs(4);
    assert!(took < bound, "report took {took:?}");
}

#[tokio::test]
async fn metrics_are_labelled_by_route_template_and_pass_promtool() {
    let app = TestApp::spawn().await;
    let school = School::build(&app, "alpha").await;
    let op = app.create_operator("ops@example.org").await;
    let path = format!("/api/v1/courses/{}", school.course_id);
    let (status, _) = app.get(&path, &school.teacher.token).await;
    assert_eq!(status, 200);
    app.get("/api/v1/no/such/route", "").await;
    health(&app, &op).await;

    let text = reqwest::get(&app.metrics_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(
            r#"k12_http_requests_total{method="GET",route="/api/v1/courses/{id}",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(!text.contains(&path), "raw paths must not become labels");
    assert!(text.contains(r#"route="unmatched",status="404""#));
    for name in [
        "k12_http_request_duration_seconds_bucket",
        "k12_db_pool_connections{state=\"max\"}",
        "k12_db_response_seconds",
        "k12_storage_up 1",
        "k12_backup_age_seconds -1",
        "k12_health_check_status{check=\"database\"} 0",
    ] {
        assert!(text.contains(name), "{name} missing:\n{text}");
    }
    // Not configured: absent, never 0.
    assert!(!text.contains("k12_ai_gateway_up"));

    // A real parser and linter: exit 0 means parsed and lint-clean.
    let mut child = tokio::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool is installed (scripts/install-deps.sh)");
    use tokio::io::AsyncWriteExt;
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(text.as_bytes()).await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "promtool: {:?}\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn backup_age_is_the_newest_completed_backup() {
    let app = TestApp::spawn().await;
    let op = app.create_operator("ops@example.org").await;
    let mut tx = app.pool().system().await.unwrap();
    // A completed backup three hours old, a failed one just now (does not count).
    for (key, hours_ago, status) in [("a", 3, "completed"), ("b", 0, "failed")] {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO backup_records (storage_key, created_at)
             VALUES ($1, now() - make_interval(hours => $2)) RETURNING id",
        )
        .bind(key)
        .bind(hours_ago)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        sqlx::query(
            "UPDATE backup_records SET status = $2, size_bytes = 1, duration_seconds = 0,
                    sha256 = repeat('a', 64) WHERE id = $1",
        )
        .bind(id)
        .bind(status)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let body = health(&app, &op).await;
    let age = body["metrics"]["backup_age_hours"].as_f64().unwrap();
    assert!((3.0..3.1).contains(&age), "{age}");
}

// ------------------------------------------------------------------ uptime monitor

/// A loopback HTTP server answering 200, or 503 while the flag is set.
async fn switchable() -> (String, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let down = std::sync::Arc::new(AtomicBool::new(false));
    let flag = down.clone();
    let app = axum::Router::new().fallback(move || {
        let down = flag.load(Ordering::SeqCst);
        async move {
            if down {
                axum::http::StatusCode::SERVICE_UNAVAILABLE
            } else {
                axum::http::StatusCode::OK
            }
        }
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (url, down)
}

/// A loopback URL nothing listens on.
fn closed_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}/health", l.local_addr().unwrap())
}

/// The outbox as (kind, channel, payload), oldest first.
async fn outbox(app: &TestApp) -> Vec<(String, String, Value)> {
    let mut sys = app.pool().system().await.unwrap();
    let rows = sqlx::query_as("SELECT kind, channel, payload FROM notification_outbox ORDER BY id")
        .fetch_all(&mut *sys)
        .await
        .unwrap();
    sys.commit().await.unwrap();
    rows
}

#[tokio::test]
async fn uptime_notifies_once_per_cooldown_and_once_on_recovery() {
    use platform::monitoring::uptime::{check_now, UptimeSettings};
    use std::sync::atomic::Ordering;

    let (server, down) = switchable().await;
    down.store(true, Ordering::SeqCst);
    let flaky = format!("{server}/api/v1/health");
    let dead = closed_url();
    let mut c = config(MonitoringConfig {
        uptime: UptimeSettings {
            urls: vec![flaky.clone(), dead.clone()],
            cooldown_minutes: 30,
        },
        ..Default::default()
    });
    // A default Slack target: messages go to the outbox (not delivered here).
    c.alerts.slack_webhook_url = Some(platform::config::Secret::new(
        "http://127.0.0.1:9/services/T/B/x",
    ));
    let app = TestApp::spawn_with_config(c.clone()).await;
    let state = platform::http::AppState::new(app.pool().clone(), c.clone(), app.store.clone());

    // Both down: one message with both.
    let run = check_now(&state).await.unwrap();
    assert_eq!(run.probes.len(), 2);
    assert_eq!(run.probes[0].status, Some(503));
    assert_eq!(run.probes[1].status, None);
    assert_eq!((run.fired.len(), run.resolved.len()), (2, 0));
    let rows = outbox(&app).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let (kind, channel, payload) = &rows[0];
    assert_eq!((kind.as_str(), channel.as_str()), ("fired", "slack"));
    let lines = payload["alerts"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l["severity"] == "critical"));
    let detail0 = lines[0]["detail"].as_str().unwrap();
    assert_eq!(detail0, format!("GET {flaky} answered 503"));
    let detail1 = lines[1]["detail"].as_str().unwrap();
    assert!(
        detail1.starts_with(&format!("GET {dead} unreachable")),
        "{detail1}"
    );

    // Still down, inside the cooldown: nothing new.
    let run = check_now(&state).await.unwrap();
    assert_eq!((run.fired.len(), run.resolved.len()), (0, 0));
    assert_eq!(outbox(&app).await.len(), 1);

    // The flaky one recovers: one "recovered" message for it alone.
    down.store(false, Ordering::SeqCst);
    let run = check_now(&state).await.unwrap();
    assert_eq!((run.fired.len(), run.resolved.len()), (0, 1));
    let rows = outbox(&app).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].0, "resolved");
    let line = &rows[1].2["alerts"][0];
    assert_eq!(line["rule_name"], format!("Uptime {flaky}"));
    assert!(line["detail"]
        .as_str()
        .unwrap()
        .starts_with(&format!("GET {flaky} answers 200 again (down since ")));
    let run = check_now(&state).await.unwrap();
    assert_eq!(
        (run.fired.len(), run.resolved.len()),
        (0, 0),
        "recovered once"
    );

    // Once the cooldown has passed, a URL still down is notified again.
    let mut c0 = c.clone();
    c0.monitoring.uptime.cooldown_minutes = 0;
    let state0 = platform::http::AppState::new(app.pool().clone(), c0, app.store.clone());
    let run = check_now(&state0).await.unwrap();
    assert_eq!((run.fired.len(), run.resolved.len()), (1, 0));
    assert_eq!(outbox(&app).await.len(), 3);

    // Operators see the episodes with the other alert events.
    let op = app.create_operator("ops@example.org").await;
    let (status, events) = app.get("/api/v1/operator/alert_events", &op).await;
    assert_eq!(status, 200, "{events}");
    let kinds: Vec<(String, String)> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["rule_name"].as_str().unwrap().to_owned(),
                e["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(kinds.len(), 4, "{kinds:?}");
    assert!(kinds.contains(&(format!("Uptime {flaky}"), "resolved".to_owned())));
    assert!(events["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["metric"] == "uptime" && e["notification_status"] == "pending"));
}

#[tokio::test]
async fn uptime_without_a_target_is_logged_and_a_healthy_url_is_quiet() {
    use platform::monitoring::uptime::{check_now, UptimeSettings};
    let (server, _down) = switchable().await;
    let c = config(MonitoringConfig {
        uptime: UptimeSettings {
            urls: vec![format!("{server}/ok"), closed_url()],
            cooldown_minutes: 30,
        },
        ..Default::default()
    });
    let app = TestApp::spawn_with_config(c.clone()).await;
    let state = platform::http::AppState::new(app.pool().clone(), c, app.store.clone());
    let run = check_now(&state).await.unwrap();
    assert!(run.probes[0].up());
    assert_eq!(run.fired.len(), 1, "only the closed port");
    assert!(outbox(&app).await.is_empty(), "no target: nothing queued");
    let mut sys = app.pool().system().await.unwrap();
    let (status,): (String,) =
        sqlx::query_as("SELECT notification_status FROM alert_events WHERE id = $1")
            .bind(run.fired[0])
            .fetch_one(&mut *sys)
            .await
            .unwrap();
    assert_eq!(status, "logged");
}

// ------------------------------------------------------------------ several API processes

/// Sum of `k12_http_requests_total` on a Prometheus page.
async fn requests_served(metrics_url: &str) -> f64 {
    let text = reqwest::get(metrics_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("k12_http_requests_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_are_evaluated_as_one() {
    let redis = RedisServer::start();
    // Process A: the whole app, sharing its window through Redis.
    let a = TestApp::spawn_full(
        config(MonitoringConfig::default()),
        generous_limits(),
        Some(&redis.url()),
        None,
    )
    .await;
    let op = a.create_operator("ops@example.org").await;
    // Process B: another state on the same database and Redis, whose requests (slow
    // server errors) pass through the same metrics middleware.
    let b_state = platform::http::AppState::new(
        a.pool().clone(),
        config(MonitoringConfig::default()),
        a.store.clone(),
    )
    .with_limiter(
        platform::ratelimit::RateLimiter::from_config(generous_limits(), Some(&redis.url()))
            .unwrap(),
    );
    let b_router = axum::Router::new()
        .route(
            "/api/v1/slow",
            axum::routing::get(|| async {
                tokio::time::sleep(Duration::from_millis(150)).await;
                axum::http::StatusCode::SERVICE_UNAVAILABLE
            }),
        )
        .layer(axum::middleware::from_fn_with_state(
            b_state.metrics.clone(),
            platform::monitoring::metrics::track,
        ));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let b_url = format!("http://{}/api/v1/slow", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, b_router).await.unwrap() });

    for _ in 0..100 {
        let (s, _) = a.get("/api/v1/health", "").await;
        assert_eq!(s, 200);
    }
    let client = reqwest::Client::new();
    for _ in 0..10 {
        let r = client.get(&b_url).send().await.unwrap();
        assert_eq!(r.status(), 503);
    }
    assert_eq!(b_state.metrics.window().requests, 10);

    // B publishes within a couple of seconds; A publishes its own when it reports.
    let mut last = Value::Null;
    for _ in 0..50 {
        let served_by_a = requests_served(&a.metrics_url).await;
        let body = health(&a, &op).await;
        let m = &body["metrics"];
        let expected = 10.0 * 100.0 / (served_by_a + 10.0);
        let rate = m["error_rate_5m"].as_f64().unwrap();
        if (rate - expected).abs() < 1e-9 {
            // 10 slow requests of about 115: more than 5%, so the combined p95 is a
            // slow one; A's own window alone would say a few milliseconds.
            let p95 = m["response_time_p95"].as_f64().unwrap();
            assert!((150.0..400.0).contains(&p95), "p95 {p95}: {body}");
            let own = a_window_p95(&a).await;
            assert!(own < 100.0, "A alone: {own}");
            return;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the combined figures never matched the combined traffic: {last}");
}

/// A's own p95 from its Prometheus histogram: the smallest bucket bound holding 95%.
async fn a_window_p95(a: &TestApp) -> f64 {
    let text = reqwest::get(&a.metrics_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut total = 0.0;
    let mut by_le: std::collections::BTreeMap<u64, f64> = Default::default();
    for l in text.lines() {
        let Some(rest) = l.strip_prefix("k12_http_request_duration_seconds_bucket{") else {
            continue;
        };
        let le = rest
            .split("le=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap();
        let n: f64 = l.rsplit(' ').next().unwrap().parse().unwrap();
        if le == "+Inf" {
            total += n;
        } else {
            let ms = (le.parse::<f64>().unwrap() * 1e6) as u64;
            *by_le.entry(ms).or_default() += n;
        }
    }
    by_le
        .into_iter()
        .find(|(_, n)| *n >= total * 0.95)
        .map(|(us, _)| us as f64 / 1000.0)
        .unwrap_or(f64::INFINITY)
}

// ------------------------------------------------------------------ S3 healthy, then dead

/// A TCP forwarder on loopback to `target`; [`Forwarder::stop`] closes the listener and
/// every open connection, so the endpoint is dead from then on.
struct Forwarder {
    url: String,
    tasks: std::sync::Arc<std::sync::Mutex<tokio::task::JoinSet<()>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Forwarder {
    async fn start(target: &str) -> Self {
        let target = target.trim_start_matches("http://").to_owned();
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let tasks = std::sync::Arc::new(std::sync::Mutex::new(tokio::task::JoinSet::new()));
        let set = tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = l.accept().await {
                let target = target.clone();
                set.lock().unwrap().spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Self { url, tasks, accept }
    }

    fn stop(&self) {
        self.accept.abort();
        self.tasks.lock().unwrap().abort_all();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_storage_healthy_then_dead() {
    let Some(moto) = support::s3_endpoint() else {
        return; // support::s3_endpoint said loudly why (no python3 venv)
    };
    let bucket = support::create_bucket(&moto).await;
    let forwarder = Forwarder::start(&moto).await;
    let store =
        storage::Store::open(&support::s3_config(&forwarder.url, &bucket, "k12/health")).unwrap();
    let app = TestApp::spawn_full(
        config(MonitoringConfig::default()),
        generous_limits(),
        None,
        Some(store),
    )
    .await;
    let op = app.create_operator("ops@example.org").await;
    let body = health(&app, &op).await;
    assert_eq!(body["checks"]["storage"]["status"], "healthy", "{body}");
    assert_eq!(body["metrics"]["storage_health"], 1.0);
    assert_eq!(body["overall"], "healthy");

    forwarder.stop();
    // Let the aborted connections close before the next probe.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let body = health(&app, &op).await;
    assert_eq!(body["checks"]["storage"]["status"], "critical", "{body}");
    assert_eq!(body["metrics"]["storage_health"], 0.0);
    assert_eq!(body["overall"], "critical");
    assert_eq!(body["checks"]["database"]["status"], "healthy");
    assert!(
        started.elapsed() < platform::monitoring::health::CHECK_TIMEOUT + Duration::from_secs(4),
        "a dead store costs at most one timeout"
    );
}
