//! Failed sign-ins (`K12_LOGIN_LOCKOUT`, migration 0005). Failures are counted per
//! account AND client address, so only the address that guessed wrong is refused: nobody
//! can lock someone else out by failing on their account. Failures for one account from
//! several addresses slow every attempt on it instead, and tell the tenant's admins
//! (operators: the platform trail) once per window with a `*.suspicious` audit event.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::json;

use crate::audit::{self, AuditEvent, TenantActor};
use crate::db::{SystemTx, TenantTx};
use crate::error::{ApiError, ApiResult};
use crate::ratelimit::LoginLockout;
use crate::request::RequestMeta;

/// Where an account's failures are kept and audited.
#[derive(Clone, Copy)]
struct Realm {
    table: &'static str,
    /// The columns that identify a row besides (email, ip) in an INSERT, and their values.
    scope_columns: &'static str,
    scope_values: &'static str,
    conflict: &'static str,
    audit_table: &'static str,
    locked_event: &'static str,
    suspicious_event: &'static str,
}

const TENANT: Realm = Realm {
    table: "login_failures",
    scope_columns: "tenant_id, ",
    scope_values: "current_tenant_id(), ",
    conflict: "tenant_id, email, ip",
    audit_table: "audit_logs",
    locked_event: "auth.login_locked",
    suspicious_event: "login.suspicious",
};

const OPERATOR: Realm = Realm {
    table: "operator_login_failures",
    scope_columns: "",
    scope_values: "",
    conflict: "email, ip",
    audit_table: "platform_audit_logs",
    locked_event: "operator.login_locked",
    suspicious_event: "operator.login_suspicious",
};

/// A request without a known address (no socket info) is counted as this one.
fn ip_text(ip: Option<IpAddr>) -> String {
    ip.map_or_else(|| "0.0.0.0".to_string(), |ip| ip.to_canonical().to_string())
}

/// Where an account stands before its password is checked.
#[derive(Debug)]
pub struct Standing {
    /// This address is refused for this account for so many more seconds.
    pub locked_for_secs: Option<u64>,
    /// Wait this long before checking the password (failures from many addresses).
    pub delay: Duration,
}

impl Standing {
    /// The 429 for a locked address.
    pub fn refusal(&self) -> Option<ApiError> {
        self.locked_for_secs.map(|secs| ApiError::TooManyRequests {
            retry_after_secs: secs.max(1),
        })
    }
}

async fn standing(
    conn: &mut sqlx::PgConnection,
    realm: Realm,
    policy: LoginLockout,
    email: &str,
    ip: Option<IpAddr>,
) -> ApiResult<Standing> {
    let (locked_for, total, addresses): (Option<f64>, i64, i64) = sqlx::query_as(&format!(
        "SELECT max(extract(epoch FROM locked_until - now())::float8)
                  FILTER (WHERE ip = $2::inet AND locked_until > now()),
                coalesce(sum(failures) FILTER (WHERE window_started_at > now() - $3), 0)::int8,
                count(*) FILTER (WHERE window_started_at > now() - $3)
           FROM {} WHERE email = $1",
        realm.table
    ))
    .bind(email)
    .bind(ip_text(ip))
    .bind(policy.period)
    .fetch_one(conn)
    .await?;
    Ok(Standing {
        locked_for_secs: locked_for.map(|s| s.ceil() as u64),
        delay: if addresses >= 2 {
            policy.delay(total)
        } else {
            Duration::ZERO
        },
    })
}

/// What a failure led to.
struct Counted {
    newly_locked: bool,
    total: i64,
    addresses: i64,
    alerted: bool,
}

async fn count_failure(
    conn: &mut sqlx::PgConnection,
    realm: Realm,
    policy: LoginLockout,
    email: &str,
    ip: Option<IpAddr>,
) -> ApiResult<Counted> {
    let ip = ip_text(ip);
    sqlx::query(&format!(
        "DELETE FROM {} WHERE last_failed_at < now() - $1
            AND (locked_until IS NULL OR locked_until < now())",
        realm.table
    ))
    .bind(policy.period)
    .execute(&mut *conn)
    .await?;
    let (failures,): (i32,) = sqlx::query_as(&format!(
        "INSERT INTO {t} AS f ({scope}email, ip, failures) VALUES ({values}$1, $2::inet, 1)
         ON CONFLICT ({conflict}) DO UPDATE SET
             failures = CASE WHEN f.window_started_at > now() - $3 THEN f.failures + 1 ELSE 1 END,
             window_started_at = CASE WHEN f.window_started_at > now() - $3
                                      THEN f.window_started_at ELSE now() END,
             last_failed_at = now()
         RETURNING failures",
        t = realm.table,
        scope = realm.scope_columns,
        values = realm.scope_values,
        conflict = realm.conflict,
    ))
    .bind(email)
    .bind(&ip)
    .bind(policy.period)
    .fetch_one(&mut *conn)
    .await?;
    let newly_locked = if failures >= i32::try_from(policy.failures).unwrap_or(i32::MAX) {
        sqlx::query(&format!(
            "UPDATE {} SET locked_until = now() + $3
              WHERE email = $1 AND ip = $2::inet
                AND (locked_until IS NULL OR locked_until <= now())",
            realm.table
        ))
        .bind(email)
        .bind(&ip)
        .bind(policy.period)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            > 0
    } else {
        false
    };
    let (total, addresses, alerted): (i64, i64, bool) = sqlx::query_as(&format!(
        "SELECT coalesce(sum(failures), 0)::int8, count(*),
                EXISTS (SELECT 1 FROM {audit} WHERE event_type = $2 AND metadata->>'email' = $1
                          AND created_at > now() - $3)
           FROM {t} WHERE email = $1 AND window_started_at > now() - $3",
        audit = realm.audit_table,
        t = realm.table,
    ))
    .bind(email)
    .bind(realm.suspicious_event)
    .bind(policy.period)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Counted {
        newly_locked,
        total,
        addresses,
        alerted,
    })
}

impl Counted {
    /// Failures from several addresses that together reach the threshold: worth an alert,
    /// unless one went out within the window.
    fn needs_alert(&self, policy: LoginLockout) -> bool {
        !self.alerted && self.addresses >= 2 && self.total >= i64::from(policy.failures)
    }
}

fn locked_event<'a>(
    realm: Realm,
    email: &str,
    ip: Option<IpAddr>,
    policy: LoginLockout,
) -> AuditEvent<'a> {
    AuditEvent::new(realm.locked_event).with(json!({
        "email": email,
        "ip": ip_text(ip),
        "failures": policy.failures,
        "locked_secs": policy.period.as_secs(),
    }))
}

fn suspicious_event<'a>(realm: Realm, email: &str, counted: &Counted) -> AuditEvent<'a> {
    AuditEvent::new(realm.suspicious_event).with(json!({
        "email": email,
        "failures": counted.total,
        "addresses": counted.addresses,
    }))
}

/// Before checking a school user's password.
pub async fn tenant_standing(
    tx: &mut TenantTx,
    policy: LoginLockout,
    email: &str,
    ip: Option<IpAddr>,
) -> ApiResult<Standing> {
    standing(tx, TENANT, policy, email, ip).await
}

/// After a wrong password (or unknown email) in a school: counts it, locks the address
/// at the threshold and alerts the admins when many addresses fail.
pub async fn tenant_failed(
    tx: &mut TenantTx,
    policy: LoginLockout,
    meta: &RequestMeta,
    email: &str,
) -> ApiResult<()> {
    let counted = count_failure(tx, TENANT, policy, email, meta.ip).await?;
    if counted.newly_locked {
        let event = locked_event(TENANT, email, meta.ip, policy);
        audit::record_tenant(tx, TenantActor::Anonymous, meta, event).await?;
    }
    if counted.needs_alert(policy) {
        let event = suspicious_event(TENANT, email, &counted);
        audit::record_tenant(tx, TenantActor::Anonymous, meta, event).await?;
    }
    Ok(())
}

/// After a successful sign-in: this address starts afresh for this account.
pub async fn tenant_succeeded(tx: &mut TenantTx, email: &str, ip: Option<IpAddr>) -> ApiResult<()> {
    cleared(tx, TENANT, email, ip).await
}

pub async fn operator_standing(
    tx: &mut SystemTx,
    policy: LoginLockout,
    email: &str,
    ip: Option<IpAddr>,
) -> ApiResult<Standing> {
    standing(tx, OPERATOR, policy, email, ip).await
}

pub async fn operator_failed(
    tx: &mut SystemTx,
    policy: LoginLockout,
    meta: &RequestMeta,
    email: &str,
) -> ApiResult<()> {
    let counted = count_failure(tx, OPERATOR, policy, email, meta.ip).await?;
    if counted.newly_locked {
        let event = locked_event(OPERATOR, email, meta.ip, policy);
        audit::record_platform(tx, None, meta, event).await?;
    }
    if counted.needs_alert(policy) {
        let event = suspicious_event(OPERATOR, email, &counted);
        audit::record_platform(tx, None, meta, event).await?;
    }
    Ok(())
}

pub async fn operator_succeeded(
    tx: &mut SystemTx,
    email: &str,
    ip: Option<IpAddr>,
) -> ApiResult<()> {
    cleared(tx, OPERATOR, email, ip).await
}

async fn cleared(
    conn: &mut sqlx::PgConnection,
    realm: Realm,
    email: &str,
    ip: Option<IpAddr>,
) -> ApiResult<()> {
    sqlx::query(&format!(
        "DELETE FROM {} WHERE email = $1 AND ip = $2::inet",
        realm.table
    ))
    .bind(email)
    .bind(ip_text(ip))
    .execute(conn)
    .await?;
    Ok(())
}
