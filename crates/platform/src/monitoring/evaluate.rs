//! Alert evaluation (spec 07, "Jobs"): the health report is computed once, every enabled
//! rule (system-wide and every school's: they read the same platform metrics) is judged
//! against it, rules in cooldown are skipped, firings and resolutions are recorded as
//! events, and what must be sent is written to the outbox ([`super::notify`]) in the same
//! transaction. Nothing here waits on a notifier.
//!
//! [`judge`] is the pure decision, unit-tested for every comparison; [`evaluate_now`] is
//! the cycle around it (`POST /api/v1/operator/alerts/evaluate` and the `evaluate_alerts`
//! job).

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::alerts::{AlertEventView, RuleRow, EVENT_SELECT, RULE_SELECT};
use super::health;
use super::notify::{self, Fired};
use crate::audit::{self, AuditEvent};
use crate::auth::session::CurrentOperator;
use crate::error::ApiResult;
use crate::http::AppState;
use crate::jobs::{Job, JobContext, Permanent};
use crate::request::RequestMeta;

/// `eq` compares within this margin (metrics are computed in floating point).
const EQ_EPSILON: f64 = 1e-9;

/// How a rule compares its metric with its threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    Gt,
    Lt,
    Gte,
    Lte,
    Eq,
}

impl Comparison {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "gt" => Self::Gt,
            "lt" => Self::Lt,
            "gte" => Self::Gte,
            "lte" => Self::Lte,
            "eq" => Self::Eq,
            _ => return None,
        })
    }

    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Self::Gt => value > threshold,
            Self::Lt => value < threshold,
            Self::Gte => value >= threshold,
            Self::Lte => value <= threshold,
            Self::Eq => (value - threshold).abs() <= EQ_EPSILON,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Self::Gt => ">",
            Self::Lt => "<",
            Self::Gte => ">=",
            Self::Lte => "<=",
            Self::Eq => "=",
        }
    }
}

/// What [`judge`] needs of a rule.
#[derive(Clone, Debug)]
pub struct RuleState {
    pub metric: String,
    pub comparison: String,
    pub threshold: f64,
    pub cooldown_minutes: i32,
    pub last_triggered_at: Option<DateTime<Utc>>,
    pub firing: bool,
}

impl From<&RuleRow> for RuleState {
    fn from(r: &RuleRow) -> Self {
        Self {
            metric: r.metric.clone(),
            comparison: r.comparison.clone(),
            threshold: r.threshold,
            cooldown_minutes: r.cooldown_minutes,
            last_triggered_at: r.last_triggered_at,
            firing: r.firing,
        }
    }
}

/// A rule's verdict for one cycle.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    /// The condition holds and the rule is out of cooldown: record a `fired` event.
    Fire(f64),
    /// The condition holds but the rule fired less than `cooldown_minutes` ago.
    Cooldown(f64),
    /// The rule was firing and its condition no longer holds: one `resolved` event.
    Resolve(f64),
    /// The condition does not hold and nothing was firing.
    Quiet(f64),
    /// The metric could not be measured (`null`): the rule is skipped, neither fired
    /// nor resolved.
    Unmeasured,
}

/// Judges one rule against the report's metrics at `now`.
pub fn judge(
    rule: &RuleState,
    metrics: &BTreeMap<String, Option<f64>>,
    now: DateTime<Utc>,
) -> Verdict {
    let Some(value) = metrics.get(&rule.metric).copied().flatten() else {
        return Verdict::Unmeasured;
    };
    let Some(comparison) = Comparison::parse(&rule.comparison) else {
        return Verdict::Unmeasured;
    };
    if comparison.holds(value, rule.threshold) {
        let cooling = rule
            .last_triggered_at
            .is_some_and(|t| now < t + chrono::Duration::minutes(i64::from(rule.cooldown_minutes)));
        if cooling {
            Verdict::Cooldown(value)
        } else {
            Verdict::Fire(value)
        }
    } else if rule.firing {
        Verdict::Resolve(value)
    } else {
        Verdict::Quiet(value)
    }
}

/// One evaluation cycle: the report once, every enabled rule judged, events and outbox
/// rows written in one transaction. Answers the events it recorded, oldest first.
pub async fn evaluate_now(state: &AppState) -> anyhow::Result<Vec<AlertEventView>> {
    let report = health::report(state).await;
    let now = Utc::now();
    let mut tx = state.db.system().await?;
    // Row locks: two evaluations at once (the job and the route) take turns, so a rule
    // fires once per cooldown however many run.
    let rules: Vec<RuleRow> = sqlx::query_as(&format!(
        "{RULE_SELECT} WHERE enabled ORDER BY id FOR UPDATE"
    ))
    .fetch_all(&mut *tx)
    .await?;
    let mut fired: Vec<Fired> = Vec::new();
    for rule in rules {
        let (kind, value) = match judge(&RuleState::from(&rule), &report.metrics, now) {
            Verdict::Fire(v) => ("fired", v),
            Verdict::Resolve(v) => ("resolved", v),
            Verdict::Cooldown(_) | Verdict::Quiet(_) | Verdict::Unmeasured => continue,
        };
        let event_id: i64 = if kind == "fired" {
            sqlx::query(
                "UPDATE alert_configurations
                    SET last_triggered_at = $2, trigger_count = trigger_count + 1, firing = true
                  WHERE id = $1",
            )
            .bind(rule.id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query_scalar(
                "INSERT INTO alert_events (tenant_id, alert_configuration_id, rule_name, metric,
                        comparison, kind, value, threshold, severity, fired_at)
                 VALUES ($1, $2, $3, $4, $5, 'fired', $6, $7, $8, $9) RETURNING id",
            )
            .bind(rule.tenant_id)
            .bind(rule.id)
            .bind(&rule.name)
            .bind(&rule.metric)
            .bind(&rule.comparison)
            .bind(value)
            .bind(rule.threshold)
            .bind(&rule.severity)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?
        } else {
            sqlx::query("UPDATE alert_configurations SET firing = false WHERE id = $1")
                .bind(rule.id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE alert_events SET resolved_at = $2
                  WHERE alert_configuration_id = $1 AND kind = 'fired' AND resolved_at IS NULL",
            )
            .bind(rule.id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query_scalar(
                "INSERT INTO alert_events (tenant_id, alert_configuration_id, rule_name, metric,
                        comparison, kind, value, threshold, severity, fired_at, resolved_at)
                 VALUES ($1, $2, $3, $4, $5, 'resolved', $6, $7, $8, $9, $10) RETURNING id",
            )
            .bind(rule.tenant_id)
            .bind(rule.id)
            .bind(&rule.name)
            .bind(&rule.metric)
            .bind(&rule.comparison)
            .bind(value)
            .bind(rule.threshold)
            .bind(&rule.severity)
            .bind(rule.last_triggered_at.unwrap_or(now))
            .bind(now)
            .fetch_one(&mut *tx)
            .await?
        };
        fired.push(Fired {
            event_id,
            kind,
            value,
            rule,
        });
    }
    notify::enqueue(&mut tx, state, &report, &fired).await?;
    let ids: Vec<i64> = fired.iter().map(|f| f.event_id).collect();
    let events: Vec<AlertEventView> =
        sqlx::query_as(&format!("{EVENT_SELECT} WHERE id = ANY($1) ORDER BY id"))
            .bind(&ids)
            .fetch_all(&mut *tx)
            .await?;
    tx.commit().await?;
    if !events.is_empty() {
        tracing::info!(events = events.len(), "alert evaluation recorded events");
    }
    Ok(events)
}

/// `POST /api/v1/operator/alerts/evaluate`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Evaluation {
    /// The events this evaluation recorded (empty when nothing fired or resolved).
    pub events: Vec<AlertEventView>,
}

/// `POST /api/v1/operator/alerts/evaluate`: one evaluation now.
pub async fn evaluate_route(
    State(state): State<AppState>,
    CurrentOperator(op): CurrentOperator,
    meta: RequestMeta,
) -> ApiResult<Json<Evaluation>> {
    let events = evaluate_now(&state).await?;
    let mut tx = state.db.system().await?;
    audit::record_platform(
        &mut tx,
        Some(op.operator_id),
        &meta,
        AuditEvent::new("alerts.evaluated").with(serde_json::json!({ "events": events.len() })),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(Evaluation { events }))
}

/// The scheduled evaluation (`K12_ALERT_CRON`, default every 5 minutes).
#[derive(Debug, Serialize, Deserialize)]
pub struct EvaluateAlerts {}

impl Job for EvaluateAlerts {
    const KIND: &'static str = "evaluate_alerts";
    /// A missed cycle is not retried: the next tick evaluates afresh.
    const MAX_ATTEMPTS: i32 = 1;
    const TIMEOUT: Duration = Duration::from_secs(120);

    fn unique_key(&self) -> Option<String> {
        Some("evaluate_alerts".into())
    }

    async fn run(&self, ctx: &JobContext) -> anyhow::Result<()> {
        let state = ctx.state.as_ref().ok_or_else(|| {
            Permanent("this worker has no service state (database, storage, metrics) to build the health report".into())
        })?;
        evaluate_now(state).await.map(drop)
    }
}

pub const DEFAULT_ALERT_CRON: &str = "*/5 * * * *";

/// The evaluation's cron expression: `K12_ALERT_CRON`, read once per process (schedules
/// are declared with `'static` expressions). An invalid expression stops the process at
/// start-up, when the worker builds its schedules.
pub fn alert_cron() -> &'static str {
    static CRON: OnceLock<&'static str> = OnceLock::new();
    CRON.get_or_init(|| match std::env::var("K12_ALERT_CRON") {
        Ok(v) if !v.trim().is_empty() => {
            if let Err(e) = <croner::Cron as std::str::FromStr>::from_str(v.trim()) {
                panic!(
                    "invalid configuration: K12_ALERT_CRON: {v:?} is not a cron expression: {e}"
                );
            }
            Box::leak(v.trim().to_owned().into_boxed_str())
        }
        _ => DEFAULT_ALERT_CRON,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(name: &str, value: Option<f64>) -> BTreeMap<String, Option<f64>> {
        BTreeMap::from([(name.to_owned(), value)])
    }

    fn rule(comparison: &str, threshold: f64) -> RuleState {
        RuleState {
            metric: "job_queue_depth".into(),
            comparison: comparison.into(),
            threshold,
            cooldown_minutes: 30,
            last_triggered_at: None,
            firing: false,
        }
    }

    #[test]
    fn every_comparison() {
        let now = Utc::now();
        let cases = [
            ("gt", 10.0, 11.0, true),
            ("gt", 10.0, 10.0, false),
            ("lt", 10.0, 9.5, true),
            ("lt", 10.0, 10.0, false),
            ("gte", 10.0, 10.0, true),
            ("gte", 10.0, 9.99, false),
            ("lte", 10.0, 10.0, true),
            ("lte", 10.0, 10.01, false),
            ("eq", 1.0, 1.0, true),
            ("eq", 1.0, 0.0, false),
            ("eq", -1.0, -1.0, true),
        ];
        for (cmp, threshold, value, fires) in cases {
            let v = judge(
                &rule(cmp, threshold),
                &metrics("job_queue_depth", Some(value)),
                now,
            );
            let want = if fires {
                Verdict::Fire(value)
            } else {
                Verdict::Quiet(value)
            };
            assert_eq!(v, want, "{value} {cmp} {threshold}");
        }
        assert_eq!(Comparison::parse("gte").unwrap().symbol(), ">=");
        assert_eq!(Comparison::parse("ne"), None);
    }

    #[test]
    fn unmeasured_metrics_are_skipped_not_zero() {
        let now = Utc::now();
        // `lt 5` would fire on a zero; a null must neither fire nor resolve.
        let mut r = rule("lt", 5.0);
        assert_eq!(
            judge(&r, &metrics("job_queue_depth", None), now),
            Verdict::Unmeasured
        );
        assert_eq!(
            judge(&r, &metrics("redis_memory", Some(1.0)), now),
            Verdict::Unmeasured
        );
        r.firing = true;
        assert_eq!(
            judge(&r, &metrics("job_queue_depth", None), now),
            Verdict::Unmeasured
        );
    }

    #[test]
    fn cooldown_holds_a_rule_that_fired_recently() {
        let now = Utc::now();
        let mut r = rule("gt", 100.0);
        r.firing = true;
        r.last_triggered_at = Some(now - chrono::Duration::minutes(29));
        let m = metrics("job_queue_depth", Some(500.0));
        assert_eq!(judge(&r, &m, now), Verdict::Cooldown(500.0));
        r.last_triggered_at = Some(now - chrono::Duration::minutes(30));
        assert_eq!(judge(&r, &m, now), Verdict::Fire(500.0));
        r.cooldown_minutes = 0;
        r.last_triggered_at = Some(now);
        assert_eq!(judge(&r, &m, now), Verdict::Fire(500.0));
    }

    #[test]
    fn a_firing_rule_resolves_once() {
        let now = Utc::now();
        let mut r = rule("gt", 100.0);
        r.firing = true;
        r.last_triggered_at = Some(now - chrono::Duration::minutes(1));
        let calm = metrics("job_queue_depth", Some(3.0));
        assert_eq!(judge(&r, &calm, now), Verdict::Resolve(3.0));
        r.firing = false;
        assert_eq!(judge(&r, &calm, now), Verdict::Quiet(3.0));
    }
}
