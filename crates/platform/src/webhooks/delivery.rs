//! Emitting events and delivering them: one `webhook_deliveries` row per subscribed
//! endpoint, written with a job in the transaction of the change; the job posts the
//! signed event through the guarded client and records every attempt on the row.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use egress::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use egress::OutgoingRequest;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;

use super::SECRET_PURPOSE;
use crate::db::{Db, TenantId, TenantTx};
use crate::jobs::{self, Job, JobContext, Permanent};
use crate::outbound::Outbound;

/// `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub const SIGNATURE_HEADER: &str = "x-k12-signature";
const EVENT_HEADER: &str = "x-k12-event";
/// The delivery id: the same on every retry of one event, for the receiver's dedup.
const DELIVERY_HEADER: &str = "x-k12-delivery";

/// The signature header value for `body` signed at `timestamp` (Unix seconds).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// Records `event` for every active endpoint of the tenant subscribed to it, and a
/// delivery job for each, in the caller's transaction: the event exists only if the
/// change commits. `data` is the event's object (ids and the fields a receiver needs).
pub async fn emit(tx: &mut TenantTx, event: &str, data: Value) -> Result<(), sqlx::Error> {
    debug_assert!(
        super::EVENTS.contains(&event),
        "unknown webhook event {event}"
    );
    let deliveries: Vec<(i64,)> = sqlx::query_as(
        "INSERT INTO webhook_deliveries (tenant_id, endpoint_id, event, payload)
         SELECT tenant_id, id, $1, $2 FROM webhook_endpoints
          WHERE active AND $1 = ANY (events)
         RETURNING id",
    )
    .bind(event)
    .bind(&data)
    .fetch_all(&mut **tx)
    .await?;
    let tenant_id = tx.tenant_id().0;
    for (delivery_id,) in deliveries {
        jobs::enqueue(
            &mut *tx,
            &DeliverWebhook {
                tenant_id,
                delivery_id,
            },
        )
        .await?;
    }
    Ok(())
}

/// Delivers one `webhook_deliveries` row. At least once: a failed attempt (transport
/// error, refused URL, non-2xx answer) is recorded and retried by the queue with backoff;
/// a delivery already marked delivered is never sent again.
#[derive(Debug, Serialize, Deserialize)]
pub struct DeliverWebhook {
    pub tenant_id: i64,
    pub delivery_id: i64,
}

impl Job for DeliverWebhook {
    const KIND: &'static str = "webhook_delivery";
    const MAX_ATTEMPTS: i32 = 8;
    const TIMEOUT: Duration = Duration::from_secs(60);

    async fn run(&self, ctx: &JobContext) -> anyhow::Result<()> {
        let outbound = ctx.outbound.as_ref().ok_or_else(|| {
            anyhow::anyhow!("this worker has no K12_SECRET_KEY: cannot sign webhooks")
        })?;
        let last = ctx.attempt >= Self::MAX_ATTEMPTS;
        let tenant = TenantId(self.tenant_id);
        match attempt(&ctx.db, outbound, tenant, self.delivery_id, last).await? {
            Attempt::Skipped
            | Attempt::Done(AttemptOutcome {
                delivered: true, ..
            }) => Ok(()),
            Attempt::Done(outcome) => Err(anyhow::anyhow!(
                "delivery {} failed: {}",
                self.delivery_id,
                outcome
                    .error
                    .unwrap_or_else(|| format!("HTTP {}", outcome.status_code.unwrap_or(0)))
            )),
        }
    }
}

/// What one attempt gave.
#[derive(Debug)]
pub(super) struct AttemptOutcome {
    pub delivered: bool,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: u64,
}

pub(super) enum Attempt {
    /// Nothing (more) to send: delivered or failed already, the delivery or its endpoint
    /// is gone, or the endpoint is inactive (the delivery is then recorded as failed).
    Skipped,
    Done(AttemptOutcome),
}

#[derive(sqlx::FromRow)]
struct Pending {
    event: String,
    payload: Value,
    status: String,
    created_at: DateTime<Utc>,
    url: String,
    active: bool,
    secret_encrypted: Vec<u8>,
}

/// One attempt at delivery `id`: read it (short transaction), post it (no transaction
/// open), record the outcome (short transaction). `last`: a failure is final.
pub(super) async fn attempt(
    db: &Db,
    outbound: &Outbound,
    tenant: TenantId,
    id: i64,
    last: bool,
) -> anyhow::Result<Attempt> {
    let mut tx = db.tenant(tenant).await?;
    let pending: Option<Pending> = sqlx::query_as(
        "SELECT d.event, d.payload, d.status, d.created_at, e.url, e.active, e.secret_encrypted
           FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
          WHERE d.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    let Some(p) = pending else {
        return Ok(Attempt::Skipped);
    };
    if p.status == "delivered" || p.status == "failed" {
        return Ok(Attempt::Skipped);
    }
    let started = Instant::now();
    // An endpoint switched off after the event: the delivery fails at once, no retries.
    let inactive = !p.active && p.event != "ping";
    let last = last || inactive;
    let (status_code, error) = if inactive {
        (None, Some("the endpoint is inactive".to_string()))
    } else {
        let secret = outbound
            .secrets
            .open(SECRET_PURPOSE, &p.secret_encrypted)
            .map_err(|e| Permanent(e.to_string()))?;
        let body = serde_json::to_vec(&json!({
            "id": id,
            "event": p.event,
            "created_at": p.created_at,
            "data": p.payload,
        }))?;
        let signature = sign(&secret, Utc::now().timestamp(), &body);
        let request = OutgoingRequest::post(p.url, body)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(
                HeaderName::from_static(SIGNATURE_HEADER),
                signature.parse()?,
            )
            .header(HeaderName::from_static(EVENT_HEADER), p.event.parse()?)
            .header(HeaderName::from_static(DELIVERY_HEADER), id.into());
        match outbound.client.send(request).await {
            Ok(response) if response.status.is_success() => (Some(response.status.as_u16()), None),
            Ok(response) => (
                Some(response.status.as_u16()),
                Some(format!(
                    "the endpoint answered HTTP {}",
                    response.status.as_u16()
                )),
            ),
            // The egress errors name the rule or the failure, never addresses or secrets.
            Err(e) => (None, Some(e.to_string())),
        }
    };
    let duration_ms = started.elapsed().as_millis() as u64;
    let delivered = error.is_none();
    let status = match (delivered, last) {
        (true, _) => "delivered",
        (false, true) => "failed",
        (false, false) => "retrying",
    };
    let mut tx = db.tenant(tenant).await?;
    sqlx::query(
        "UPDATE webhook_deliveries
            SET status = $2, attempts = attempts + 1, last_status_code = $3, last_error = $4,
                delivered_at = CASE WHEN $2 = 'delivered' THEN now() END
          WHERE id = $1",
    )
    .bind(id)
    .bind(status)
    .bind(status_code.map(i32::from))
    .bind(&error)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(delivery = id, status, ?status_code, "webhook attempt");
    if inactive {
        return Ok(Attempt::Skipped);
    }
    Ok(Attempt::Done(AttemptOutcome {
        delivered,
        status_code,
        error,
        duration_ms,
    }))
}
