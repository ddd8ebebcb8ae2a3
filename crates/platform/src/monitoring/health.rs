//! The operator's health report: every dependency checked concurrently, each under its
//! own timeout, and the numeric metrics the alert rules read (spec 07). A metric that
//! could not be measured is `None` (JSON `null`), never 0 in its place.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;

use crate::http::AppState;

/// No check may take longer than this; a dependency that hangs is reported critical.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(5);
/// `SELECT 1` slower than this is a warning.
const DB_SLOW_MS: f64 = 500.0;
/// Job queue thresholds: ready jobs, and the age of the oldest ready job in seconds.
const QUEUE_DEPTH_WARNING: i64 = 100;
const QUEUE_DEPTH_CRITICAL: i64 = 1000;
const QUEUE_LATENCY_WARNING_SECS: f64 = 60.0;
const QUEUE_LATENCY_CRITICAL_SECS: f64 = 600.0;

/// A check's verdict. `not_configured` is not a failure and does not count towards
/// `overall`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    NotConfigured,
    Healthy,
    Warning,
    Critical,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Check {
    pub status: Status,
    /// How long the check took, in milliseconds (`null` when it was not run).
    pub latency_ms: Option<f64>,
    pub detail: String,
}

impl Check {
    fn not_configured(detail: &str) -> Self {
        Self {
            status: Status::NotConfigured,
            latency_ms: None,
            detail: detail.to_owned(),
        }
    }
}

/// `GET /api/v1/operator/health`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct HealthReport {
    /// The worst status of the configured checks.
    pub overall: Status,
    pub checked_at: DateTime<Utc>,
    /// `database`, `redis`, `job_queue`, `storage`, `ai_gateway`.
    pub checks: BTreeMap<String, Check>,
    /// Every metric of the spec's table; `null` when it could not be measured.
    pub metrics: BTreeMap<String, Option<f64>>,
}

/// Where monitoring looks beyond the service's own state.
#[derive(Clone, Debug, Default)]
pub struct MonitoringConfig {
    /// The AI gateway's base URL (`K12_GATEWAY_URL`); its `/v1/health` is checked.
    pub gateway_url: Option<String>,
    /// The directory whose filesystem `disk_usage_percent` measures (`K12_DATA_DIR`).
    pub data_dir: Option<std::path::PathBuf>,
    /// What the uptime monitor checks (`K12_UPTIME_URLS`, `K12_UPTIME_COOLDOWN_MINUTES`).
    pub uptime: super::uptime::UptimeSettings,
}

/// The names of the numeric metrics, in the spec's order.
pub const METRIC_NAMES: [&str; 12] = [
    "db_connection_pool",
    "db_response_time",
    "response_time_p95",
    "error_rate_5m",
    "job_queue_depth",
    "job_latency",
    "disk_usage_percent",
    "memory_usage_percent",
    "redis_memory",
    "storage_health",
    "ai_gateway_health",
    "backup_age_hours",
];

/// Runs every check concurrently and assembles the report.
pub async fn report(state: &AppState) -> HealthReport {
    let (database, queue, redis, storage, gateway, backup_age, window) = tokio::join!(
        timed(check_database(state)),
        timed(check_queue(state)),
        timed(check_redis(state)),
        timed(check_storage(state)),
        timed(check_gateway(state)),
        timed(backup_age_hours(state)),
        // Every API process's requests when they share through Redis (bounded by the
        // connection's own timeouts), else this process's.
        state.metrics.combined_window(),
    );
    let mut metrics: BTreeMap<String, Option<f64>> =
        METRIC_NAMES.iter().map(|m| (m.to_string(), None)).collect();
    let mut set = |name: &str, value: Option<f64>| {
        metrics.insert(name.to_owned(), value);
    };

    let pool = state.db.pool_stats();
    set(
        "db_connection_pool",
        Some(f64::from(pool.in_use) * 100.0 / f64::from(pool.max_size.max(1))),
    );
    set("response_time_p95", window.p95_ms);
    set("error_rate_5m", window.error_rate_percent);
    set(
        "disk_usage_percent",
        state
            .config
            .monitoring
            .data_dir
            .as_deref()
            .and_then(disk_usage_percent),
    );
    set("memory_usage_percent", memory_usage_percent());

    let mut checks = BTreeMap::new();
    let database = database.finish("database", |latency_ms, ()| {
        set("db_response_time", Some(latency_ms));
        if latency_ms > DB_SLOW_MS {
            (Status::Warning, format!("SELECT 1 took {latency_ms:.0} ms"))
        } else {
            (Status::Healthy, "SELECT 1 answered".to_owned())
        }
    });
    checks.insert("database".to_owned(), database);

    let queue = queue.finish("job_queue", |_, (depth, latency): (i64, f64)| {
        set("job_queue_depth", Some(depth as f64));
        set("job_latency", Some(latency));
        let status = if depth > QUEUE_DEPTH_CRITICAL || latency > QUEUE_LATENCY_CRITICAL_SECS {
            Status::Critical
        } else if depth > QUEUE_DEPTH_WARNING || latency > QUEUE_LATENCY_WARNING_SECS {
            Status::Warning
        } else {
            Status::Healthy
        };
        (
            status,
            format!("{depth} ready jobs, oldest waiting {latency:.0} s"),
        )
    });
    checks.insert("job_queue".to_owned(), queue);

    let redis = match redis {
        Timed::Done(_, None) => Check::not_configured("REDIS_URL is not set"),
        other => other
            .map(|r| r.expect("configured"))
            .finish("redis", |_, used_bytes: u64| {
                set("redis_memory", Some(used_bytes as f64 / (1024.0 * 1024.0)));
                (
                    Status::Healthy,
                    format!("PING answered; {used_bytes} bytes used"),
                )
            }),
    };
    checks.insert("redis".to_owned(), redis);

    let storage = storage.finish("storage", |_, ()| {
        (
            Status::Healthy,
            "probe object written, read back and deleted".to_owned(),
        )
    });
    set(
        "storage_health",
        Some(if storage.status == Status::Healthy {
            1.0
        } else {
            0.0
        }),
    );
    checks.insert("storage".to_owned(), storage);

    let gateway = match gateway {
        Timed::Done(_, None) => Check::not_configured("K12_GATEWAY_URL is not set"),
        other => other
            .map(|r| r.expect("configured"))
            .finish("ai_gateway", |_, ()| {
                (Status::Healthy, "/v1/health answered 200".to_owned())
            }),
    };
    if gateway.status != Status::NotConfigured {
        set(
            "ai_gateway_health",
            Some(if gateway.status == Status::Healthy {
                1.0
            } else {
                0.0
            }),
        );
    }
    checks.insert("ai_gateway".to_owned(), gateway);

    // -1 while there is no successful backup (spec 07); null if it could not be read.
    if let Timed::Done(_, Ok(age)) = backup_age {
        set("backup_age_hours", Some(age.unwrap_or(-1.0)));
    }

    let overall = overall(checks.values().map(|c| c.status));
    HealthReport {
        overall,
        checked_at: Utc::now(),
        checks,
        metrics,
    }
}

/// The worst status among the configured checks (healthy when none is configured).
fn overall(statuses: impl Iterator<Item = Status>) -> Status {
    statuses
        .filter(|s| *s != Status::NotConfigured)
        .max()
        .unwrap_or(Status::Healthy)
}

/// A check's outcome: finished (with its latency), or cut off by [`CHECK_TIMEOUT`].
enum Timed<T> {
    Done(f64, T),
    TimedOut,
}

impl<T> Timed<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Timed<U> {
        match self {
            Timed::Done(ms, v) => Timed::Done(ms, f(v)),
            Timed::TimedOut => Timed::TimedOut,
        }
    }
}

impl<T> Timed<Result<T, String>> {
    /// A check entry: `judge` rates a success; an error or a timeout is critical.
    fn finish(self, name: &str, judge: impl FnOnce(f64, T) -> (Status, String)) -> Check {
        match self {
            Timed::Done(ms, Ok(v)) => {
                let (status, detail) = judge(ms, v);
                Check {
                    status,
                    latency_ms: Some(round(ms)),
                    detail,
                }
            }
            Timed::Done(ms, Err(e)) => {
                tracing::warn!(check = name, error = %e, "health check failed");
                Check {
                    status: Status::Critical,
                    latency_ms: Some(round(ms)),
                    detail: e,
                }
            }
            Timed::TimedOut => Check {
                status: Status::Critical,
                latency_ms: Some(round(CHECK_TIMEOUT.as_secs_f64() * 1000.0)),
                detail: format!("no answer within {} s", CHECK_TIMEOUT.as_secs()),
            },
        }
    }
}

fn round(ms: f64) -> f64 {
    (ms * 100.0).round() / 100.0
}

async fn timed<T>(check: impl std::future::Future<Output = T>) -> Timed<T> {
    let started = Instant::now();
    match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(v) => Timed::Done(started.elapsed().as_secs_f64() * 1000.0, v),
        Err(_) => Timed::TimedOut,
    }
}

async fn check_database(state: &AppState) -> Result<(), String> {
    state.db.ping().await.map_err(|e| e.to_string())
}

/// Ready jobs across queues and the age of the oldest one (0 when none is waiting).
async fn check_queue(state: &AppState) -> Result<(i64, f64), String> {
    let mut tx = state.db.system().await.map_err(|e| e.to_string())?;
    let stats = crate::jobs::admin::queue_stats(&mut tx)
        .await
        .map_err(|e| e.to_string())?;
    tx.commit().await.map_err(|e| e.to_string())?;
    let depth = stats.iter().map(|q| q.depth).sum();
    let latency = stats
        .iter()
        .filter_map(|q| q.oldest_ready_age_secs)
        .fold(0.0, f64::max);
    Ok((depth, latency))
}

/// `None` when Redis is not configured; else its used memory in bytes.
async fn check_redis(state: &AppState) -> Option<Result<u64, String>> {
    state.limiter.redis_used_memory().await
}

/// A real round trip: write, read back and delete a small probe object.
async fn check_storage(state: &AppState) -> Result<(), String> {
    let key = format!(
        "_monitoring/probe-{}-{}",
        std::process::id(),
        crate::auth::token::random_password()
            .get(..12)
            .unwrap_or("x")
    );
    let body = bytes::Bytes::from_static(b"k12 health probe");
    state
        .store
        .put_bytes(&key, body.clone())
        .await
        .map_err(|e| e.to_string())?;
    let read = state.store.get_bytes(&key, 1024).await;
    let deleted = state.store.delete(&key).await;
    match read {
        Ok(b) if b == body => {}
        Ok(_) => return Err("the probe object read back differs".to_owned()),
        Err(e) => return Err(e.to_string()),
    }
    deleted.map_err(|e| e.to_string())
}

/// `None` when no gateway is configured; else whether `/v1/health` answered 200.
async fn check_gateway(state: &AppState) -> Option<Result<(), String>> {
    let base = state.config.monitoring.gateway_url.as_deref()?;
    let url = format!("{}/v1/health", base.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(CHECK_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build();
    Some(match client {
        Err(e) => Err(e.to_string()),
        Ok(client) => match client.get(&url).send().await {
            Ok(r) if r.status() == reqwest::StatusCode::OK => Ok(()),
            Ok(r) => Err(format!("/v1/health answered {}", r.status().as_u16())),
            Err(e) => Err(format!("/v1/health unreachable: {}", e.without_url())),
        },
    })
}

/// Hours since the newest successful backup, `None` when there is none.
async fn backup_age_hours(state: &AppState) -> Result<Option<f64>, String> {
    let mut tx = state.db.system().await.map_err(|e| e.to_string())?;
    let seconds: Option<f64> = sqlx::query_scalar(BACKUP_AGE_SQL)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| e.to_string())?;
    tx.commit().await.map_err(|e| e.to_string())?;
    Ok(seconds.map(|s| s / 3600.0))
}

/// Seconds since the newest backup that completed (verified or not, and not pruned):
/// its start plus its duration.
const BACKUP_AGE_SQL: &str = "SELECT extract(epoch FROM now() - max(created_at
            + coalesce(duration_seconds, 0) * interval '1 second'))::float8
       FROM backup_records
      WHERE status IN ('completed', 'verified') AND deleted_at IS NULL";

/// Used share of the filesystem holding `dir`, in percent.
fn disk_usage_percent(dir: &Path) -> Option<f64> {
    let stat = nix::sys::statvfs::statvfs(dir).ok()?;
    let total = stat.blocks() as f64;
    if total <= 0.0 {
        return None;
    }
    let available = stat.blocks_available() as f64;
    Some((1.0 - available / total) * 100.0)
}

/// Used share of the machine's memory (`MemTotal` less `MemAvailable`), in percent.
fn memory_usage_percent() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_meminfo(&text)
}

fn parse_meminfo(text: &str) -> Option<f64> {
    let field = |name: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name))?
            .trim_start_matches(':')
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    let total = field("MemTotal")?;
    let available = field("MemAvailable")?;
    (total > 0.0).then(|| (1.0 - available / total) * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_is_read_as_used_share() {
        let text = "MemTotal:       16000000 kB\nMemFree:  100 kB\nMemAvailable:    4000000 kB\n";
        assert_eq!(parse_meminfo(text), Some(75.0));
        assert_eq!(parse_meminfo("MemTotal: 10 kB\n"), None);
    }

    #[test]
    fn overall_is_the_worst_configured_check() {
        use Status::*;
        assert_eq!(
            overall([NotConfigured, Healthy, Warning].into_iter()),
            Warning
        );
        assert_eq!(overall([Critical, Warning, Healthy].into_iter()), Critical);
        assert_eq!(overall([NotConfigured, NotConfigured].into_iter()), Healthy);
    }

    #[test]
    fn disk_usage_of_an_existing_directory_is_a_percentage() {
        let p = disk_usage_percent(Path::new("/")).expect("statvfs /");
        assert!((0.0..=100.0).contains(&p));
        assert_eq!(disk_usage_percent(Path::new("/no/such/dir")), None);
    }
}
