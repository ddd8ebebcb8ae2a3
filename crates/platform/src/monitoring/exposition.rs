//! `/metrics`: the request counters and histograms of [`Metrics`] plus, measured at
//! scrape time, the health report's figures, the pool and the job queue, in the
//! Prometheus text format. Names follow Prometheus conventions: a `k12_` prefix, base
//! units (seconds, bytes, ratios 0-1) and `_total` on counters; the health JSON keeps
//! the spec's names and units.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus::{Gauge, IntCounterVec, IntGaugeVec, Opts, Registry};

use super::health::{self, Status};
use crate::http::AppState;

/// The router of the metrics listener: `GET /metrics` only.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(state)
}

async fn scrape(State(state): State<AppState>) -> impl IntoResponse {
    let extra = Registry::new();
    let (report, jobs) = tokio::join!(health::report(&state), job_figures(&state));
    health_gauges(&extra, &report);
    pool_gauges(&extra, &state);
    if let Ok(jobs) = jobs {
        job_metrics(&extra, &jobs);
    }
    (
        [(CONTENT_TYPE, prometheus::TEXT_FORMAT)],
        state.metrics.encode(&extra),
    )
}

/// One gauge per measured figure of the report, converted to base units; a figure that
/// could not be measured is left out (absent, not 0).
fn health_gauges(registry: &Registry, report: &health::HealthReport) {
    // (spec name, Prometheus name, help, factor to base units)
    const MAP: [(&str, &str, &str, f64); 12] = [
        (
            "db_connection_pool",
            "k12_db_pool_usage_ratio",
            "Share of the pool's connections in use.",
            0.01,
        ),
        (
            "db_response_time",
            "k12_db_response_seconds",
            "Time of SELECT 1 through the pool.",
            0.001,
        ),
        (
            "response_time_p95",
            "k12_http_response_p95_seconds",
            "p95 API latency over the last 5 minutes (every API process when they share Redis, else this one).",
            0.001,
        ),
        (
            "error_rate_5m",
            "k12_http_error_ratio_5m",
            "Share of API answers >= 500 over the last 5 minutes (every API process when they share Redis, else this one).",
            0.01,
        ),
        (
            "job_queue_depth",
            "k12_job_queue_depth",
            "Jobs ready to run across queues.",
            1.0,
        ),
        (
            "job_latency",
            "k12_job_queue_latency_seconds",
            "Age of the oldest ready job.",
            1.0,
        ),
        (
            "disk_usage_percent",
            "k12_disk_usage_ratio",
            "Used share of the data directory's filesystem.",
            0.01,
        ),
        (
            "memory_usage_percent",
            "k12_memory_usage_ratio",
            "Used share of the machine's memory.",
            0.01,
        ),
        (
            "redis_memory",
            "k12_redis_memory_bytes",
            "Memory used by Redis.",
            1024.0 * 1024.0,
        ),
        (
            "storage_health",
            "k12_storage_up",
            "1 when the object store round trip works.",
            1.0,
        ),
        (
            "ai_gateway_health",
            "k12_ai_gateway_up",
            "1 when the AI gateway answers its health check.",
            1.0,
        ),
        (
            "backup_age_hours",
            "k12_backup_age_seconds",
            "Time since the newest successful backup (-1: none).",
            3600.0,
        ),
    ];
    for (spec, name, help, factor) in MAP {
        let Some(Some(value)) = report.metrics.get(spec) else {
            continue;
        };
        // -1 means "no backup yet" and stays -1 in any unit.
        let value = if *value < 0.0 { *value } else { value * factor };
        register(registry, Gauge::new(name, help)).set(value);
    }
    let checks = register(
        registry,
        IntGaugeVec::new(
            Opts::new(
                "k12_health_check_status",
                "Each dependency check: 0 healthy, 1 warning, 2 critical (absent: not configured).",
            ),
            &["check"],
        ),
    );
    for (name, check) in &report.checks {
        let level = match check.status {
            Status::NotConfigured => continue,
            Status::Healthy => 0,
            Status::Warning => 1,
            Status::Critical => 2,
        };
        checks.with_label_values(&[name.as_str()]).set(level);
    }
}

fn pool_gauges(registry: &Registry, state: &AppState) {
    let pool = state.db.pool_stats();
    let gauges = register(
        registry,
        IntGaugeVec::new(
            Opts::new(
                "k12_db_pool_connections",
                "Connections of the pool by state (in_use, idle), its maximum (max) and transactions waiting for one (waiting).",
            ),
            &["state"],
        ),
    );
    gauges
        .with_label_values(&["in_use"])
        .set(i64::from(pool.in_use));
    gauges
        .with_label_values(&["idle"])
        .set(i64::from(pool.idle));
    gauges
        .with_label_values(&["max"])
        .set(i64::from(pool.max_size));
    gauges
        .with_label_values(&["waiting"])
        .set(i64::try_from(pool.waiting).unwrap_or(i64::MAX));
    let counters = register(
        registry,
        IntCounterVec::new(
            Opts::new(
                "k12_db_pool_waits_total",
                "Transactions that had to wait for a connection (waited), and those that gave up after K12_DB_ACQUIRE_TIMEOUT_MS (timed_out), since start.",
            ),
            &["outcome"],
        ),
    );
    counters
        .with_label_values(&["waited"])
        .inc_by(pool.waits_total);
    counters
        .with_label_values(&["timed_out"])
        .inc_by(pool.acquire_timeouts_total);
}

/// Jobs now in the table by kind and state, and jobs finished since installation by kind
/// and outcome.
struct JobFigures {
    current: Vec<(String, String, i64)>,
    finished: Vec<(String, i64, i64, i64)>,
}

async fn job_figures(state: &AppState) -> Result<JobFigures, sqlx::Error> {
    let mut tx = state.db.system().await?;
    let current = sqlx::query_as(
        "SELECT kind, state, count(*) FROM jobs WHERE state IN ('pending', 'running')
          GROUP BY kind, state ORDER BY kind, state",
    )
    .fetch_all(&mut *tx)
    .await?;
    let finished = sqlx::query_as(
        "SELECT kind, sum(completed)::bigint, sum(retried)::bigint, sum(failed)::bigint
           FROM job_counters GROUP BY kind ORDER BY kind",
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(JobFigures { current, finished })
}

fn job_metrics(registry: &Registry, jobs: &JobFigures) {
    let current = register(
        registry,
        IntGaugeVec::new(
            Opts::new(
                "k12_jobs",
                "Jobs waiting or running now, by kind and state.",
            ),
            &["kind", "state"],
        ),
    );
    for (kind, state, n) in &jobs.current {
        current.with_label_values(&[kind, state]).set(*n);
    }
    let finished = register(
        registry,
        IntCounterVec::new(
            Opts::new(
                "k12_jobs_finished_total",
                "Job attempts finished since installation, by kind and outcome.",
            ),
            &["kind", "outcome"],
        ),
    );
    for (kind, completed, retried, failed) in &jobs.finished {
        for (outcome, n) in [
            ("completed", completed),
            ("retried", retried),
            ("failed", failed),
        ] {
            finished
                .with_label_values(&[kind, outcome])
                .inc_by(u64::try_from(*n).unwrap_or(0));
        }
    }
}

/// Registers a freshly built collector in this scrape's registry. Names are constants
/// of this file, so a failure is a programming error.
fn register<C: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    collector: prometheus::Result<C>,
) -> C {
    let c = collector.expect("valid metric");
    registry
        .register(Box::new(c.clone()))
        .expect("unique metric name");
    c
}
