//! Feature flags (spec 10): global rows (operators), tenant overrides (tenant admins),
//! percentage rollouts, scheduled changes and the OpenFeature remote-evaluation protocol.
//! The evaluation rules are the `featureflags` crate; this module stores, caches,
//! audits and serves them.
//!
//! * Lookup: tenant override > global row (with its rollout) > hard-coded default > false.
//! * [`cache`]: the per-process snapshot, invalidated across processes by LISTEN/NOTIFY.
//! * [`schedule`]: changes applied later by the `apply_flag_schedules` job.
//! * [`ofrep`]: `POST /ofrep/v1/evaluate/flags[/{key}]`.
//! * Every change is audited with the old and the new value: tenant changes in the
//!   tenant's audit log, global ones in the platform audit log.

pub mod cache;
pub mod ofrep;
pub mod routes;
pub mod schedule;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;
use featureflags::{ApplyAt, Evaluation, Snapshot};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub use cache::{listen_url, FlagCache};

use crate::audit::{self, AuditEvent, TenantActor};
use crate::auth::session::CurrentOperator;
use crate::db::{SystemTx, TenantTx};
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ApiPath, TenantScope};
use crate::http::AppState;
use crate::request::RequestMeta;

/// A flag row as read: tenant (NULL: global), key, enabled, description, percentage.
type Row = (Option<i64>, String, bool, String, Option<i32>);

/// A pending scheduled change as read.
type ScheduleRow = (
    i64,
    Option<i64>,
    String,
    String,
    Option<bool>,
    Option<i16>,
    DateTime<Utc>,
    NaiveDateTime,
    String,
);

const ROWS_SQL: &str =
    "SELECT tenant_id, key, enabled, description, (metadata ->> 'percentage')::int
                          FROM feature_flags";
const SCHEDULES_SQL: &str =
    "SELECT id, tenant_id, key, action, enabled, percentage, apply_at, local_time, timezone
       FROM feature_flag_schedules WHERE applied_at IS NULL";

/// The global row of a flag.
#[derive(Clone, Debug, Serialize, JsonSchema, PartialEq)]
pub struct GlobalView {
    pub enabled: bool,
    /// Rollout: on for this percentage of tenants (stable per tenant); null: everyone.
    pub percentage: Option<u8>,
}

/// A change waiting for its time.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ScheduledView {
    pub id: i64,
    /// `set` (to `enabled`) or `clear` (back to the global row / default).
    pub action: String,
    pub enabled: Option<bool>,
    pub percentage: Option<i16>,
    /// When it applies.
    pub apply_at: DateTime<Utc>,
    /// The wall-clock time asked for, in `timezone`.
    pub local_time: NaiveDateTime,
    pub timezone: String,
}

/// One flag: its effective value and where it came from.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct FlagView {
    pub key: String,
    pub description: String,
    /// The effective value (for operators: the global value, before tenant overrides).
    pub enabled: bool,
    /// Where `enabled` came from: `tenant` (override), `global`, `rollout` (the global
    /// row's percentage), `default` (hard-coded), `unknown`.
    pub source: String,
    /// The hard-coded default; null for a flag the code does not know.
    pub default: Option<bool>,
    /// The tenant's override (tenant view only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_override: Option<bool>,
    /// The global row, if any.
    pub global: Option<GlobalView>,
    /// Pending scheduled changes of this flag.
    pub scheduled: Vec<ScheduledView>,
    /// How many tenants override it (operator view only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overrides: Option<i64>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct FlagList {
    /// Every known flag, by key.
    pub data: Vec<FlagView>,
}

struct Loaded {
    rows: Vec<Row>,
    schedules: Vec<ScheduleRow>,
}

impl Loaded {
    async fn read(conn: &mut sqlx::PgConnection) -> Result<Self, sqlx::Error> {
        let rows = sqlx::query_as(ROWS_SQL).fetch_all(&mut *conn).await?;
        let schedules = sqlx::query_as(&format!("{SCHEDULES_SQL} ORDER BY apply_at, id"))
            .fetch_all(&mut *conn)
            .await?;
        Ok(Self { rows, schedules })
    }

    fn snapshot(&self) -> Snapshot {
        cache::snapshot_of(
            self.rows
                .iter()
                .map(|(t, k, e, _, p)| (*t, k.clone(), *e, *p)),
        )
    }

    fn description(&self, key: &str) -> String {
        self.rows
            .iter()
            .find(|r| r.0.is_none() && r.1 == key && !r.3.is_empty())
            .map(|r| r.3.clone())
            .or_else(|| featureflags::known(key).map(|k| k.description.to_string()))
            .unwrap_or_default()
    }

    fn scheduled(&self, tenant: Option<i64>, key: &str) -> Vec<ScheduledView> {
        self.schedules
            .iter()
            .filter(|s| s.1 == tenant && s.2 == key)
            .map(|s| ScheduledView {
                id: s.0,
                action: s.3.clone(),
                enabled: s.4,
                percentage: s.5,
                apply_at: s.6,
                local_time: s.7,
                timezone: s.8.clone(),
            })
            .collect()
    }

    /// The tenant's view of one flag.
    fn tenant_view(&self, snapshot: &Snapshot, tenant: i64, key: &str) -> FlagView {
        let e = snapshot.evaluate(tenant, key);
        FlagView {
            key: key.to_string(),
            description: self.description(key),
            enabled: e.enabled,
            source: e.source.to_string(),
            default: featureflags::known(key).map(|k| k.default),
            tenant_override: snapshot.tenant_override(tenant, key),
            global: snapshot.global(key).map(global_view),
            scheduled: self.scheduled(Some(tenant), key),
            overrides: None,
        }
    }

    /// The operator's view of one flag: the value before tenant overrides.
    fn global_view(&self, snapshot: &Snapshot, key: &str) -> FlagView {
        let global = snapshot.global(key);
        let default = featureflags::known(key).map(|k| k.default);
        let (enabled, source) = match (global, default) {
            (Some(g), _) if g.percentage.is_some() && g.enabled => (true, "rollout"),
            (Some(g), _) => (g.enabled, "global"),
            (None, Some(d)) => (d, "default"),
            (None, None) => (false, "unknown"),
        };
        FlagView {
            key: key.to_string(),
            description: self.description(key),
            enabled,
            source: source.to_string(),
            default,
            tenant_override: None,
            global: global.map(global_view),
            scheduled: self.scheduled(None, key),
            overrides: Some(
                self.rows
                    .iter()
                    .filter(|r| r.0.is_some() && r.1 == key)
                    .count() as i64,
            ),
        }
    }
}

fn global_view(g: featureflags::GlobalRule) -> GlobalView {
    GlobalView {
        enabled: g.enabled,
        percentage: g.percentage,
    }
}

fn evaluation_json(e: Evaluation) -> Value {
    json!({"enabled": e.enabled, "source": e.source.as_str()})
}

/// The key from the path if it names a flag (known, or with a global row); else 404.
fn existing_key(snapshot: &Snapshot, key: &str) -> ApiResult<()> {
    if featureflags::valid_key(key) && snapshot.exists(key) {
        Ok(())
    } else {
        Err(ApiError::NotFound)
    }
}

/// When a scheduled change applies: `apply_at` with an offset is an instant; without
/// one it is a wall-clock time in `timezone`, or else in the tenant's schools' zone.
fn resolve_apply_at(
    apply_at: &str,
    timezone: Option<&str>,
    school_zones: &[String],
) -> ApiResult<(DateTime<Utc>, NaiveDateTime, String)> {
    let parsed = ApplyAt::parse(apply_at).map_err(|m| ApiError::invalid("apply_at", m))?;
    let zone_name = match timezone {
        Some(z) => z.trim().to_string(),
        None => match (parsed, school_zones) {
            (ApplyAt::Instant(_), _) | (_, []) => "UTC".to_string(),
            (_, [one]) => one.clone(),
            _ => {
                return Err(ApiError::invalid(
                    "timezone",
                    "is required: the schools are in several time zones",
                ))
            }
        },
    };
    let tz: Tz = featureflags::parse_timezone(&zone_name)
        .ok_or_else(|| ApiError::invalid("timezone", "must be an IANA time zone name"))?;
    let (at, local) = parsed
        .resolve(tz)
        .map_err(|m| ApiError::invalid("apply_at", m))?;
    if at <= Utc::now() {
        return Err(ApiError::invalid("apply_at", "must be in the future"));
    }
    Ok((at, local, tz.name().to_string()))
}

// ---------------------------------------------------------------- tenant admins

/// `PUT /api/v1/admin/feature_flags/{key}`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PutTenantFlag {
    /// The tenant's value for the flag (overrides the global row and the default).
    pub enabled: bool,
    /// Apply later instead of now: RFC 3339 with an offset, or a wall-clock time
    /// (`2026-09-01T07:00`) in `timezone` (default: the zone of the tenant's schools).
    pub apply_at: Option<String>,
    /// IANA zone for a wall-clock `apply_at`.
    pub timezone: Option<String>,
}

async fn tenant_flag_view(tx: &mut TenantTx, key: &str) -> ApiResult<(FlagView, Snapshot)> {
    let loaded = Loaded::read(tx).await?;
    let snapshot = loaded.snapshot();
    existing_key(&snapshot, key)?;
    let view = loaded.tenant_view(&snapshot, tx.tenant_id().0, key);
    Ok((view, snapshot))
}

/// `GET /api/v1/admin/feature_flags`: every flag with its effective value and source.
pub async fn tenant_list(TenantScope { me, db }: TenantScope) -> ApiResult<Json<FlagList>> {
    let mut tx = db.begin().await?;
    let loaded = Loaded::read(&mut tx).await?;
    tx.commit().await?;
    let snapshot = loaded.snapshot();
    let data = snapshot
        .keys()
        .into_iter()
        .map(|k| loaded.tenant_view(&snapshot, me.tenant_id.0, k))
        .collect();
    Ok(Json(FlagList { data }))
}

/// `PUT /api/v1/admin/feature_flags/{key}`: sets the tenant's override now or later.
pub async fn tenant_put(
    State(state): State<AppState>,
    TenantScope { me, db }: TenantScope,
    meta: RequestMeta,
    ApiPath(key): ApiPath<String>,
    ApiJson(body): ApiJson<PutTenantFlag>,
) -> ApiResult<Json<FlagView>> {
    let mut tx = db.begin().await?;
    let (old, snapshot) = tenant_flag_view(&mut tx, &key).await?;
    let tenant = me.tenant_id.0;
    let before = snapshot.evaluate(tenant, &key);
    if let Some(apply_at) = &body.apply_at {
        let zones: Vec<(String,)> =
            sqlx::query_as("SELECT DISTINCT timezone FROM schools ORDER BY 1")
                .fetch_all(&mut *tx)
                .await?;
        let zones: Vec<String> = zones.into_iter().map(|z| z.0).collect();
        let (at, local, zone) = resolve_apply_at(apply_at, body.timezone.as_deref(), &zones)?;
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO feature_flag_schedules
                    (tenant_id, key, action, enabled, apply_at, local_time, timezone, actor_user_id)
             VALUES (current_tenant_id(), $1, 'set', $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(&key)
        .bind(body.enabled)
        .bind(at)
        .bind(local)
        .bind(&zone)
        .bind(me.user_id)
        .fetch_one(&mut *tx)
        .await?;
        audit::record_tenant(
            &mut tx,
            TenantActor::User(me.user_id),
            &meta,
            AuditEvent::new("feature_flag.scheduled")
                .on("feature_flag_schedule", id)
                .with(json!({
                    "key": key, "apply_at": at, "local_time": local, "timezone": zone,
                    "old": {"override": old.tenant_override, "effective": evaluation_json(before)},
                    "new": {"override": body.enabled},
                })),
        )
        .await?;
    } else {
        sqlx::query(
            "INSERT INTO feature_flags (tenant_id, key, enabled)
             VALUES (current_tenant_id(), $1, $2)
             ON CONFLICT (tenant_id, key) WHERE tenant_id IS NOT NULL
             DO UPDATE SET enabled = EXCLUDED.enabled",
        )
        .bind(&key)
        .bind(body.enabled)
        .execute(&mut *tx)
        .await?;
        let after = featureflags::evaluate(&key, tenant, Some(body.enabled), snapshot.global(&key));
        audit::record_tenant(
            &mut tx,
            TenantActor::User(me.user_id),
            &meta,
            AuditEvent::new("feature_flag.updated").with(json!({
                "key": key,
                "old": {"override": old.tenant_override, "effective": evaluation_json(before)},
                "new": {"override": body.enabled, "effective": evaluation_json(after)},
            })),
        )
        .await?;
    }
    let (view, _) = tenant_flag_view(&mut tx, &key).await?;
    tx.commit().await?;
    refresh(&state).await;
    Ok(Json(view))
}

/// `DELETE /api/v1/admin/feature_flags/{key}`: drops the override (back to global).
pub async fn tenant_delete(
    State(state): State<AppState>,
    TenantScope { me, db }: TenantScope,
    meta: RequestMeta,
    ApiPath(key): ApiPath<String>,
) -> ApiResult<Json<FlagView>> {
    let mut tx = db.begin().await?;
    let (old, snapshot) = tenant_flag_view(&mut tx, &key).await?;
    let tenant = me.tenant_id.0;
    let deleted =
        sqlx::query("DELETE FROM feature_flags WHERE tenant_id = current_tenant_id() AND key = $1")
            .bind(&key)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    if deleted > 0 {
        let before = snapshot.evaluate(tenant, &key);
        let after = featureflags::evaluate(&key, tenant, None, snapshot.global(&key));
        audit::record_tenant(
            &mut tx,
            TenantActor::User(me.user_id),
            &meta,
            AuditEvent::new("feature_flag.override_removed").with(json!({
                "key": key,
                "old": {"override": old.tenant_override, "effective": evaluation_json(before)},
                "new": {"override": null, "effective": evaluation_json(after)},
            })),
        )
        .await?;
    }
    let (view, _) = tenant_flag_view(&mut tx, &key).await?;
    tx.commit().await?;
    refresh(&state).await;
    Ok(Json(view))
}

/// A cancelled schedule as deleted: action, enabled, percentage, apply_at, local_time,
/// timezone.
type CancelledRow = (
    String,
    Option<bool>,
    Option<i16>,
    DateTime<Utc>,
    NaiveDateTime,
    String,
);

const CANCEL_RETURNING: &str =
    "RETURNING action, enabled, percentage, apply_at, local_time, timezone";

fn cancelled_json(key: &str, row: &CancelledRow) -> Value {
    let (action, enabled, percentage, at, local, zone) = row;
    json!({
        "key": key, "action": action, "apply_at": at, "local_time": local, "timezone": zone,
        "old": {"enabled": enabled, "percentage": percentage}, "new": null,
    })
}

/// `DELETE /api/v1/admin/feature_flags/{key}/schedules/{id}`: cancels a pending change
/// of the school's. 404 when the school has no pending change of that id for that key
/// (also once it applied: the job's claim holds the row, so the two never both happen).
pub async fn tenant_cancel_schedule(
    TenantScope { me, db }: TenantScope,
    meta: RequestMeta,
    ApiPath((key, id)): ApiPath<(String, i64)>,
) -> ApiResult<StatusCode> {
    // Before any SQL: a key from the path may hold what text cannot (NUL).
    if !featureflags::valid_key(&key) {
        return Err(ApiError::NotFound);
    }
    let mut tx = db.begin().await?;
    let row: Option<CancelledRow> = sqlx::query_as(&format!(
        "DELETE FROM feature_flag_schedules
          WHERE id = $1 AND key = $2 AND tenant_id = current_tenant_id() AND applied_at IS NULL
          {CANCEL_RETURNING}"
    ))
    .bind(id)
    .bind(&key)
    .fetch_optional(&mut *tx)
    .await?;
    let row = row.ok_or(ApiError::NotFound)?;
    audit::record_tenant(
        &mut tx,
        TenantActor::User(me.user_id),
        &meta,
        AuditEvent::new("feature_flag.schedule_cancelled")
            .on("feature_flag_schedule", id)
            .with(cancelled_json(&key, &row)),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- operators

/// `PUT /api/v1/operator/feature_flags/{key}`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PutGlobalFlag {
    /// The global value (every tenant without an override).
    pub enabled: bool,
    /// Roll out to this percentage of tenants (0-100, stable per tenant); omit or null
    /// for every tenant.
    pub percentage: Option<u8>,
    /// Shown to administrators (at most 500 characters); omit to keep.
    pub description: Option<String>,
    /// Apply later: RFC 3339 with an offset, or a wall-clock time with `timezone`.
    pub apply_at: Option<String>,
    /// IANA zone for a wall-clock `apply_at` (required then).
    pub timezone: Option<String>,
}

async fn global_flag_view(sys: &mut SystemTx, key: &str) -> ApiResult<(FlagView, Snapshot)> {
    let loaded = Loaded::read(sys).await?;
    let snapshot = loaded.snapshot();
    existing_key(&snapshot, key)?;
    Ok((loaded.global_view(&snapshot, key), snapshot))
}

fn global_json(g: Option<featureflags::GlobalRule>, default: Option<bool>) -> Value {
    match g {
        Some(g) => json!({"enabled": g.enabled, "percentage": g.percentage}),
        None => json!({"global": null, "default": default}),
    }
}

/// `GET /api/v1/operator/feature_flags`: every flag's global value and rollout.
pub async fn operator_list(
    State(state): State<AppState>,
    CurrentOperator(_): CurrentOperator,
) -> ApiResult<Json<FlagList>> {
    let mut sys = state.db.system().await?;
    let loaded = Loaded::read(&mut sys).await?;
    sys.commit().await?;
    let snapshot = loaded.snapshot();
    let data = snapshot
        .keys()
        .into_iter()
        .map(|k| loaded.global_view(&snapshot, k))
        .collect();
    Ok(Json(FlagList { data }))
}

/// `PUT /api/v1/operator/feature_flags/{key}`: sets the global row (and rollout) now or
/// later.
pub async fn operator_put(
    State(state): State<AppState>,
    CurrentOperator(op): CurrentOperator,
    meta: RequestMeta,
    ApiPath(key): ApiPath<String>,
    ApiJson(body): ApiJson<PutGlobalFlag>,
) -> ApiResult<Json<FlagView>> {
    if body.percentage.is_some_and(|p| p > 100) {
        return Err(ApiError::invalid("percentage", "must be 0 to 100"));
    }
    if let Some(d) = &body.description {
        if d.chars().count() > 500 {
            return Err(ApiError::invalid("description", "at most 500 characters"));
        }
    }
    let mut sys = state.db.system().await?;
    let (_, snapshot) = global_flag_view(&mut sys, &key).await?;
    let default = featureflags::known(&key).map(|k| k.default);
    let old = global_json(snapshot.global(&key), default);
    let metadata = match body.percentage {
        Some(p) => json!({"percentage": p}),
        None => json!({}),
    };
    if let Some(apply_at) = &body.apply_at {
        if body.timezone.is_none() && matches!(ApplyAt::parse(apply_at), Ok(ApplyAt::Local(_))) {
            return Err(ApiError::invalid(
                "timezone",
                "is required with a wall-clock apply_at",
            ));
        }
        let (at, local, zone) = resolve_apply_at(apply_at, body.timezone.as_deref(), &[])?;
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO feature_flag_schedules
                    (tenant_id, key, action, enabled, percentage, apply_at, local_time, timezone,
                     actor_operator_id)
             VALUES (NULL, $1, 'set', $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(&key)
        .bind(body.enabled)
        .bind(body.percentage.map(i16::from))
        .bind(at)
        .bind(local)
        .bind(&zone)
        .bind(op.operator_id)
        .fetch_one(&mut *sys)
        .await?;
        audit::record_platform(
            &mut sys,
            Some(op.operator_id),
            &meta,
            AuditEvent::new("feature_flag.global_scheduled")
                .on("feature_flag_schedule", id)
                .with(json!({
                    "key": key, "apply_at": at, "local_time": local, "timezone": zone,
                    "old": old,
                    "new": {"enabled": body.enabled, "percentage": body.percentage},
                })),
        )
        .await?;
    } else {
        set_global(
            &mut sys,
            &key,
            body.enabled,
            &metadata,
            body.description.as_deref(),
        )
        .await?;
        audit::record_platform(
            &mut sys,
            Some(op.operator_id),
            &meta,
            AuditEvent::new("feature_flag.global_updated").with(json!({
                "key": key,
                "old": old,
                "new": {"enabled": body.enabled, "percentage": body.percentage},
            })),
        )
        .await?;
    }
    let (view, _) = global_flag_view(&mut sys, &key).await?;
    sys.commit().await?;
    refresh(&state).await;
    Ok(Json(view))
}

/// Upserts a global row (description kept when `None`).
pub(crate) async fn set_global(
    sys: &mut SystemTx,
    key: &str,
    enabled: bool,
    metadata: &Value,
    description: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO feature_flags (tenant_id, key, enabled, metadata, description)
         VALUES (NULL, $1, $2, $3, coalesce($4, ''))
         ON CONFLICT (key) WHERE tenant_id IS NULL
         DO UPDATE SET enabled = EXCLUDED.enabled, metadata = EXCLUDED.metadata,
                       description = coalesce($4, feature_flags.description)",
    )
    .bind(key)
    .bind(enabled)
    .bind(metadata)
    .bind(description)
    .execute(&mut **sys)
    .await
    .map(drop)
}

/// `DELETE /api/v1/operator/feature_flags/{key}`: drops the global row (back to the
/// hard-coded default; a flag the code no longer knows is then gone, with its overrides
/// left inert until the key is known again).
pub async fn operator_delete(
    State(state): State<AppState>,
    CurrentOperator(op): CurrentOperator,
    meta: RequestMeta,
    ApiPath(key): ApiPath<String>,
) -> ApiResult<Json<FlagView>> {
    let mut sys = state.db.system().await?;
    let (_, snapshot) = global_flag_view(&mut sys, &key).await?;
    let default = featureflags::known(&key).map(|k| k.default);
    let deleted = sqlx::query("DELETE FROM feature_flags WHERE tenant_id IS NULL AND key = $1")
        .bind(&key)
        .execute(&mut *sys)
        .await?
        .rows_affected();
    if deleted > 0 {
        audit::record_platform(
            &mut sys,
            Some(op.operator_id),
            &meta,
            AuditEvent::new("feature_flag.global_removed").with(json!({
                "key": key,
                "old": global_json(snapshot.global(&key), default),
                "new": {"global": null, "default": default},
            })),
        )
        .await?;
    }
    let (view, _) = global_flag_view(&mut sys, &key).await?;
    sys.commit().await?;
    refresh(&state).await;
    Ok(Json(view))
}

/// `DELETE /api/v1/operator/feature_flags/{key}/schedules/{id}`: cancels a pending
/// global change (404 as for the tenant route).
pub async fn operator_cancel_schedule(
    State(state): State<AppState>,
    CurrentOperator(op): CurrentOperator,
    meta: RequestMeta,
    ApiPath((key, id)): ApiPath<(String, i64)>,
) -> ApiResult<StatusCode> {
    if !featureflags::valid_key(&key) {
        return Err(ApiError::NotFound);
    }
    let mut sys = state.db.system().await?;
    let row: Option<CancelledRow> = sqlx::query_as(&format!(
        "DELETE FROM feature_flag_schedules
          WHERE id = $1 AND key = $2 AND tenant_id IS NULL AND applied_at IS NULL
          {CANCEL_RETURNING}"
    ))
    .bind(id)
    .bind(&key)
    .fetch_optional(&mut *sys)
    .await?;
    let row = row.ok_or(ApiError::NotFound)?;
    audit::record_platform(
        &mut sys,
        Some(op.operator_id),
        &meta,
        AuditEvent::new("feature_flag.global_schedule_cancelled")
            .on("feature_flag_schedule", id)
            .with(cancelled_json(&key, &row)),
    )
    .await?;
    sys.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Reloads this process's snapshot after a local change (other processes hear the
/// NOTIFY). A failure leaves the old snapshot; the listener retries.
async fn refresh(state: &AppState) {
    if let Err(e) = state.flags.reload(&state.db).await {
        tracing::warn!(error = %e, "reloading feature flags failed");
    }
}
