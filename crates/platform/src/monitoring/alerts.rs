//! Alert rules (`alert_configurations`) and their events (`alert_events`), spec 07.
//!
//! System-wide rules (tenant NULL) belong to operators (`/api/v1/operator/...`, system
//! transaction); a school's rules to its admins (`/api/v1/admin/...`, tenant
//! transaction, row-level security). Both share the SQL below: every statement names the
//! scope (`tenant_id IS NOT DISTINCT FROM $n`), so an operator never edits a school's
//! rule through the system context, and the database keeps a school to its own rows.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::PgConnection;

use super::health::METRIC_NAMES;
use crate::audit::{self, AuditEvent, TenantActor};
use crate::auth::session::CurrentOperator;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, TenantScope};
use crate::http::page::{Page, PageParams};
use crate::http::AppState;
use crate::identity::Email;
use crate::outbound::Outbound;
use crate::request::RequestMeta;

pub const COMPARISONS: [&str; 5] = ["gt", "lt", "gte", "lte", "eq"];
pub const SEVERITIES: [&str; 3] = ["info", "warning", "critical"];
pub const CHANNELS: [&str; 2] = ["slack", "email"];
/// A week: a longer cooldown is a disabled rule.
const MAX_COOLDOWN_MINUTES: i32 = 7 * 24 * 60;
const DEFAULT_COOLDOWN_MINUTES: i32 = 30;

/// An alert rule as the API shows it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AlertConfigView {
    pub id: i64,
    /// `null` for a system-wide rule.
    pub tenant_id: Option<i64>,
    pub name: String,
    /// One of the health report's metrics.
    pub metric: String,
    /// `gt`, `lt`, `gte`, `lte` or `eq`.
    pub comparison: String,
    pub threshold: f64,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    pub enabled: bool,
    /// `slack` or `email`.
    pub channel: String,
    /// The email address, or the Slack webhook's scheme and host only (its path is the
    /// credential and is never shown). `null`: the deployment's default
    /// (`K12_SLACK_WEBHOOK_URL`, system rules only).
    pub target: Option<String>,
    pub cooldown_minutes: i32,
    pub last_triggered_at: Option<DateTime<Utc>>,
    pub trigger_count: i32,
    /// Fired and not resolved yet.
    pub firing: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct RuleRow {
    pub id: i64,
    pub tenant_id: Option<i64>,
    pub name: String,
    pub metric: String,
    pub comparison: String,
    pub threshold: f64,
    pub severity: String,
    pub enabled: bool,
    pub channel: String,
    pub target: Option<String>,
    pub cooldown_minutes: i32,
    pub last_triggered_at: Option<DateTime<Utc>>,
    pub trigger_count: i32,
    pub firing: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub(crate) const RULE_SELECT: &str = "SELECT id, tenant_id, name, metric, comparison, threshold,
        severity, enabled, channel, target, cooldown_minutes, last_triggered_at, trigger_count,
        firing, created_at, updated_at FROM alert_configurations";

impl From<RuleRow> for AlertConfigView {
    fn from(r: RuleRow) -> Self {
        let target = r.target.map(|t| {
            if r.channel == "slack" {
                redact_url(&t)
            } else {
                t
            }
        });
        Self {
            id: r.id,
            tenant_id: r.tenant_id,
            name: r.name,
            metric: r.metric,
            comparison: r.comparison,
            threshold: r.threshold,
            severity: r.severity,
            enabled: r.enabled,
            channel: r.channel,
            target,
            cooldown_minutes: r.cooldown_minutes,
            last_triggered_at: r.last_triggered_at,
            trigger_count: r.trigger_count,
            firing: r.firing,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// `https://hooks.slack.com/services/T/B/secret` → `https://hooks.slack.com/…`.
pub(crate) fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!("{}://{}/…", u.scheme(), u.host_str().unwrap_or("")),
        Err(_) => "…".to_owned(),
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAlertConfig {
    /// 1 to 200 characters, unique within the scope (system or school).
    pub name: String,
    /// One of the health report's metrics (`db_connection_pool`, `job_queue_depth`, ...).
    pub metric: String,
    /// `gt`, `lt`, `gte`, `lte` or `eq`.
    pub comparison: String,
    pub threshold: f64,
    /// `info`, `warning` (default) or `critical`.
    pub severity: Option<String>,
    /// Default true.
    pub enabled: Option<bool>,
    /// `slack` (default) or `email`.
    pub channel: Option<String>,
    /// A Slack incoming-webhook URL (checked by the URL guard) or an email address.
    /// Required on a school's rule; a system rule without one uses the deployment's
    /// default (`K12_SLACK_WEBHOOK_URL`) or is logged only.
    pub target: Option<String>,
    /// Minutes before a rule that fired may fire again, 0 to 10080 (default 30).
    pub cooldown_minutes: Option<i32>,
}

/// Every field optional: only those given change.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAlertConfig {
    pub name: Option<String>,
    pub metric: Option<String>,
    pub comparison: Option<String>,
    pub threshold: Option<f64>,
    pub severity: Option<String>,
    pub enabled: Option<bool>,
    pub channel: Option<String>,
    pub target: Option<String>,
    pub cooldown_minutes: Option<i32>,
}

/// A rule's settings after validation.
#[derive(Debug)]
struct Draft {
    name: String,
    metric: String,
    comparison: String,
    threshold: f64,
    severity: String,
    enabled: bool,
    channel: String,
    target: Option<String>,
    cooldown_minutes: i32,
}

/// 422 naming the field and the allowed values (`error.details.allowed`).
fn one_of(field: &str, value: &str, allowed: &[&str]) -> ApiResult<()> {
    if allowed.contains(&value) {
        return Ok(());
    }
    Err(ApiError::Unprocessable {
        message: format!("{field}: must be one of {}", allowed.join(", ")),
        details: json!({
            "field": field,
            "reason": format!("{value:?} is not allowed"),
            "allowed": allowed,
        }),
    })
}

impl Draft {
    /// Checks every field; `tenant` is the rule's scope (a school's rule needs a target).
    /// `check_target`: false when an update leaves the stored target as it was (checked
    /// when it was set; not resolved again).
    async fn validate(
        &mut self,
        outbound: &Outbound,
        tenant: Option<i64>,
        check_target: bool,
    ) -> ApiResult<()> {
        self.name = self.name.trim().to_owned();
        if self.name.is_empty() || self.name.chars().count() > 200 {
            return Err(ApiError::invalid("name", "must be 1 to 200 characters"));
        }
        one_of("metric", &self.metric, &METRIC_NAMES)?;
        one_of("comparison", &self.comparison, &COMPARISONS)?;
        one_of("severity", &self.severity, &SEVERITIES)?;
        one_of("channel", &self.channel, &CHANNELS)?;
        if !self.threshold.is_finite() || self.threshold.abs() > 1e15 {
            return Err(ApiError::invalid(
                "threshold",
                "must be a number between -1e15 and 1e15",
            ));
        }
        if !(0..=MAX_COOLDOWN_MINUTES).contains(&self.cooldown_minutes) {
            return Err(ApiError::invalid(
                "cooldown_minutes",
                format!("must be between 0 and {MAX_COOLDOWN_MINUTES}"),
            ));
        }
        if !check_target {
            return Ok(());
        }
        match (&self.target, self.channel.as_str()) {
            (None, _) if tenant.is_some() => {
                return Err(ApiError::invalid(
                    "target",
                    "is required on a school's rule (a Slack webhook URL or an email address)",
                ))
            }
            (None, _) => {}
            (Some(t), "email") => {
                let email = Email::parse(t).map_err(|m| ApiError::invalid("target", m))?;
                self.target = Some(email.as_str().to_owned());
            }
            (Some(t), _) => crate::webhooks::guard_url(outbound, "target", t).await?,
        }
        Ok(())
    }
}

impl CreateAlertConfig {
    fn draft(self) -> Draft {
        Draft {
            name: self.name,
            metric: self.metric,
            comparison: self.comparison,
            threshold: self.threshold,
            severity: self.severity.unwrap_or_else(|| "warning".into()),
            enabled: self.enabled.unwrap_or(true),
            channel: self.channel.unwrap_or_else(|| "slack".into()),
            target: self.target,
            cooldown_minutes: self.cooldown_minutes.unwrap_or(DEFAULT_COOLDOWN_MINUTES),
        }
    }
}

impl UpdateAlertConfig {
    /// The rule's settings with this change applied. A changed channel without a new
    /// target drops the old target (a Slack URL is no email address).
    fn apply(self, r: &RuleRow) -> Draft {
        let channel_changed = self.channel.as_ref().is_some_and(|c| *c != r.channel);
        let target = match self.target {
            Some(t) => Some(t),
            None if channel_changed => None,
            None => r.target.clone(),
        };
        Draft {
            name: self.name.unwrap_or_else(|| r.name.clone()),
            metric: self.metric.unwrap_or_else(|| r.metric.clone()),
            comparison: self.comparison.unwrap_or_else(|| r.comparison.clone()),
            threshold: self.threshold.unwrap_or(r.threshold),
            severity: self.severity.unwrap_or_else(|| r.severity.clone()),
            enabled: self.enabled.unwrap_or(r.enabled),
            channel: self.channel.unwrap_or_else(|| r.channel.clone()),
            target,
            cooldown_minutes: self.cooldown_minutes.unwrap_or(r.cooldown_minutes),
        }
    }

    /// Whether the target needs checking again (it changed, or the channel did).
    fn touches_target(&self) -> bool {
        self.target.is_some() || self.channel.is_some()
    }
}

/// What the audit trail records of a rule (never the Slack URL: it is a credential).
fn audit_fields(d: &Draft) -> Value {
    json!({
        "name": d.name, "metric": d.metric, "comparison": d.comparison,
        "threshold": d.threshold, "severity": d.severity, "enabled": d.enabled,
        "channel": d.channel, "cooldown_minutes": d.cooldown_minutes,
    })
}

// ------------------------------------------------------------------ shared SQL

async fn fetch_rule(conn: &mut PgConnection, tenant: Option<i64>, id: i64) -> ApiResult<RuleRow> {
    sqlx::query_as(&format!(
        "{RULE_SELECT} WHERE id = $1 AND tenant_id IS NOT DISTINCT FROM $2"
    ))
    .bind(id)
    .bind(tenant)
    .fetch_optional(conn)
    .await?
    .ok_or(ApiError::NotFound)
}

async fn list_rules(
    conn: &mut PgConnection,
    tenant: Option<i64>,
    page: &PageParams,
) -> ApiResult<Page<AlertConfigView>> {
    let limit = page.limit()?;
    let after: i64 = page.after()?.unwrap_or(0);
    let rows: Vec<RuleRow> = sqlx::query_as(&format!(
        "{RULE_SELECT} WHERE tenant_id IS NOT DISTINCT FROM $1 AND id > $2 ORDER BY id LIMIT $3"
    ))
    .bind(tenant)
    .bind(after)
    .bind(limit + 1)
    .fetch_all(conn)
    .await?;
    let page = Page::from_rows(rows, limit, |r| r.id);
    Ok(Page {
        data: page.data.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    })
}

async fn insert_rule(conn: &mut PgConnection, tenant: Option<i64>, d: &Draft) -> ApiResult<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO alert_configurations (tenant_id, name, metric, comparison, threshold,
                severity, enabled, channel, target, cooldown_minutes)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(tenant)
    .bind(&d.name)
    .bind(&d.metric)
    .bind(&d.comparison)
    .bind(d.threshold)
    .bind(&d.severity)
    .bind(d.enabled)
    .bind(&d.channel)
    .bind(&d.target)
    .bind(d.cooldown_minutes)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

async fn update_rule(
    conn: &mut PgConnection,
    tenant: Option<i64>,
    id: i64,
    d: &Draft,
) -> ApiResult<()> {
    // A rule switched off stops firing: it will not send a "resolved" later.
    let updated = sqlx::query(
        "UPDATE alert_configurations
            SET name = $3, metric = $4, comparison = $5, threshold = $6, severity = $7,
                enabled = $8, channel = $9, target = $10, cooldown_minutes = $11,
                firing = firing AND $8
          WHERE id = $1 AND tenant_id IS NOT DISTINCT FROM $2",
    )
    .bind(id)
    .bind(tenant)
    .bind(&d.name)
    .bind(&d.metric)
    .bind(&d.comparison)
    .bind(d.threshold)
    .bind(&d.severity)
    .bind(d.enabled)
    .bind(&d.channel)
    .bind(&d.target)
    .bind(d.cooldown_minutes)
    .execute(conn)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(ApiError::NotFound);
    }
    Ok(())
}

async fn delete_rule(conn: &mut PgConnection, tenant: Option<i64>, id: i64) -> ApiResult<String> {
    let name: Option<String> = sqlx::query_scalar(
        "DELETE FROM alert_configurations WHERE id = $1 AND tenant_id IS NOT DISTINCT FROM $2
         RETURNING name",
    )
    .bind(id)
    .bind(tenant)
    .fetch_optional(conn)
    .await?;
    name.ok_or(ApiError::NotFound)
}

/// An alert event: a rule that fired or resolved, and whether it was notified.
#[derive(Debug, Serialize, JsonSchema, sqlx::FromRow)]
pub struct AlertEventView {
    pub id: i64,
    /// `null` for a system-wide rule's event.
    pub tenant_id: Option<i64>,
    /// `null` once the rule is deleted.
    pub alert_configuration_id: Option<i64>,
    pub rule_name: String,
    pub metric: String,
    pub comparison: String,
    /// `fired` or `resolved`.
    pub kind: String,
    /// The metric's value at evaluation.
    pub value: f64,
    pub threshold: f64,
    pub severity: String,
    /// When the rule fired (for a resolution: when the episode began).
    pub fired_at: DateTime<Utc>,
    /// Set on the resolution event, and on the firing event once resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// `pending` (waiting in the outbox), `sent`, `failed` or `logged` (no target).
    pub notification_status: String,
    pub notification_error: Option<String>,
    pub notified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

pub(crate) const EVENT_SELECT: &str = "SELECT id, tenant_id, alert_configuration_id, rule_name,
        metric, comparison, kind, value, threshold, severity, fired_at, resolved_at,
        notification_status, notification_error, notified_at, created_at FROM alert_events";

async fn list_events(
    conn: &mut PgConnection,
    tenant: Option<i64>,
    page: &PageParams,
) -> ApiResult<Page<AlertEventView>> {
    let limit = page.limit()?;
    let before: Option<i64> = page.after()?;
    let rows: Vec<AlertEventView> = sqlx::query_as(&format!(
        "{EVENT_SELECT} WHERE tenant_id IS NOT DISTINCT FROM $1
            AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
    ))
    .bind(tenant)
    .bind(before)
    .bind(limit + 1)
    .fetch_all(conn)
    .await?;
    Ok(Page::from_rows(rows, limit, |e| e.id))
}

// ------------------------------------------------------------------ operator routes

/// `GET /api/v1/operator/alert_configurations`: the system-wide rules.
pub async fn operator_list(
    State(state): State<AppState>,
    CurrentOperator(_): CurrentOperator,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<AlertConfigView>>> {
    let mut tx = state.db.system().await?;
    let page = list_rules(&mut tx, None, &page).await?;
    tx.commit().await?;
    Ok(Json(page))
}

/// `GET /api/v1/operator/alert_configurations/{id}`
pub async fn operator_show(
    State(state): State<AppState>,
    CurrentOperator(_): CurrentOperator,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<AlertConfigView>> {
    let mut tx = state.db.system().await?;
    let rule = fetch_rule(&mut tx, None, id).await?;
    tx.commit().await?;
    Ok(Json(rule.into()))
}

/// `POST /api/v1/operator/alert_configurations`
pub async fn operator_create(
    State(state): State<AppState>,
    CurrentOperator(op): CurrentOperator,
    meta: RequestMeta,
    ApiJson(body): ApiJson<CreateAlertConfig>,
) -> ApiResult<(StatusCode, Json<AlertConfigView>)> {
    let mut draft = body.draft();
    draft.validate(&state.config.outbound, None, true).await?;
    let mut tx = state.db.system().await?;
    let id = insert_rule(&mut tx, None, &draft).await?;
    audit::record_platform(
        &mut tx,
        Some(op.operator_id),
        &meta,
        AuditEvent::new("alert_configuration.created")
            .on("alert_configuration", id)
            .with(audit_fields(&draft)),
    )
    .await?;
    let rule = fetch_rule(&mut tx, None, id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(rule.into())))
}

/// `PUT /api/v1/operator/alert_configurations/{id}`
pub async fn operator_update(
    State(state): State<AppState>,
    CurrentOperator(op): CurrentOperator,
    meta: RequestMeta,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<UpdateAlertConfig>,
) -> ApiResult<Json<AlertConfigView>> {
    let mut tx = state.db.system().await?;
    let current = fetch_rule(&mut tx, None, id).await?;
    tx.commit().await?;
    let recheck = body.touches_target();
    let mut draft = body.apply(&current);
    draft
        .validate(&state.config.outbound, None, recheck)
        .await?;
    let mut tx = state.db.system().await?;
    update_rule(&mut tx, None, id, &draft).await?;
    audit::record_platform(
        &mut tx,
        Some(op.operator_id),
        &meta,
        AuditEvent::new("alert_configuration.updated")
            .on("alert_configuration", id)
            .with(audit_fields(&draft)),
    )
    .await?;
    let rule = fetch_rule(&mut tx, None, id).await?;
    tx.commit().await?;
    Ok(Json(rule.into()))
}

/// `DELETE /api/v1/operator/alert_configurations/{id}` (its events stay, unlinked).
pub async fn operator_delete(
    State(state): State<AppState>,
    CurrentOperator(op): CurrentOperator,
    meta: RequestMeta,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    let mut tx = state.db.system().await?;
    let name = delete_rule(&mut tx, None, id).await?;
    audit::record_platform(
        &mut tx,
        Some(op.operator_id),
        &meta,
        AuditEvent::new("alert_configuration.deleted")
            .on("alert_configuration", id)
            .with(json!({ "name": name })),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/operator/alert_events`: events of the system-wide rules, newest first.
pub async fn operator_events(
    State(state): State<AppState>,
    CurrentOperator(_): CurrentOperator,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<AlertEventView>>> {
    let mut tx = state.db.system().await?;
    let page = list_events(&mut tx, None, &page).await?;
    tx.commit().await?;
    Ok(Json(page))
}

// ------------------------------------------------------------------ tenant admin routes

/// `GET /api/v1/admin/alert_configurations`: the school's rules.
pub async fn admin_list(
    TenantScope { me, db }: TenantScope,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<AlertConfigView>>> {
    let mut tx = db.begin().await?;
    let page = list_rules(&mut tx, Some(me.tenant_id.0), &page).await?;
    tx.commit().await?;
    Ok(Json(page))
}

/// `GET /api/v1/admin/alert_configurations/{id}`
pub async fn admin_show(
    TenantScope { me, db }: TenantScope,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<AlertConfigView>> {
    let mut tx = db.begin().await?;
    let rule = fetch_rule(&mut tx, Some(me.tenant_id.0), id).await?;
    tx.commit().await?;
    Ok(Json(rule.into()))
}

/// `POST /api/v1/admin/alert_configurations`
pub async fn admin_create(
    State(state): State<AppState>,
    TenantScope { me, db }: TenantScope,
    meta: RequestMeta,
    ApiJson(body): ApiJson<CreateAlertConfig>,
) -> ApiResult<(StatusCode, Json<AlertConfigView>)> {
    let tenant = Some(me.tenant_id.0);
    let mut draft = body.draft();
    draft.validate(&state.config.outbound, tenant, true).await?;
    let mut tx = db.begin().await?;
    let id = insert_rule(&mut tx, tenant, &draft).await?;
    audit::record_tenant(
        &mut tx,
        TenantActor::User(me.user_id),
        &meta,
        AuditEvent::new("alert_configuration.created")
            .on("alert_configuration", id)
            .with(audit_fields(&draft)),
    )
    .await?;
    let rule = fetch_rule(&mut tx, tenant, id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(rule.into())))
}

/// `PUT /api/v1/admin/alert_configurations/{id}`
pub async fn admin_update(
    State(state): State<AppState>,
    TenantScope { me, db }: TenantScope,
    meta: RequestMeta,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<UpdateAlertConfig>,
) -> ApiResult<Json<AlertConfigView>> {
    let tenant = Some(me.tenant_id.0);
    let mut tx = db.begin().await?;
    let current = fetch_rule(&mut tx, tenant, id).await?;
    tx.commit().await?;
    let recheck = body.touches_target();
    let mut draft = body.apply(&current);
    draft
        .validate(&state.config.outbound, tenant, recheck)
        .await?;
    let mut tx = db.begin().await?;
    update_rule(&mut tx, tenant, id, &draft).await?;
    audit::record_tenant(
        &mut tx,
        TenantActor::User(me.user_id),
        &meta,
        AuditEvent::new("alert_configuration.updated")
            .on("alert_configuration", id)
            .with(audit_fields(&draft)),
    )
    .await?;
    let rule = fetch_rule(&mut tx, tenant, id).await?;
    tx.commit().await?;
    Ok(Json(rule.into()))
}

/// `DELETE /api/v1/admin/alert_configurations/{id}`
pub async fn admin_delete(
    TenantScope { me, db }: TenantScope,
    meta: RequestMeta,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    let mut tx = db.begin().await?;
    let name = delete_rule(&mut tx, Some(me.tenant_id.0), id).await?;
    audit::record_tenant(
        &mut tx,
        TenantActor::User(me.user_id),
        &meta,
        AuditEvent::new("alert_configuration.deleted")
            .on("alert_configuration", id)
            .with(json!({ "name": name })),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/admin/alert_events`: the school's rules' events, newest first.
pub async fn admin_events(
    TenantScope { me, db }: TenantScope,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<AlertEventView>>> {
    let mut tx = db.begin().await?;
    let page = list_events(&mut tx, Some(me.tenant_id.0), &page).await?;
    tx.commit().await?;
    Ok(Json(page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_urls_are_shown_without_their_credential_path() {
        assert_eq!(
            redact_url("https://hooks.slack.com/services/T0/B0/secret"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(redact_url("not a url"), "…");
    }

    #[test]
    fn unknown_values_answer_the_allowed_ones() {
        let Err(ApiError::Unprocessable { details, .. }) = one_of("comparison", "ne", &COMPARISONS)
        else {
            panic!("expected a 422");
        };
        assert_eq!(details["field"], "comparison");
        assert_eq!(details["allowed"], json!(["gt", "lt", "gte", "lte", "eq"]));
        assert!(one_of("comparison", "gte", &COMPARISONS).is_ok());
    }
}
