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
