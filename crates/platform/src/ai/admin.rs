//! The tenant admin's side of AI: safety events and statistics, the safety level and
//! daily token budget, provider configurations and task policies.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ACTIONS, CATEGORIES, LEVELS, ROLES};
use crate::audit::{self, AuditEvent, TenantActor};
use crate::db::TenantTx;
use crate::error::{ApiError, ApiResult};
use crate::http::crud::{delete_by_id, list_by_id, show_by_id};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, TenantScope};
use crate::http::page::{double_option, row_by_id, Page, PageParams};
use crate::http::validate;
use crate::request::RequestMeta;

// ---------------------------------------------------------------- safety events

/// Filters of the safety event list; a bad value is a 422 naming the parameter.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct EventParams {
    #[serde(flatten)]
    pub page: PageParams,
    /// `injection`, `xss`, `pii`, `inappropriate` or `self_harm`.
    pub category: Option<String>,
    /// `allowed` (recorded only), `sanitized`, `redacted`, `blocked` or `escalated`.
    pub action: Option<String>,
    /// From this instant (RFC 3339) or day (`YYYY-MM-DD`, from its start, UTC).
    pub from: Option<String>,
    /// Before this instant, or up to the end of this day (UTC).
    pub to: Option<String>,
    /// `true`: only events flagged for designated staff (escalations).
    pub flagged: Option<String>,
}

/// One safety event: what the screen found in a prompt or an answer (never the text).
#[derive(Debug, Serialize, JsonSchema, sqlx::FromRow)]
pub struct SafetyEventView {
    pub id: i64,
    pub invocation_id: i64,
    /// Who asked; `null` once the user is deleted.
    pub user_id: Option<i64>,
    pub task_type: String,
    /// `input` (the prompt) or `output` (the answer).
    pub direction: String,
    pub category: String,
    pub subcategory: Option<String>,
    pub action: String,
    pub confidence: f32,
    /// Why, for people (never the prompt).
    pub detail: String,
    /// Escalated (self-harm): for the school's designated staff to follow up.
    pub flagged: bool,
    pub created_at: DateTime<Utc>,
}

fn one_of(field: &str, value: Option<&str>, allowed: &[&str]) -> ApiResult<()> {
    match value {
        Some(v) if !allowed.contains(&v) => Err(ApiError::invalid(
            field,
            format!("must be one of {}", allowed.join(", ")),
        )),
        _ => Ok(()),
    }
}

/// An instant or a day; `end_of_day` makes a day mean its end (for `to`).
fn instant(field: &str, value: Option<&str>, end_of_day: bool) -> ApiResult<Option<DateTime<Utc>>> {
    let Some(v) = value else { return Ok(None) };
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    let day = NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
        ApiError::invalid(field, "must be a date (YYYY-MM-DD) or an RFC 3339 instant")
    })?;
    let day = if end_of_day {
        day.succ_opt()
    } else {
        Some(day)
    };
    day.and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| Some(t.and_utc()))
        .ok_or_else(|| ApiError::invalid(field, "is out of range"))
}

/// `GET /api/v1/admin/safety/events`: newest first.
pub async fn events(
    TenantScope { me: _, db }: TenantScope,
    ApiQuery(q): ApiQuery<EventParams>,
) -> ApiResult<Json<Page<SafetyEventView>>> {
    let limit = q.page.limit()?;
    let before: Option<i64> = q.page.after()?;
    one_of("category", q.category.as_deref(), &CATEGORIES)?;
    one_of("action", q.action.as_deref(), &ACTIONS)?;
    let flagged = match q.flagged.as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(ApiError::invalid("flagged", "must be true or false")),
    };
    let from = instant("from", q.from.as_deref(), false)?;
    let to = instant("to", q.to.as_deref(), true)?;
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            return Err(ApiError::invalid("from", "must not be after to"));
        }
    }
    let mut tx = db.begin().await?;
    let rows: Vec<SafetyEventView> = sqlx::query_as(
        "SELECT id, invocation_id, user_id, task_type, direction, category, subcategory, action,
                confidence, detail, flagged, created_at
           FROM ai_safety_events
          WHERE ($1::bigint IS NULL OR id < $1)
            AND ($2::text IS NULL OR category = $2)
            AND ($3::text IS NULL OR action = $3)
            AND ($4::timestamptz IS NULL OR created_at >= $4)
            AND ($5::timestamptz IS NULL OR created_at < $5)
            AND ($6::boolean IS NULL OR flagged = $6)
          ORDER BY id DESC LIMIT $7",
    )
    .bind(before)
    .bind(&q.category)
    .bind(&q.action)
    .bind(from)
    .bind(to)
    .bind(flagged)
    .bind(limit + 1)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(Page::from_rows(rows, limit, |e| e.id)))
}

// ---------------------------------------------------------------- statistics

#[derive(Debug, Deserialize, JsonSchema)]
pub struct StatsParams {
    /// The window in days, 1 to 365 (default 30).
    pub days: Option<String>,
}

/// What the screen did over the window.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SafetyStats {
    pub days: i32,
    pub since: DateTime<Utc>,
    pub total_invocations: i64,
    /// Withheld by the screen (blocked or escalated), prompts and answers.
    pub blocked: i64,
    /// Of which escalated (self-harm).
    pub escalated: i64,
    /// Answers delivered with personal data replaced.
    pub redacted: i64,
    /// The gateway or the provider failed.
    pub failed: i64,
    /// `blocked` / `total_invocations` in percent, two decimals (0 with no calls).
    pub block_rate_percent: f64,
    /// Safety events per category.
    pub by_category: BTreeMap<String, i64>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
}

/// `GET /api/v1/admin/safety/stats?days=30`
pub async fn stats(
    TenantScope { me: _, db }: TenantScope,
    ApiQuery(q): ApiQuery<StatsParams>,
) -> ApiResult<Json<SafetyStats>> {
    let days = match q.days.as_deref() {
        None => 30,
        Some(v) => match v.parse::<i32>() {
            Ok(n) if (1..=365).contains(&n) => n,
            _ => {
                return Err(ApiError::invalid(
                    "days",
                    "must be a whole number from 1 to 365",
                ))
            }
        },
    };
    let since = Utc::now() - chrono::Duration::days(i64::from(days));
    let mut tx = db.begin().await?;
    let (total, blocked, escalated, failed, prompt_tokens, completion_tokens): (
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
    ) = sqlx::query_as(
        "SELECT count(*),
                count(*) FILTER (WHERE status IN ('blocked', 'escalated')),
                count(*) FILTER (WHERE status = 'escalated'),
                count(*) FILTER (WHERE status = 'failed'),
                coalesce(sum(prompt_tokens), 0)::bigint,
                coalesce(sum(completion_tokens), 0)::bigint
           FROM ai_invocations WHERE created_at >= $1",
    )
    .bind(since)
    .fetch_one(&mut *tx)
    .await?;
    let (redacted,): (i64,) = sqlx::query_as(
        "SELECT count(DISTINCT invocation_id) FROM ai_safety_events
          WHERE created_at >= $1 AND action = 'redacted'",
    )
    .bind(since)
    .fetch_one(&mut *tx)
    .await?;
    let by_category: Vec<(String, i64)> = sqlx::query_as(
        "SELECT category, count(*) FROM ai_safety_events WHERE created_at >= $1
          GROUP BY category ORDER BY category",
    )
    .bind(since)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let block_rate_percent = if total == 0 {
        0.0
    } else {
        (blocked as f64 * 10_000.0 / total as f64).round() / 100.0
    };
    Ok(Json(SafetyStats {
        days,
        since,
        total_invocations: total,
        blocked,
        escalated,
        redacted,
        failed,
        block_rate_percent,
        by_category: by_category.into_iter().collect(),
        prompt_tokens,
        completion_tokens,
    }))
}

// ---------------------------------------------------------------- safety config

#[derive(Debug, Serialize, JsonSchema)]
pub struct LevelInfo {
    pub level: &'static str,
    pub description: &'static str,
}

/// The school's safety level and daily token budget.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SafetyConfig {
    /// `strict`, `moderate` or `standard`.
    pub level: String,
    /// Every level with what it means.
    pub levels: Vec<LevelInfo>,
    /// Tokens (prompt + completion) the school may use per UTC day; 0 turns AI off.
    pub daily_token_budget: i32,
    pub tokens_used_today: i64,
}

/// Body of `PUT /api/v1/admin/safety/config`: the fields present change.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSafetyConfig {
    /// `strict`, `moderate` or `standard`; anything else is a 400.
    pub level: Option<String>,
    /// 0 to 1,000,000,000 tokens per day.
    pub daily_token_budget: Option<i64>,
}

async fn config_view(tx: &mut TenantTx) -> ApiResult<SafetyConfig> {
    let settings = super::settings(tx).await?;
    let used = super::tokens_used_today(tx).await?;
    Ok(SafetyConfig {
        level: settings.safety_level,
        levels: LEVELS
            .iter()
            .map(|(level, description)| LevelInfo { level, description })
            .collect(),
        daily_token_budget: settings.daily_token_budget,
        tokens_used_today: used,
    })
}

/// `GET /api/v1/admin/safety/config`
pub async fn show_config(TenantScope { me: _, db }: TenantScope) -> ApiResult<Json<SafetyConfig>> {
    let mut tx = db.begin().await?;
    let view = config_view(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(view))
}

/// `PUT /api/v1/admin/safety/config`
pub async fn update_config(
    TenantScope { me, db }: TenantScope,
    meta: RequestMeta,
    ApiJson(body): ApiJson<UpdateSafetyConfig>,
) -> ApiResult<Json<SafetyConfig>> {
    if let Some(level) = &body.level {
        if !LEVELS.iter().any(|(l, _)| l == level) {
            return Err(ApiError::BadRequest(
                "level must be strict, moderate or standard".into(),
            ));
        }
    }
    let budget = match body.daily_token_budget {
        None => None,
        Some(n) if (0..=1_000_000_000).contains(&n) => Some(n as i32),
        Some(_) => {
            return Err(ApiError::invalid(
                "daily_token_budget",
                "must be from 0 to 1000000000",
            ))
        }
    };
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO ai_settings (tenant_id, safety_level, daily_token_budget)
         VALUES (current_tenant_id(), coalesce($1, $3), coalesce($2, $4))
         ON CONFLICT (tenant_id) DO UPDATE
            SET safety_level = coalesce($1, ai_settings.safety_level),
                daily_token_budget = coalesce($2, ai_settings.daily_token_budget)",
    )
    .bind(&body.level)
    .bind(budget)
    .bind(super::DEFAULT_LEVEL)
    .bind(super::DEFAULT_DAILY_TOKEN_BUDGET)
    .execute(&mut *tx)
    .await?;
    audit::record_tenant(
        &mut tx,
        TenantActor::User(me.user_id),
        &meta,
        AuditEvent::new("ai.safety_config.updated")
            .with(json!({"level": body.level, "daily_token_budget": budget})),
    )
    .await?;
    let view = config_view(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(view))
}

// ---------------------------------------------------------------- provider configs

const PROVIDERS: [&str; 3] = ["openai", "anthropic", "demo"];
const STATUSES: [&str; 2] = ["active", "disabled"];

/// Which provider (configured with its key in the gateway) the school uses, and its
/// models. The first active configuration is the one calls go to.
#[derive(Debug, Serialize, JsonSchema, sqlx::FromRow)]
pub struct ProviderView {
    pub id: i64,
    /// `openai`, `anthropic` or `demo`.
    pub provider: String,
    pub display_name: String,
    pub default_model: String,
    pub available_models: Vec<String>,
    /// `active` or `disabled`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const PROVIDER_SELECT: &str = "SELECT id, provider, display_name, default_model, available_models,
                                      status, created_at, updated_at
                                 FROM ai_provider_configs";

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProvider {
    /// `openai`, `anthropic` or `demo` (keys stay in the gateway's environment).
    pub provider: String,
    /// Defaults to the provider's name.
    pub display_name: Option<String>,
    pub default_model: String,
    pub available_models: Option<Vec<String>>,
    /// `active` (default) or `disabled`.
    pub status: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProvider {
    pub display_name: Option<String>,
    pub default_model: Option<String>,
    pub available_models: Option<Vec<String>>,
    pub status: Option<String>,
}

fn check_models(models: Option<&Vec<String>>) -> ApiResult<()> {
    if let Some(models) = models {
        if models.len() > 100 {
            return Err(ApiError::invalid("available_models", "at most 100 models"));
        }
        for m in models {
            validate::text("available_models", m, 1, 200)?;
        }
    }
    Ok(())
}

async fn fetch_provider(tx: &mut TenantTx, id: i64) -> ApiResult<ProviderView> {
    row_by_id(tx, PROVIDER_SELECT, id).await
}

/// `GET /api/v1/admin/ai/providers`
pub async fn list_providers(
    TenantScope { me: _, db }: TenantScope,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<ProviderView>>> {
    list_by_id(&db, PROVIDER_SELECT, &page, |p: &ProviderView| p.id).await
}

/// `GET /api/v1/admin/ai/providers/{id}`
pub async fn show_provider(
    TenantScope { me: _, db }: TenantScope,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<ProviderView>> {
    show_by_id(&db, PROVIDER_SELECT, id).await
}

/// `POST /api/v1/admin/ai/providers`
pub async fn create_provider(
    TenantScope { me, db }: TenantScope,
    meta: RequestMeta,
    ApiJson(body): ApiJson<CreateProvider>,
) -> ApiResult<(StatusCode, Json<ProviderView>)> {
    one_of("provider", Some(body.provider.as_str()), &PROVIDERS)?;
    validate::optional_text("display_name", body.display_name.as_deref(), 1, 200)?;
    validate::text("default_model", &body.default_model, 1, 200)?;
    check_models(body.available_models.as_ref())?;
    one_of("status", body.status.as_deref(), &STATUSES)?;
    let mut tx = db.begin().await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO ai_provider_configs
                (tenant_id, provider, display_name, default_model, available_models, status)
         VALUES (current_tenant_id(), $1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(&body.provider)
    .bind(
        body.display_name
            .as_deref()
            .unwrap_or(&body.provider)
            .trim(),
    )
    .bind(body.default_model.trim())
    .bind(body.available_models.clone().unwrap_or_default())
    .bind(body.status.as_deref().unwrap_or("active"))
    .fetch_one(&mut *tx)
    .await?;
    audit::record_tenant(
        &mut tx,
        TenantActor::User(me.user_id),
        &meta,
        AuditEvent::new("ai.provider.created")
            .on("ai_provider_config", id)
            .with(json!({"provider": body.provider})),
    )
    .await?;
    let view = fetch_provider(&mut tx, id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// `PUT /api/v1/admin/ai/providers/{id}`
pub async fn update_provider(
    TenantScope { me, db }: TenantScope,
    meta: RequestMeta,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<UpdateProvider>,
) -> ApiResult<Json<ProviderView>> {
    validate::optional_text("display_name", body.display_name.as_deref(), 1, 200)?;
    validate::optional_text("default_model", body.default_model.as_deref(), 1, 200)?;
    check_models(body.available_models.as_ref())?;
    one_of("status", body.status.as_deref(), &STATUSES)?;
    let mut tx = db.begin().await?;
    let updated = sqlx::query(
        "UPDATE ai_provider_configs
            SET display_name = coalesce($2, display_name),
                default_model = coalesce($3, default_model),
                available_models = coalesce($4, available_models),
                status = coalesce($5, status)
          WHERE id = $1",
    )
    .bind(id)
    .bind(body.display_name.as_deref().map(str::trim))
    .bind(body.default_model.as_deref().map(str::trim))
    .bind(&body.available_models)
    .bind(&body.status)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(ApiError::NotFound);
    }
    audit::record_tenant(
        &mut tx,
        TenantActor::User(me.user_id),
        &meta,
        AuditEvent::new("ai.provider.updated")
            .on("ai_provider_config", id)
            .with(json!({"status": body.status, "default_model": body.default_model})),
    )
    .await?;
    let view = fetch_provider(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(view))
}

/// `DELETE /api/v1/admin/ai/providers/{id}`
pub async fn delete_provider(
    scope: TenantScope,
    meta: RequestMeta,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    delete_by_id(
        scope,
        &meta,
        "ai_provider_configs",
        id,
        "ai.provider.deleted",
        "ai_provider_config",
    )
    .await
}

// ---------------------------------------------------------------- task policies

/// Who may use an AI task and within which limits.
#[derive(Debug, Serialize, JsonSchema, sqlx::FromRow)]
pub struct PolicyView {
    pub id: i64,
    pub task_type: String,
    pub enabled: bool,
    /// Of `student`, `guardian`, `teacher`, `curriculum_lead`, `admin`.
    pub allowed_roles: Vec<String>,
    /// Answers are marked for a person's review before use.
    pub requires_review: bool,
    /// Requests above are lowered to it.
    pub max_tokens_limit: i32,
    /// Requests above are lowered to it.
    pub temperature_limit: f32,
    /// The model used instead of the provider's default.
    pub model_override: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const POLICY_SELECT: &str = "SELECT id, task_type, enabled, allowed_roles, requires_review,
                                    max_tokens_limit, temperature_limit, model_override,
                                    created_at, updated_at
                               FROM ai_task_policies";

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePolicy {
    /// Lower-case letters, digits and `_`, starting with a letter (at most 64).
    pub task_type: String,
    /// Default true.
    pub enabled: Option<bool>,
    /// Default: teacher, curriculum_lead, admin.
    pub allowed_roles: Option<Vec<String>>,
    pub requires_review: Option<bool>,
    /// 1 to 32768 (default 2048).
    pub max_tokens_limit: Option<i32>,
    /// 0 to 2 (default 1).
    pub temperature_limit: Option<f32>,
    pub model_override: Option<String>,
}

/// Body of `PUT`: the fields present change; `model_override: null` clears it.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePolicy {
    pub enabled: Option<bool>,
    pub allowed_roles: Option<Vec<String>>,
    pub requires_review: Option<bool>,
    pub max_tokens_limit: Option<i32>,
    pub temperature_limit: Option<f32>,
    #[serde(default, deserialize_with = "double_option")]
    pub model_override: Option<Option<String>>,
}

fn check_policy(
    roles: Option<&Vec<String>>,
    max_tokens: Option<i32>,
    temperature: Option<f32>,
    model: Option<&str>,
) -> ApiResult<()> {
    if let Some(roles) = roles {
        if roles.len() > ROLES.len() {
            return Err(ApiError::invalid("allowed_roles", "lists a role twice"));
        }
        for r in roles {
            one_of("allowed_roles", Some(r.as_str()), &ROLES)?;
        }
    }
    if max_tokens.is_some_and(|n| !(1..=32_768).contains(&n)) {
        return Err(ApiError::invalid(
            "max_tokens_limit",
            "must be from 1 to 32768",
        ));
    }
    if temperature.is_some_and(|t| !t.is_finite() || !(0.0..=2.0).contains(&t)) {
        return Err(ApiError::invalid(
            "temperature_limit",
            "must be from 0 to 2",
        ));
    }
    validate::optional_text("model_override", model, 1, 200)
}

fn valid_task_type(t: &str) -> bool {
    let mut chars = t.chars();
    t.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

async fn fetch_policy(tx: &mut TenantTx, id: i64) -> ApiResult<PolicyView> {
    row_by_id(tx, POLICY_SELECT, id).await
}

/// `GET /api/v1/admin/ai/task_policies`
pub async fn list_policies(
    TenantScope { me: _, db }: TenantScope,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<PolicyView>>> {
    list_by_id(&db, POLICY_SELECT, &page, |p: &PolicyView| p.id).await
}

/// `GET /api/v1/admin/ai/task_policies/{id}`
pub async fn show_policy(
    TenantScope { me: _, db }: TenantScope,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<PolicyView>> {
    show_by_id(&db, POLICY_SELECT, id).await
}

/// `POST /api/v1/admin/ai/task_policies`
pub async fn create_policy(
    TenantScope { me, db }: TenantScope,
    meta: RequestMeta,
    ApiJson(body): ApiJson<CreatePolicy>,
) -> ApiResult<(StatusCode, Json<PolicyView>)> {
    if !valid_task_type(&body.task_type) {
        return Err(ApiError::invalid(
            "task_type",
            "lower-case letters, digits and _, starting with a letter, at most 64",
        ));
    }
    check_policy(
        body.allowed_roles.as_ref(),
        body.max_tokens_limit,
        body.temperature_limit,
        body.model_override.as_deref(),
    )?;
    let mut tx = db.begin().await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO ai_task_policies
                (tenant_id, task_type, enabled, allowed_roles, requires_review, max_tokens_limit,
                 temperature_limit, model_override)
         VALUES (current_tenant_id(), $1, coalesce($2, true),
                 coalesce($3, '{teacher,curriculum_lead,admin}'::text[]), coalesce($4, false),
                 coalesce($5, 2048), coalesce($6, 1.0), $7)
         RETURNING id",
    )
    .bind(&body.task_type)
    .bind(body.enabled)
    .bind(&body.allowed_roles)
    .bind(body.requires_review)
    .bind(body.max_tokens_limit)
    .bind(body.temperature_limit)
    .bind(body.model_override.as_deref().map(str::trim))
    .fetch_one(&mut *tx)
    .await?;
    audit::record_tenant(
        &mut tx,
        TenantActor::User(me.user_id),
        &meta,
        AuditEvent::new("ai.task_policy.created")
            .on("ai_task_policy", id)
            .with(json!({"task_type": body.task_type})),
    )
    .await?;
    let view = fetch_policy(&mut tx, id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// `PUT /api/v1/admin/ai/task_policies/{id}`
pub async fn update_policy(
    TenantScope { me, db }: TenantScope,
    meta: RequestMeta,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<UpdatePolicy>,
) -> ApiResult<Json<PolicyView>> {
    check_policy(
        body.allowed_roles.as_ref(),
        body.max_tokens_limit,
        body.temperature_limit,
        body.model_override.as_ref().and_then(|m| m.as_deref()),
    )?;
    let mut tx = db.begin().await?;
    let updated = sqlx::query(
        "UPDATE ai_task_policies
            SET enabled = coalesce($2, enabled),
                allowed_roles = coalesce($3, allowed_roles),
                requires_review = coalesce($4, requires_review),
                max_tokens_limit = coalesce($5, max_tokens_limit),
                temperature_limit = coalesce($6, temperature_limit),
                model_override = CASE WHEN $7 THEN $8 ELSE model_override END
          WHERE id = $1",
    )
    .bind(id)
    .bind(body.enabled)
    .bind(&body.allowed_roles)
    .bind(body.requires_review)
    .bind(body.max_tokens_limit)
    .bind(body.temperature_limit)
    .bind(body.model_override.is_some())
    .bind(
        body.model_override
            .clone()
            .flatten()
            .map(|m| m.trim().to_owned()),
    )
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(ApiError::NotFound);
    }
    audit::record_tenant(
        &mut tx,
        TenantActor::User(me.user_id),
        &meta,
        AuditEvent::new("ai.task_policy.updated")
            .on("ai_task_policy", id)
            .with(json!({"enabled": body.enabled, "allowed_roles": body.allowed_roles})),
    )
    .await?;
    let view = fetch_policy(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(view))
}

/// `DELETE /api/v1/admin/ai/task_policies/{id}`
pub async fn delete_policy(
    scope: TenantScope,
    meta: RequestMeta,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    delete_by_id(
        scope,
        &meta,
        "ai_task_policies",
        id,
        "ai.task_policy.deleted",
        "ai_task_policy",
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_types_and_instants() {
        for ok in ["lesson_plan", "a", "quiz2"] {
            assert!(valid_task_type(ok), "{ok}");
        }
        for bad in ["", "Lesson", "2quiz", "lesson-plan", &"a".repeat(65)] {
            assert!(!valid_task_type(bad), "{bad}");
        }
        let from = instant("from", Some("2026-03-01"), false).unwrap().unwrap();
        let to = instant("to", Some("2026-03-01"), true).unwrap().unwrap();
        assert_eq!((to - from).num_hours(), 24);
        assert!(instant("from", Some("yesterday"), false).is_err());
        assert!(instant("from", Some("2026-03-01T10:00:00Z"), false).is_ok());
    }
}
