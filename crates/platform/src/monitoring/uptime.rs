//! The uptime monitor (spec 07, "Jobs"): every two minutes (`K12_UPTIME_CRON`) a GET of
//! each URL in `K12_UPTIME_URLS` (default: this deployment's own `/api/v1/health`, and the
//! gateway's `/v1/health` when `K12_GATEWAY_URL` is set). A non-200 answer or no answer
//! within [`PROBE_TIMEOUT`] is a critical notification through the outbox, repeated at
//! most once per cooldown while it lasts; the first 200 afterwards sends one "recovered"
//! message. Every URL that went down in one run is one message, every URL that recovered
//! another.
//!
//! The state is the alert events themselves (system events with metric `uptime`, no
//! rule): an unresolved `fired` event means "down", so operators see uptime incidents in
//! `GET /api/v1/operator/alert_events` with everything else and nothing else is stored.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::notify::{self, AlertLine, Message};
use crate::config::{ConfigError, VarSource};
use crate::http::AppState;
use crate::jobs::{Job, JobContext, Permanent};

/// A URL that has not answered within this is down.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_UPTIME_CRON: &str = "*/2 * * * *";
pub const DEFAULT_COOLDOWN_MINUTES: u32 = 30;
/// The metric name of uptime events.
pub const METRIC: &str = "uptime";

/// What the monitor checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UptimeSettings {
    /// `K12_UPTIME_URLS`; empty: the monitor does nothing.
    pub urls: Vec<String>,
    /// `K12_UPTIME_COOLDOWN_MINUTES`: how often a URL that stays down is notified again.
    pub cooldown_minutes: u32,
}

impl Default for UptimeSettings {
    fn default() -> Self {
        Self {
            urls: Vec::new(),
            cooldown_minutes: DEFAULT_COOLDOWN_MINUTES,
        }
    }
}

fn invalid(var: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        message: message.into(),
    }
}

impl UptimeSettings {
    /// `K12_UPTIME_URLS` (comma-separated http(s) URLs, or `off`), defaulting to the API's
    /// own health at `listen` (an unspecified address is reached on loopback) and the
    /// gateway's when `gateway_url` is set; `K12_UPTIME_COOLDOWN_MINUTES` (default 30).
    pub fn from_vars(
        vars: &dyn VarSource,
        listen: SocketAddr,
        gateway_url: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let urls = match vars.get("K12_UPTIME_URLS") {
            Some(v) if v.trim() == "off" => Vec::new(),
            Some(v) if !v.trim().is_empty() => {
                let mut urls = Vec::new();
                for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let ok = url::Url::parse(item).is_ok_and(|u| {
                        matches!(u.scheme(), "http" | "https") && u.host_str().is_some()
                    });
                    if !ok {
                        return Err(invalid(
                            "K12_UPTIME_URLS",
                            format!("{:?} is not an http(s) URL", display_url(item)),
                        ));
                    }
                    urls.push(item.to_owned());
                }
                urls
            }
            _ => default_urls(listen, gateway_url),
        };
        let cooldown_minutes = match vars.get("K12_UPTIME_COOLDOWN_MINUTES") {
            Some(v) => v
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|m| *m <= 10_080)
                .ok_or_else(|| {
                    invalid(
                        "K12_UPTIME_COOLDOWN_MINUTES",
                        format!("{v:?} is not a number of minutes between 0 and 10080"),
                    )
                })?,
            None => DEFAULT_COOLDOWN_MINUTES,
        };
        Ok(Self {
            urls,
            cooldown_minutes,
        })
    }
}

/// This deployment's `/api/v1/health` at `listen`, and the gateway's `/v1/health`.
pub fn default_urls(listen: SocketAddr, gateway_url: Option<&str>) -> Vec<String> {
    let mut own = listen;
    if own.ip().is_unspecified() {
        own.set_ip(if own.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    let mut urls = vec![format!("http://{own}/api/v1/health")];
    if let Some(g) = gateway_url {
        urls.push(format!("{}/v1/health", g.trim_end_matches('/')));
    }
    urls
}

/// The URL as messages and events show it: no user info, no query (either may hold a
/// credential).
pub fn display_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => "(not a URL)".to_owned(),
    }
}

/// One URL's answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Probe {
    pub url: String,
    /// The HTTP status, `None` when there was no answer.
    pub status: Option<u16>,
    /// Why it counts as down (`None`: it answered 200).
    pub error: Option<String>,
}

impl Probe {
    pub fn up(&self) -> bool {
        self.error.is_none()
    }
}

/// GETs `url` once (no redirects followed: a health endpoint answers itself).
async fn probe(client: &reqwest::Client, url: &str) -> Probe {
    let shown = display_url(url);
    let (status, error) = match client.get(url).send().await {
        Ok(r) if r.status() == reqwest::StatusCode::OK => (Some(200), None),
        Ok(r) => {
            let code = r.status().as_u16();
            (Some(code), Some(format!("GET {shown} answered {code}")))
        }
        Err(e) if e.is_timeout() => (
            None,
            Some(format!(
                "GET {shown}: no answer within {} s",
                PROBE_TIMEOUT.as_secs()
            )),
        ),
        Err(e) => (
            None,
            Some(format!("GET {shown} unreachable: {}", e.without_url())),
        ),
    };
    Probe {
        url: shown,
        status,
        error,
    }
}

/// What one run did: every probe, and the events it recorded.
#[derive(Debug, Default)]
pub struct UptimeRun {
    pub probes: Vec<Probe>,
    pub fired: Vec<i64>,
    pub resolved: Vec<i64>,
}

/// One run now: every URL probed concurrently, then (one transaction) events recorded and
/// the messages written to the outbox for the deployment's default targets.
pub async fn check_now(state: &AppState) -> anyhow::Result<UptimeRun> {
    let settings = &state.config.monitoring.uptime;
    let mut run = UptimeRun::default();
    if settings.urls.is_empty() {
        return Ok(run);
    }
    let client = reqwest::Client::builder()
        .timeout(PROBE_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    run.probes = futures::future::join_all(settings.urls.iter().map(|u| probe(&client, u))).await;

    let now = Utc::now();
    let cooldown = chrono::Duration::minutes(i64::from(settings.cooldown_minutes));
    let mut tx = state.db.system().await?;
    // One run at a time across workers and the route: the job is unique, this is the
    // belt to its braces.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('k12:uptime'))")
        .execute(&mut *tx)
        .await?;
    let mut down_lines = Vec::new();
    let mut up_lines = Vec::new();
    for p in &run.probes {
        let name = format!("Uptime {}", p.url);
        // The first and the newest unresolved firing: down since, and the cooldown.
        let (first, last): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) = sqlx::query_as(
            "SELECT min(fired_at), max(fired_at) FROM alert_events
              WHERE tenant_id IS NULL AND alert_configuration_id IS NULL AND metric = $1
                AND rule_name = $2 AND kind = 'fired' AND resolved_at IS NULL",
        )
        .bind(METRIC)
        .bind(&name)
        .fetch_one(&mut *tx)
        .await?;
        let value = f64::from(p.status.unwrap_or(0));
        let kind = match (&p.error, last) {
            (Some(_), Some(last)) if now < last + cooldown => continue,
            (Some(_), _) => "fired",
            (None, Some(_)) => "resolved",
            (None, None) => continue,
        };
        if kind == "resolved" {
            sqlx::query(
                "UPDATE alert_events SET resolved_at = $3
                  WHERE tenant_id IS NULL AND alert_configuration_id IS NULL AND metric = $1
                    AND rule_name = $2 AND kind = 'fired' AND resolved_at IS NULL",
            )
            .bind(METRIC)
            .bind(&name)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        let since = first;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO alert_events (tenant_id, alert_configuration_id, rule_name, metric,
                    comparison, kind, value, threshold, severity, fired_at, resolved_at)
             VALUES (NULL, NULL, $1, $2, 'eq', $3, $4, 200, 'critical', $5, $6) RETURNING id",
        )
        .bind(&name)
        .bind(METRIC)
        .bind(kind)
        .bind(value)
        .bind(if kind == "fired" {
            now
        } else {
            since.unwrap_or(now)
        })
        .bind((kind == "resolved").then_some(now))
        .fetch_one(&mut *tx)
        .await?;
        let detail = match (&p.error, since) {
            (Some(e), _) => e.clone(),
            (None, Some(since)) => format!(
                "GET {} answers 200 again (down since {})",
                p.url,
                since.format("%Y-%m-%d %H:%M:%S UTC")
            ),
            (None, None) => format!("GET {} answers 200 again", p.url),
        };
        let line = AlertLine {
            rule_name: name,
            tenant_id: None,
            metric: METRIC.to_owned(),
            value,
            comparison: "eq".to_owned(),
            threshold: 200.0,
            severity: "critical".to_owned(),
            detail: Some(detail),
        };
        if kind == "fired" {
            run.fired.push(id);
            down_lines.push(line);
        } else {
            run.resolved.push(id);
            up_lines.push(line);
        }
    }
    let overall = if run.probes.iter().all(Probe::up) {
        "healthy"
    } else {
        "critical"
    };
    for (kind, lines, ids) in [
        ("fired", down_lines, &run.fired),
        ("resolved", up_lines, &run.resolved),
    ] {
        if lines.is_empty() {
            continue;
        }
        let message = Message {
            kind: kind.to_owned(),
            overall: overall.to_owned(),
            checked_at: now,
            alerts: lines,
        };
        let mut channels = state.config.alerts.default_channels();
        if channels.is_empty() {
            // Nowhere to send: record_message logs it and marks the events `logged`.
            channels.push("slack");
        }
        for channel in channels {
            notify::record_message(&mut tx, state, channel, None, &message, ids).await?;
        }
    }
    tx.commit().await?;
    if !run.fired.is_empty() || !run.resolved.is_empty() {
        tracing::warn!(
            down = run.fired.len(),
            recovered = run.resolved.len(),
            "uptime monitor recorded events"
        );
    }
    Ok(run)
}

/// The scheduled check (`K12_UPTIME_CRON`, default every 2 minutes).
#[derive(Debug, Serialize, Deserialize)]
pub struct CheckUptime {}

impl Job for CheckUptime {
    const KIND: &'static str = "check_uptime";
    /// A missed run is not retried: the next tick checks afresh.
    const MAX_ATTEMPTS: i32 = 1;
    const TIMEOUT: Duration = Duration::from_secs(90);

    fn unique_key(&self) -> Option<String> {
        Some("check_uptime".into())
    }

    async fn run(&self, ctx: &JobContext) -> anyhow::Result<()> {
        let state = ctx.state.as_ref().ok_or_else(|| {
            Permanent("this worker has no service state (uptime URLs, notification targets)".into())
        })?;
        check_now(state).await.map(drop)
    }
}

/// The monitor's cron expression: `K12_UPTIME_CRON`, read once per process. An invalid
/// expression stops the process at start-up, when the worker builds its schedules.
pub fn uptime_cron() -> &'static str {
    static CRON: OnceLock<&'static str> = OnceLock::new();
    CRON.get_or_init(|| match std::env::var("K12_UPTIME_CRON") {
        Ok(v) if !v.trim().is_empty() => {
            if let Err(e) = <croner::Cron as std::str::FromStr>::from_str(v.trim()) {
                panic!(
                    "invalid configuration: K12_UPTIME_CRON: {v:?} is not a cron expression: {e}"
                );
            }
            Box::leak(v.trim().to_owned().into_boxed_str())
        }
        _ => DEFAULT_UPTIME_CRON,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn default_urls_are_the_api_and_the_gateway() {
        let listen: SocketAddr = "0.0.0.0:3000".parse().unwrap();
        let s = UptimeSettings::from_vars(&vars(&[]), listen, Some("http://gw:8000/")).unwrap();
        assert_eq!(
            s.urls,
            [
                "http://127.0.0.1:3000/api/v1/health",
                "http://gw:8000/v1/health"
            ]
        );
        assert_eq!(s.cooldown_minutes, 30);
        let s = UptimeSettings::from_vars(&vars(&[]), "[::]:80".parse().unwrap(), None).unwrap();
        assert_eq!(s.urls, ["http://[::1]:80/api/v1/health"]);
    }

    #[test]
    fn configured_urls_and_cooldown() {
        let listen: SocketAddr = "127.0.0.1:3000".parse().unwrap();
        let s = UptimeSettings::from_vars(
            &vars(&[
                (
                    "K12_UPTIME_URLS",
                    " https://a.example/h , http://b.example:81/x ",
                ),
                ("K12_UPTIME_COOLDOWN_MINUTES", "5"),
            ]),
            listen,
            Some("http://gw"),
        )
        .unwrap();
        assert_eq!(s.urls, ["https://a.example/h", "http://b.example:81/x"]);
        assert_eq!(s.cooldown_minutes, 5);
        let off = UptimeSettings::from_vars(&vars(&[("K12_UPTIME_URLS", "off")]), listen, None);
        assert!(off.unwrap().urls.is_empty());
        for (var, value) in [
            ("K12_UPTIME_URLS", "ftp://a.example"),
            ("K12_UPTIME_URLS", "https://ok.example, nope"),
            ("K12_UPTIME_COOLDOWN_MINUTES", "-1"),
            ("K12_UPTIME_COOLDOWN_MINUTES", "99999"),
        ] {
            let e = UptimeSettings::from_vars(&vars(&[(var, value)]), listen, None).unwrap_err();
            assert_eq!(e.var, var);
        }
    }

    #[test]
    fn shown_urls_carry_no_credentials() {
        assert_eq!(
            display_url("https://user:pw@h.example:8443/health?token=abc#x"),
            "https://h.example:8443/health"
        );
        let e = UptimeSettings::from_vars(
            &vars(&[("K12_UPTIME_URLS", "gopher://u:secretpw@h/?k=secretq")]),
            "127.0.0.1:1".parse().unwrap(),
            None,
        )
        .unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
    }
}
