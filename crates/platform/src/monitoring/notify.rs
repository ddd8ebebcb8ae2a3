//! Notifications through a persisted outbox (spec 07, "Notifications").
//!
//! The evaluation writes one `notification_outbox` row per cycle, channel, target and
//! kind (every rule that fired in one message, every rule that resolved in another) and a
//! `deliver_notifications` job for it, in its own transaction; it never waits on Slack.
//! The job posts the message through the guarded client; a failed attempt is recorded and
//! retried by the queue with its backoff, and a row once `sent` is never sent again.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use egress::header::{HeaderValue, CONTENT_TYPE};
use egress::OutgoingRequest;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::alerts::RuleRow;
use super::evaluate::Comparison;
use super::health::HealthReport;
use super::mail::SmtpSettings;
use crate::config::{ConfigError, Secret, VarSource};
use crate::db::SystemTx;
use crate::http::AppState;
use crate::identity::Email;
use crate::jobs::{self, Job, JobContext, Permanent};

/// Slack refuses messages with more blocks than this.
pub const MAX_BLOCKS: usize = 50;

/// Where notifications go when a rule names no target of its own, and how e-mail is
/// sent.
#[derive(Clone, Debug, Default)]
pub struct AlertSettings {
    /// `K12_SLACK_WEBHOOK_URL`: the default target of system rules without their own.
    pub slack_webhook_url: Option<Secret>,
    /// `K12_SMTP_URL`: the relay alert e-mail goes through; unset: e-mail is logged only.
    pub smtp: Option<SmtpSettings>,
    /// `K12_MAIL_FROM`: the sender of alert e-mail (required with `K12_SMTP_URL`).
    pub mail_from: Option<String>,
    /// `K12_ALERT_EMAIL_TO`: the default recipient of system rules on the `email`
    /// channel without their own target, and of uptime notifications.
    pub email_to: Option<String>,
}

fn email_var(vars: &dyn VarSource, var: &'static str) -> Result<Option<String>, ConfigError> {
    match vars.get(var) {
        Some(v) if !v.trim().is_empty() => Email::parse(v.trim())
            .map(|e| Some(e.as_str().to_owned()))
            .map_err(|m| ConfigError {
                var,
                message: format!("must be an e-mail address: {m}"),
            }),
        _ => Ok(None),
    }
}

impl AlertSettings {
    pub fn from_vars(vars: &dyn VarSource) -> Result<Self, ConfigError> {
        let slack_webhook_url = match vars.get("K12_SLACK_WEBHOOK_URL") {
            Some(v) if !v.trim().is_empty() => {
                let ok = url::Url::parse(v.trim())
                    .is_ok_and(|u| u.scheme() == "https" || u.scheme() == "http");
                if !ok {
                    return Err(ConfigError {
                        var: "K12_SLACK_WEBHOOK_URL",
                        message: "must be a Slack incoming-webhook URL (https://...)".into(),
                    });
                }
                Some(Secret::new(v.trim()))
            }
            _ => None,
        };
        let smtp = match vars.get("K12_SMTP_URL") {
            Some(v) if !v.trim().is_empty() => Some(SmtpSettings::parse(&v)?),
            _ => None,
        };
        let mail_from = email_var(vars, "K12_MAIL_FROM")?;
        if smtp.is_some() && mail_from.is_none() {
            return Err(ConfigError {
                var: "K12_MAIL_FROM",
                message: "is required when K12_SMTP_URL is set (the sender of alert e-mail)".into(),
            });
        }
        Ok(Self {
            slack_webhook_url,
            smtp,
            mail_from,
            email_to: email_var(vars, "K12_ALERT_EMAIL_TO")?,
        })
    }

    /// Why a message on `channel` to `target` (`None`: the default) cannot be sent from
    /// here, or `None` when it can.
    pub fn undeliverable(&self, channel: &str, target: Option<&str>) -> Option<&'static str> {
        match channel {
            "slack" if target.is_none() && self.slack_webhook_url.is_none() => {
                Some("no target: K12_SLACK_WEBHOOK_URL is not set")
            }
            "slack" => None,
            "email" if self.smtp.is_none() => Some("no mail relay: K12_SMTP_URL is not set"),
            "email" if target.is_none() && self.email_to.is_none() => {
                Some("no target: K12_ALERT_EMAIL_TO is not set")
            }
            "email" => None,
            _ => Some("unknown channel"),
        }
    }

    /// The channels the deployment's defaults reach (system notifications without a
    /// target of their own: uptime).
    pub fn default_channels(&self) -> Vec<&'static str> {
        ["slack", "email"]
            .into_iter()
            .filter(|c| self.undeliverable(c, None).is_none())
            .collect()
    }
}

/// A rule that fired or resolved in this cycle, with its event.
#[derive(Debug)]
pub(crate) struct Fired {
    pub event_id: i64,
    pub kind: &'static str,
    pub value: f64,
    pub rule: RuleRow,
}

/// One line of a message.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AlertLine {
    pub rule_name: String,
    pub tenant_id: Option<i64>,
    pub metric: String,
    pub value: f64,
    pub comparison: String,
    pub threshold: f64,
    pub severity: String,
    /// Replaces `metric = value (comparison threshold)` where that says nothing (uptime:
    /// `GET https://... answered 503`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// What an outbox row carries: everything the message says.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Message {
    /// `fired` or `resolved`.
    pub kind: String,
    /// The report's overall status at evaluation.
    pub overall: String,
    pub checked_at: DateTime<Utc>,
    pub alerts: Vec<AlertLine>,
}

/// Groups this cycle's events into one message per (channel, target, kind) and records
/// each in the outbox with its delivery job; events with nowhere to go are logged.
pub(crate) async fn enqueue(
    tx: &mut SystemTx,
    state: &AppState,
    report: &HealthReport,
    fired: &[Fired],
) -> Result<(), sqlx::Error> {
    let overall = serde_json::to_value(report.overall)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut groups: BTreeMap<(String, Option<String>, &'static str), Vec<&Fired>> = BTreeMap::new();
    for f in fired {
        groups
            .entry((f.rule.channel.clone(), f.rule.target.clone(), f.kind))
            .or_default()
            .push(f);
    }
    for ((channel, target, kind), members) in groups {
        let message = Message {
            kind: kind.to_owned(),
            overall: overall.clone(),
            checked_at: report.checked_at,
            alerts: members
                .iter()
                .map(|f| AlertLine {
                    rule_name: f.rule.name.clone(),
                    tenant_id: f.rule.tenant_id,
                    metric: f.rule.metric.clone(),
                    value: f.value,
                    comparison: f.rule.comparison.clone(),
                    threshold: f.rule.threshold,
                    severity: f.rule.severity.clone(),
                    detail: None,
                })
                .collect(),
        };
        let event_ids: Vec<i64> = members.iter().map(|f| f.event_id).collect();
        record_message(tx, state, &channel, target.as_deref(), &message, &event_ids).await?;
    }
    Ok(())
}

/// Records one grouped message: an outbox row and its delivery job, or, when it has
/// nowhere to go, a log line and its events marked `logged`.
pub(crate) async fn record_message(
    tx: &mut SystemTx,
    state: &AppState,
    channel: &str,
    target: Option<&str>,
    message: &Message,
    event_ids: &[i64],
) -> Result<(), sqlx::Error> {
    if let Some(reason) = state.config.alerts.undeliverable(channel, target) {
        tracing::warn!(
            channel,
            kind = %message.kind,
            reason,
            text = %fallback_text(message),
            "alert notification logged only"
        );
        return mark_events(tx, event_ids, "logged", Some(reason)).await;
    }
    let payload = serde_json::to_value(message).map_err(|e| sqlx::Error::Encode(e.into()))?;
    let outbox_id: i64 = sqlx::query_scalar(
        "INSERT INTO notification_outbox (channel, target, kind, payload, event_ids)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(channel)
    .bind(target)
    .bind(&message.kind)
    .bind(&payload)
    .bind(event_ids)
    .fetch_one(&mut **tx)
    .await?;
    jobs::enqueue(&mut *tx, &DeliverNotification { outbox_id })
        .await
        .map(drop)
}

async fn mark_events(
    conn: &mut sqlx::PgConnection,
    ids: &[i64],
    status: &str,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE alert_events
            SET notification_status = $2, notification_error = $3,
                notified_at = CASE WHEN $2 IN ('sent', 'logged') THEN now() END
          WHERE id = ANY($1)",
    )
    .bind(ids)
    .bind(status)
    .bind(error)
    .execute(conn)
    .await
    .map(drop)
}

/// Slack's mrkdwn and `text` need `&`, `<` and `>` escaped (they start links and
/// mentions); nothing else.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// `metric = value (comparison threshold)`, e.g. `job_queue_depth = 150 (> 100)`.
fn condition(a: &AlertLine) -> String {
    if let Some(detail) = &a.detail {
        return detail.clone();
    }
    let symbol = Comparison::parse(&a.comparison)
        .map(Comparison::symbol)
        .unwrap_or("?");
    format!(
        "{} = {} ({symbol} {})",
        a.metric,
        format_value(a.value),
        format_value(a.threshold)
    )
}

fn title(m: &Message) -> String {
    let n = m.alerts.len();
    let plural = if n == 1 { "alert" } else { "alerts" };
    match m.kind.as_str() {
        "resolved" => format!("k12: {n} {plural} resolved"),
        _ => format!("k12: {n} {plural} firing"),
    }
}

/// The plain-text fallback (notifications, screen readers, old clients).
pub fn fallback_text(m: &Message) -> String {
    let lines: Vec<String> = m
        .alerts
        .iter()
        .map(|a| {
            format!(
                "[{}] {}: {}",
                a.severity.to_uppercase(),
                a.rule_name,
                condition(a)
            )
        })
        .collect();
    escape(&format!(
        "{} (overall health {}): {}",
        title(m),
        m.overall,
        lines.join("; ")
    ))
}

/// The plain-text body of an alert e-mail (nothing escaped: it is not markup).
pub fn email_text(m: &Message) -> String {
    let mut out = format!("{}\n\n", title(m));
    for a in &m.alerts {
        let scope = a
            .tenant_id
            .map(|t| format!(" (tenant {t})"))
            .unwrap_or_default();
        out.push_str(&format!(
            "[{}] {}{scope}\n    {}\n",
            a.severity.to_uppercase(),
            a.rule_name,
            condition(a)
        ));
    }
    out.push_str(&format!(
        "\nOverall health: {}\nChecked at: {}\n",
        m.overall,
        m.checked_at.format("%Y-%m-%d %H:%M:%S UTC")
    ));
    out
}

/// The Slack incoming-webhook body: `text` plus Block Kit blocks — a header, one section
/// per alert (severity, rule name, `metric = value (comparison threshold)`), and a
/// context line with the overall health and the time; at most [`MAX_BLOCKS`] blocks
/// (the alerts beyond that are counted in a last section).
pub fn slack_body(m: &Message) -> Value {
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": title(m)},
    })];
    // header + context + sections <= MAX_BLOCKS.
    let room = MAX_BLOCKS - 2;
    let shown = if m.alerts.len() > room {
        room - 1
    } else {
        m.alerts.len()
    };
    for a in &m.alerts[..shown] {
        let scope = a
            .tenant_id
            .map(|t| format!(" (tenant {t})"))
            .unwrap_or_default();
        blocks.push(json!({
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": escape(&format!(
                    "*{}* {}{scope}\n`{}`",
                    a.severity.to_uppercase(),
                    a.rule_name,
                    condition(a)
                )),
            },
        }));
    }
    if shown < m.alerts.len() {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": format!("…and {} more", m.alerts.len() - shown)},
        }));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{
            "type": "mrkdwn",
            "text": escape(&format!(
                "Overall health: {} · {}",
                m.overall,
                m.checked_at.format("%Y-%m-%d %H:%M:%S UTC")
            )),
        }],
    }));
    json!({ "text": fallback_text(m), "blocks": blocks })
}

/// Delivers one outbox row. At least once; a row marked `sent` is never sent again.
#[derive(Debug, Serialize, Deserialize)]
pub struct DeliverNotification {
    pub outbox_id: i64,
}

impl Job for DeliverNotification {
    const KIND: &'static str = "deliver_notifications";
    /// With the queue's backoff (10 s doubling, capped at an hour) this rides out an
    /// outage of about half a day.
    const MAX_ATTEMPTS: i32 = 20;
    const TIMEOUT: Duration = Duration::from_secs(60);

    fn unique_key(&self) -> Option<String> {
        Some(format!("outbox:{}", self.outbox_id))
    }

    async fn run(&self, ctx: &JobContext) -> anyhow::Result<()> {
        let state = ctx.state.as_ref().ok_or_else(|| {
            anyhow::anyhow!("this worker has no service state (outbound client, alert settings)")
        })?;
        let last = ctx.attempt >= Self::MAX_ATTEMPTS;
        deliver(state, self.outbox_id, last).await
    }
}

#[derive(sqlx::FromRow)]
struct Pending {
    channel: String,
    target: Option<String>,
    payload: Value,
    status: String,
    event_ids: Vec<i64>,
}

/// One attempt at outbox row `id`: read it (short transaction), post it (none open),
/// record the outcome. `last`: a failure is final.
pub async fn deliver(state: &AppState, id: i64, last: bool) -> anyhow::Result<()> {
    let mut tx = state.db.system().await?;
    let pending: Option<Pending> = sqlx::query_as(
        "SELECT channel, target, payload, status, event_ids FROM notification_outbox WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    let Some(p) = pending else {
        return Ok(());
    };
    if p.status != "pending" {
        return Ok(());
    }
    let message: Message = serde_json::from_value(p.payload)
        .map_err(|e| Permanent(format!("outbox {id}: unreadable payload: {e}")))?;
    let alerts = &state.config.alerts;
    if let Some(reason) = alerts.undeliverable(&p.channel, p.target.as_deref()) {
        // Configured when it was enqueued, not on this worker: said once, not retried.
        tracing::warn!(channel = %p.channel, reason, text = %fallback_text(&message), "alert notification logged only");
        return record(state, id, &p.event_ids, "logged", Some(reason)).await;
    }
    let outcome: Result<(), String> = match (p.channel.as_str(), &alerts.smtp) {
        ("email", Some(smtp)) => {
            let to = p
                .target
                .as_deref()
                .or(alerts.email_to.as_deref())
                .unwrap_or_default();
            let from = alerts.mail_from.as_deref().unwrap_or_default();
            smtp.send(from, to, &title(&message), email_text(&message))
                .await
        }
        _ => {
            let url = p.target.clone().or_else(|| {
                alerts
                    .slack_webhook_url
                    .as_ref()
                    .map(|u| u.expose().to_owned())
            });
            match url {
                Some(url) => post_slack(state, url, &message).await,
                None => Err("no Slack target".to_owned()),
            }
        }
    };
    match outcome {
        Ok(()) => record(state, id, &p.event_ids, "sent", None).await,
        Err(e) => {
            let status = if last { "failed" } else { "pending" };
            record(state, id, &p.event_ids, status, Some(&e)).await?;
            tracing::warn!(outbox = id, error = %e, last, "notification attempt failed");
            anyhow::bail!("notification {id} failed: {e}")
        }
    }
}

/// Success is HTTP 200 with the body `ok`; anything else is a failed attempt with
/// Slack's answer (or the transport error, which names no secret) as the error.
async fn post_slack(state: &AppState, url: String, m: &Message) -> Result<(), String> {
    let body = serde_json::to_vec(&slack_body(m)).map_err(|e| e.to_string())?;
    let request = OutgoingRequest::post(url, body)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    match state.config.outbound.client.send(request).await {
        Ok(r) if r.status.as_u16() == 200 && r.body.trim_ascii() == b"ok" => Ok(()),
        Ok(r) => {
            let text = String::from_utf8_lossy(&r.body);
            let text: String = text.chars().take(200).collect();
            Err(format!("Slack answered HTTP {}: {text}", r.status.as_u16()))
        }
        Err(e) => Err(e.to_string()),
    }
}

async fn record(
    state: &AppState,
    id: i64,
    event_ids: &[i64],
    status: &str,
    error: Option<&str>,
) -> anyhow::Result<()> {
    let mut tx = state.db.system().await?;
    sqlx::query(
        "UPDATE notification_outbox
            SET status = $2, attempts = attempts + 1, last_error = $3,
                sent_at = CASE WHEN $2 = 'sent' THEN now() END
          WHERE id = $1",
    )
    .bind(id)
    .bind(status)
    .bind(error)
    .execute(&mut *tx)
    .await?;
    mark_events(&mut tx, event_ids, status, error).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(i: usize) -> AlertLine {
        AlertLine {
            rule_name: format!("Rule <{i}> & co"),
            tenant_id: None,
            metric: "job_queue_depth".into(),
            value: 150.0,
            comparison: "gt".into(),
            threshold: 100.0,
            severity: "critical".into(),
            detail: None,
        }
    }

    fn message(n: usize) -> Message {
        Message {
            kind: "fired".into(),
            overall: "warning".into(),
            checked_at: Utc::now(),
            alerts: (0..n).map(line).collect(),
        }
    }

    #[test]
    fn a_message_has_a_header_a_section_per_alert_and_the_overall_health() {
        let body = slack_body(&message(2));
        let blocks = body["blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), 4);
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(blocks[0]["text"]["text"], "k12: 2 alerts firing");
        let section = blocks[1]["text"]["text"].as_str().unwrap();
        assert_eq!(
            section,
            "*CRITICAL* Rule &lt;0&gt; &amp; co\n`job_queue_depth = 150 (&gt; 100)`"
        );
        let context = blocks[3]["elements"][0]["text"].as_str().unwrap();
        assert!(
            context.starts_with("Overall health: warning · "),
            "{context}"
        );
        let text = body["text"].as_str().unwrap();
        assert!(text.contains("Rule &lt;1&gt; &amp; co"), "{text}");
        assert!(!text.contains('<') && !text.contains('>'), "{text}");
    }

    #[test]
    fn messages_keep_to_fifty_blocks() {
        for n in [47, 48, 49, 120] {
            let body = slack_body(&message(n));
            let blocks = body["blocks"].as_array().unwrap();
            assert!(blocks.len() <= MAX_BLOCKS, "{n}: {}", blocks.len());
            if n > 48 {
                let more = blocks[blocks.len() - 2]["text"]["text"].as_str().unwrap();
                assert_eq!(more, format!("…and {} more", n - 47));
            } else {
                assert_eq!(blocks.len(), n + 2);
            }
        }
    }

    #[test]
    fn settings_need_a_sender_with_a_relay_and_say_why_mail_cannot_go() {
        let vars = |pairs: &[(&str, &str)]| -> std::collections::HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let none = AlertSettings::from_vars(&vars(&[])).unwrap();
        assert_eq!(
            none.undeliverable("email", Some("a@example.org")),
            Some("no mail relay: K12_SMTP_URL is not set")
        );
        assert!(none.default_channels().is_empty());

        let e = AlertSettings::from_vars(&vars(&[(
            "K12_SMTP_URL",
            "smtp://u:hunter2@mail.example.org",
        )]))
        .unwrap_err();
        assert_eq!(e.var, "K12_MAIL_FROM");
        assert!(!e.to_string().contains("hunter2"));
        let e = AlertSettings::from_vars(&vars(&[("K12_ALERT_EMAIL_TO", "nope")])).unwrap_err();
        assert_eq!(e.var, "K12_ALERT_EMAIL_TO");

        let relay = vars(&[
            ("K12_SMTP_URL", "smtp://u:hunter2@mail.example.org"),
            ("K12_MAIL_FROM", "k12@example.org"),
        ]);
        let s = AlertSettings::from_vars(&relay).unwrap();
        assert_eq!(s.undeliverable("email", Some("a@example.org")), None);
        assert_eq!(
            s.undeliverable("email", None),
            Some("no target: K12_ALERT_EMAIL_TO is not set")
        );
        assert!(!format!("{s:?}").contains("hunter2"));
        let mut with_default = relay.clone();
        with_default.insert("K12_ALERT_EMAIL_TO".into(), "oncall@example.org".into());
        with_default.insert(
            "K12_SLACK_WEBHOOK_URL".into(),
            "https://hooks.example.org/services/x".into(),
        );
        let s = AlertSettings::from_vars(&with_default).unwrap();
        assert_eq!(s.default_channels(), ["slack", "email"]);
    }

    #[test]
    fn email_text_is_plain_and_names_each_alert() {
        let mut m = message(2);
        m.alerts[1].detail = Some("GET https://h.example/health answered 503".into());
        let text = email_text(&m);
        assert!(text.starts_with("k12: 2 alerts firing\n\n"), "{text}");
        assert!(text.contains("[CRITICAL] Rule <0> & co\n    job_queue_depth = 150 (> 100)\n"));
        assert!(text.contains("    GET https://h.example/health answered 503\n"));
        assert!(text.contains("Overall health: warning\n"), "{text}");
    }

    #[test]
    fn values_are_shown_plainly() {
        assert_eq!(format_value(100.0), "100");
        assert_eq!(format_value(0.126), "0.13");
        assert_eq!(escape("a<b>&c"), "a&lt;b&gt;&amp;c");
    }
}
