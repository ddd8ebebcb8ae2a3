//! Deploy windows: each tenant's school hours (tenant admins), and the platform-wide
//! verdict "is it safe to deploy now, who blocks it, when is the next window" with
//! time-limited, audited overrides (operators). The time logic is the `deploy-window`
//! crate; this module loads its inputs.

pub mod routes;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{self, AuditEvent, TenantActor};
use crate::auth::session::CurrentOperator;
use crate::config::{ProcessEnv, VarSource};
use crate::db::{Db, TenantId};
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ApiQuery, TenantScope};
use crate::http::AppState;
use crate::request::RequestMeta;

/// Minutes before school starts during which a deploy may not start.
pub const RUNWAY_VAR: &str = "K12_DEPLOY_RUNWAY_MINUTES";
const DEFAULT_RUNWAY_MINUTES: i64 = 15;
const MAX_RUNWAY_MINUTES: i64 = 720;
/// Longest override an operator can grant at once.
pub const MAX_OVERRIDE_MINUTES: i64 = 240;

/// The runway from `K12_DEPLOY_RUNWAY_MINUTES` (default 15, at most 720).
pub fn runway(vars: &impl VarSource) -> anyhow::Result<Duration> {
    let minutes = match vars.get(RUNWAY_VAR) {
        None => DEFAULT_RUNWAY_MINUTES,
        Some(v) => v
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|m| (0..=MAX_RUNWAY_MINUTES).contains(m))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "invalid configuration: {RUNWAY_VAR} must be whole minutes from 0 to {MAX_RUNWAY_MINUTES}"
                )
            })?,
    };
    Ok(Duration::minutes(minutes))
}

// ---------------------------------------------------------------- tenant admins

/// A tenant's school hours; every school of the tenant uses them in its own time zone.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SchoolHoursView {
    /// Local start, `HH:MM`.
    pub start: String,
    /// Local end, `HH:MM` (after `start`).
    pub end: String,
    /// School days: `mon` .. `sun`.
    pub days: Vec<String>,
    /// Dates without school.
    pub holidays: Vec<NaiveDate>,
    /// The time zones of the tenant's schools (set on each school).
    pub timezones: Vec<String>,
    /// True while the tenant has not set its own hours (Mon-Fri 08:00-15:00).
    pub default: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PutSchoolHours {
    /// Local start, `HH:MM`.
    pub start: String,
    /// Local end, `HH:MM`, after `start`.
    pub end: String,
    /// School days: `mon` .. `sun`, at least one.
    pub days: Vec<String>,
    /// Dates without school (at most 366).
    #[serde(default)]
    pub holidays: Vec<NaiveDate>,
}

type HoursRow = (NaiveTime, NaiveTime, Vec<String>, Vec<NaiveDate>);
type OverrideRow = (i64, String, DateTime<Utc>, DateTime<Utc>, Option<String>);

fn hhmm(t: NaiveTime) -> String {
    t.format("%H:%M").to_string()
}

fn parse_hhmm(field: &str, value: &str) -> ApiResult<NaiveTime> {
    NaiveTime::parse_from_str(value.trim(), "%H:%M")
        .map_err(|_| ApiError::invalid(field, "must be a time HH:MM (00:00 to 23:59)"))
}

async fn hours_view(tx: &mut crate::db::TenantTx) -> ApiResult<SchoolHoursView> {
    let row: Option<HoursRow> =
        sqlx::query_as("SELECT start_time, end_time, days, holidays FROM school_hours")
            .fetch_optional(&mut **tx)
            .await?;
    let timezones: Vec<(String,)> =
        sqlx::query_as("SELECT DISTINCT timezone FROM schools ORDER BY 1")
            .fetch_all(&mut **tx)
            .await?;
    let timezones = timezones.into_iter().map(|t| t.0).collect();
    Ok(match row {
        Some((start, end, days, holidays)) => SchoolHoursView {
            start: hhmm(start),
            end: hhmm(end),
            days,
            holidays,
            timezones,
            default: false,
        },
        None => {
            let d = deploy_window::Hours::default_in(chrono_tz::UTC);
            SchoolHoursView {
                start: hhmm(d.start),
                end: hhmm(d.end),
                days: d.day_names().into_iter().map(String::from).collect(),
                holidays: Vec::new(),
                timezones,
                default: true,
            }
        }
    })
}

/// `GET /api/v1/admin/school_hours`
pub async fn get_hours(TenantScope { me: _, db }: TenantScope) -> ApiResult<Json<SchoolHoursView>> {
    let mut tx = db.begin().await?;
    let view = hours_view(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(view))
}

/// `PUT /api/v1/admin/school_hours`: replaces the tenant's hours (audited, old and new).
pub async fn put_hours(
    TenantScope { me, db }: TenantScope,
    meta: RequestMeta,
    ApiJson(body): ApiJson<PutSchoolHours>,
) -> ApiResult<Json<SchoolHoursView>> {
    let start = parse_hhmm("start", &body.start)?;
    let end = parse_hhmm("end", &body.end)?;
    if end <= start {
        return Err(ApiError::invalid("end", "must be after start"));
    }
    if body.days.is_empty() {
        return Err(ApiError::invalid("days", "must name at least one weekday"));
    }
    let days = deploy_window::parse_days(&body.days).map_err(|m| ApiError::invalid("days", m))?;
    let day_names: Vec<String> = deploy_window::DAY_NAMES
        .iter()
        .zip(days)
        .filter(|(_, on)| *on)
        .map(|(n, _)| n.to_string())
        .collect();
    if body.holidays.len() > 366 {
        return Err(ApiError::invalid("holidays", "at most 366 dates"));
    }
    let mut holidays = body.holidays.clone();
    holidays.sort();
    holidays.dedup();
    let mut tx = db.begin().await?;
    let old = hours_view(&mut tx).await?;
    sqlx::query(
        "INSERT INTO school_hours (tenant_id, start_time, end_time, days, holidays)
         VALUES (current_tenant_id(), $1, $2, $3, $4)
         ON CONFLICT (tenant_id) DO UPDATE
            SET start_time = EXCLUDED.start_time, end_time = EXCLUDED.end_time,
                days = EXCLUDED.days, holidays = EXCLUDED.holidays, updated_at = now()",
    )
    .bind(start)
    .bind(end)
    .bind(&day_names)
    .bind(&holidays)
    .execute(&mut *tx)
    .await?;
    let new = hours_view(&mut tx).await?;
    audit::record_tenant(
        &mut tx,
        TenantActor::User(me.user_id),
        &meta,
        AuditEvent::new("school_hours.updated").with(json!({
            "old": {"start": old.start, "end": old.end, "days": old.days, "holidays": old.holidays, "default": old.default},
            "new": {"start": new.start, "end": new.end, "days": new.days, "holidays": new.holidays},
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(new))
}

// ---------------------------------------------------------------- the platform verdict

/// Every school of every tenant with its hours, and the overrides active at `at`.
pub async fn load(
    db: &Db,
    at: DateTime<Utc>,
) -> Result<(Vec<deploy_window::School>, Vec<deploy_window::Override>), sqlx::Error> {
    let mut sys = db.system().await?;
    let tenants: Vec<(i64, String)> = sqlx::query_as("SELECT id, slug FROM tenants ORDER BY id")
        .fetch_all(&mut *sys)
        .await?;
    let overrides: Vec<OverrideRow> = sqlx::query_as(
        "SELECT d.id, d.reason, d.starts_at, d.ends_at, o.email
           FROM deploy_overrides d LEFT JOIN operators o ON o.id = d.operator_id
          WHERE d.starts_at <= $1 AND d.ends_at > $1
          ORDER BY d.ends_at DESC",
    )
    .bind(at)
    .fetch_all(&mut *sys)
    .await?;
    sys.commit().await?;
    let mut schools = Vec::new();
    for (tenant_id, slug) in tenants {
        let mut tx = db.tenant(TenantId(tenant_id)).await?;
        let row: Option<HoursRow> =
            sqlx::query_as("SELECT start_time, end_time, days, holidays FROM school_hours")
                .fetch_optional(&mut *tx)
                .await?;
        let years: Vec<(NaiveDate, NaiveDate)> =
            sqlx::query_as("SELECT start_date, end_date FROM academic_years")
                .fetch_all(&mut *tx)
                .await?;
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT name, timezone FROM schools ORDER BY id")
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        for (name, timezone) in rows {
            // An unknown zone name cannot be skipped (that would make a school's hours
            // invisible): it is read as UTC, and the report shows which zone was used.
            let tz = deploy_window::parse_timezone(&timezone).unwrap_or(chrono_tz::UTC);
            let mut hours = deploy_window::Hours::default_in(tz);
            if let Some((start, end, days, holidays)) = &row {
                hours.start = *start;
                hours.end = *end;
                hours.days = deploy_window::parse_days(days).unwrap_or(hours.days);
                hours.holidays = holidays.clone();
            }
            hours.years = years.clone();
            schools.push(deploy_window::School {
                tenant: slug.clone(),
                school: name,
                hours,
            });
        }
    }
    let overrides = overrides
        .into_iter()
        .map(
            |(id, reason, starts_at, ends_at, email)| deploy_window::Override {
                id,
                reason,
                starts_at,
                ends_at,
                created_by: email.unwrap_or_default(),
            },
        )
        .collect();
    Ok((schools, overrides))
}

/// Loads and evaluates the window at `at`.
pub async fn verdict(
    db: &Db,
    at: DateTime<Utc>,
    runway: Duration,
) -> Result<deploy_window::Verdict, sqlx::Error> {
    let (schools, overrides) = load(db, at).await?;
    Ok(deploy_window::evaluate(&schools, at, runway, &overrides))
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct BlockingView {
    /// The tenant's slug.
    pub tenant: String,
    pub school: String,
    pub timezone: String,
    /// The school's wall-clock time at `at` (RFC 3339 with its offset).
    pub local_time: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct WindowView {
    pub start: DateTime<Utc>,
    /// When the next school's runway begins; null if none within 21 days.
    pub end: Option<DateTime<Utc>>,
    pub wait_minutes: i64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct OverrideView {
    pub id: i64,
    pub reason: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// The operator who granted it.
    pub created_by: String,
}

/// Whether a deploy may start at `at`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DeployWindowView {
    /// No school is in its hours or runway, or an override is active.
    pub safe: bool,
    pub at: DateTime<Utc>,
    /// The schools in their hours (or runway) at `at`.
    pub blocking: Vec<BlockingView>,
    /// Null only when every day of the next 21 is blocked.
    pub next_safe_window: Option<WindowView>,
    /// The override active at `at`, if any (it makes a blocked instant safe).
    #[serde(rename = "override")]
    pub active_override: Option<OverrideView>,
}

impl From<deploy_window::Override> for OverrideView {
    fn from(o: deploy_window::Override) -> Self {
        OverrideView {
            id: o.id,
            reason: o.reason,
            starts_at: o.starts_at,
            ends_at: o.ends_at,
            created_by: o.created_by,
        }
    }
}

impl From<deploy_window::Verdict> for DeployWindowView {
    fn from(v: deploy_window::Verdict) -> Self {
        DeployWindowView {
            safe: v.safe,
            at: v.at,
            blocking: v
                .blocking
                .into_iter()
                .map(|b| BlockingView {
                    tenant: b.tenant,
                    school: b.school,
                    timezone: b.timezone,
                    local_time: b.local_time,
                })
                .collect(),
            next_safe_window: v.next_safe_window.map(|w| WindowView {
                start: w.start,
                end: w.end,
                wait_minutes: w.wait_minutes,
            }),
            active_override: v.active_override.map(Into::into),
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct WindowQuery {
    /// The instant to judge (RFC 3339); default now.
    pub at: Option<DateTime<Utc>>,
}

/// `GET /api/v1/operator/deploy/window`
pub async fn window(
    State(state): State<AppState>,
    CurrentOperator(_): CurrentOperator,
    ApiQuery(q): ApiQuery<WindowQuery>,
) -> ApiResult<Json<DeployWindowView>> {
    let runway = runway(&ProcessEnv).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let at = q.at.unwrap_or_else(Utc::now);
    Ok(Json(verdict(&state.db, at, runway).await?.into()))
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOverride {
    /// Why the deploy cannot wait (3 to 500 characters).
    pub reason: String,
    /// How long the override lasts from now, 1 to 240 minutes.
    pub minutes: i64,
}

/// `POST /api/v1/operator/deploy/overrides`: allows deploys during school hours for a
/// while; audited in the platform audit log.
pub async fn create_override(
    State(state): State<AppState>,
    CurrentOperator(op): CurrentOperator,
    meta: RequestMeta,
    ApiJson(body): ApiJson<CreateOverride>,
) -> ApiResult<(StatusCode, Json<OverrideView>)> {
    let reason = body.reason.trim();
    let len = reason.chars().count();
    if !(3..=500).contains(&len) {
        return Err(ApiError::invalid("reason", "must be 3 to 500 characters"));
    }
    if reason.contains('\0') {
        return Err(ApiError::invalid("reason", "must not contain NUL"));
    }
    if !(1..=MAX_OVERRIDE_MINUTES).contains(&body.minutes) {
        return Err(ApiError::invalid(
            "minutes",
            format!("must be 1 to {MAX_OVERRIDE_MINUTES}"),
        ));
    }
    let mut tx = state.db.system().await?;
    let (id, starts_at, ends_at): (i64, DateTime<Utc>, DateTime<Utc>) = sqlx::query_as(
        "INSERT INTO deploy_overrides (reason, ends_at, operator_id)
         VALUES ($1, now() + make_interval(mins => $2::int), $3)
         RETURNING id, starts_at, ends_at",
    )
    .bind(reason)
    .bind(body.minutes)
    .bind(op.operator_id)
    .fetch_one(&mut *tx)
    .await?;
    audit::record_platform(
        &mut tx,
        Some(op.operator_id),
        &meta,
        AuditEvent::new("deploy.override_created")
            .on("deploy_override", id)
            .with(json!({"reason": reason, "starts_at": starts_at, "ends_at": ends_at})),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(OverrideView {
            id,
            reason: reason.to_string(),
            starts_at,
            ends_at,
            created_by: op.email.clone(),
        }),
    ))
}
