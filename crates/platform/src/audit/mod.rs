//! Audit trail: every admin or operator action and every login, successful or not.
//! Tenant events go to `audit_logs` (append-only for the service role); operator events
//! and logins naming no known tenant go to `platform_audit_logs`. This module is the
//! recording floor every feature calls; [`routes`] lets administrators read the trail.

pub mod routes;

use serde_json::Value;

use crate::db::{SystemTx, TenantTx};
use crate::request::RequestMeta;

/// One audit event.
pub struct AuditEvent<'a> {
    pub event_type: &'a str,
    pub auditable: Option<(&'a str, i64)>,
    pub metadata: Value,
}

impl<'a> AuditEvent<'a> {
    pub fn new(event_type: &'a str) -> Self {
        Self {
            event_type,
            auditable: None,
            metadata: Value::Object(Default::default()),
        }
    }
    pub fn on(mut self, kind: &'a str, id: i64) -> Self {
        self.auditable = Some((kind, id));
        self
    }
    pub fn with(mut self, metadata: Value) -> Self {
        self.metadata = metadata;
        self
    }
}

/// Who did it, inside a tenant.
#[derive(Clone, Copy, Debug)]
pub enum TenantActor {
    User(i64),
    Operator(i64),
    Anonymous,
}

/// Records a tenant event in the caller's transaction.
pub async fn record_tenant(
    tx: &mut TenantTx,
    actor: TenantActor,
    meta: &RequestMeta,
    event: AuditEvent<'_>,
) -> Result<(), sqlx::Error> {
    let (user, operator) = match actor {
        TenantActor::User(id) => (Some(id), None),
        TenantActor::Operator(id) => (None, Some(id)),
        TenantActor::Anonymous => (None, None),
    };
    sqlx::query(
        "INSERT INTO audit_logs (tenant_id, actor_user_id, actor_operator_id, event_type,
                                 auditable_type, auditable_id, metadata, ip, user_agent, request_id)
         VALUES (current_tenant_id(), $1, $2, $3, $4, $5, $6, $7::inet, $8, $9)",
    )
    .bind(user)
    .bind(operator)
    .bind(event.event_type)
    .bind(event.auditable.map(|a| a.0))
    .bind(event.auditable.map(|a| a.1))
    .bind(&event.metadata)
    .bind(meta.ip.map(|ip| ip.to_string()))
    .bind(&meta.user_agent)
    .bind(&meta.request_id)
    .execute(&mut **tx)
    .await
    .map(drop)
}

/// Records a platform event in the caller's system transaction.
pub async fn record_platform(
    tx: &mut SystemTx,
    operator: Option<i64>,
    meta: &RequestMeta,
    event: AuditEvent<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO platform_audit_logs (operator_id, event_type, auditable_type, auditable_id,
                                          metadata, ip, user_agent, request_id)
         VALUES ($1, $2, $3, $4, $5, $6::inet, $7, $8)",
    )
    .bind(operator)
    .bind(event.event_type)
    .bind(event.auditable.map(|a| a.0))
    .bind(event.auditable.map(|a| a.1))
    .bind(&event.metadata)
    .bind(meta.ip.map(|ip| ip.to_string()))
    .bind(&meta.user_agent)
    .bind(&meta.request_id)
    .execute(&mut **tx)
    .await
    .map(drop)
}
