//! AI in the core (spec 09, "In the core service"): task policies decide who may ask for
//! what, the tenant's safety level and daily token budget frame every call, and the AI
//! gateway (a separate process, reached over HTTP with `K12_GATEWAY_URL` and
//! `K12_GATEWAY_TOKEN`) screens and answers. Every call is recorded in `ai_invocations`
//! with a hash of its input (never the text) and the safety events the gateway reported,
//! which tenant admins read through the safety routes.

pub mod admin;
pub mod generate;
pub mod routes;
mod sse;

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use crate::config::{Config, Secret};
use crate::http::extract::TenantDb;

/// The safety levels a tenant chooses from, with what each means.
pub const LEVELS: [(&str, &str); 3] = [
    (
        "strict",
        "Elementary (K-5): the content classifier blocks at a low score (3); the default",
    ),
    (
        "moderate",
        "Middle school (6-8): blocks at a medium score (6); history and health lessons pass",
    ),
    (
        "standard",
        "High school (9-12): blocks at a high score (10); staff prompts are never judged above this",
    ),
];

/// The default level of a tenant without settings.
pub const DEFAULT_LEVEL: &str = "strict";
/// The default daily token budget of a tenant (prompt + completion, per UTC day).
pub const DEFAULT_DAILY_TOKEN_BUDGET: i32 = 200_000;

/// The roles a task policy may allow, most privileged first: a user with several roles
/// asks as the first one the policy allows.
pub const ROLES: [&str; 5] = ["admin", "curriculum_lead", "teacher", "student", "guardian"];

/// Categories of safety events (the gateway's, with escalations named `self_harm`).
pub const CATEGORIES: [&str; 5] = ["injection", "xss", "pii", "inappropriate", "self_harm"];
/// Actions of safety events.
pub const ACTIONS: [&str; 5] = ["allowed", "sanitized", "redacted", "blocked", "escalated"];

/// How the core reaches the AI gateway. `Debug` never shows the token.
#[derive(Clone, Default)]
pub struct AiConfig {
    gateway: Option<GatewayClient>,
}

#[derive(Clone)]
struct GatewayClient {
    /// Without a trailing slash.
    base: String,
    token: Option<Secret>,
    http: reqwest::Client,
}

impl fmt::Debug for AiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AiConfig")
            .field("gateway_url", &self.gateway.as_ref().map(|g| &g.base))
            .field(
                "gateway_token",
                &self
                    .gateway
                    .as_ref()
                    .map(|g| if g.token.is_some() { "***" } else { "none" }),
            )
            .finish()
    }
}

/// Time allowed to connect to the gateway; answers take as long as the gateway's own
/// provider timeout (streams have no overall limit).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest a non-streaming call may take end to end (the gateway's provider timeout
/// and retries fit well inside).
const GENERATE_TIMEOUT: Duration = Duration::from_secs(300);

impl AiConfig {
    /// The gateway at `url` (an operator-configured base URL, e.g.
    /// `http://127.0.0.1:8000`) with its service token; `None`: AI is not configured and
    /// the generate routes answer 503.
    pub fn new(url: Option<&str>, token: Option<Secret>) -> anyhow::Result<Self> {
        let Some(url) = url else {
            return Ok(Self::default());
        };
        let parsed = url::Url::parse(url)
            .map_err(|e| anyhow::anyhow!("invalid configuration: K12_GATEWAY_URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            anyhow::bail!("invalid configuration: K12_GATEWAY_URL: must be an http(s) URL");
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            gateway: Some(GatewayClient {
                base: url.trim_end_matches('/').to_owned(),
                token,
                http,
            }),
        })
    }

    /// From the validated service configuration (`K12_GATEWAY_URL`, `K12_GATEWAY_TOKEN`).
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        Self::new(config.gateway_url.as_deref(), config.gateway_token.clone())
    }

    pub fn is_configured(&self) -> bool {
        self.gateway.is_some()
    }

    /// A POST to the gateway's `path` with the service token.
    fn post(&self, path: &str, body: &Value) -> Option<reqwest::RequestBuilder> {
        let g = self.gateway.as_ref()?;
        let mut req = g.http.post(format!("{}{path}", g.base)).json(body);
        if let Some(t) = &g.token {
            req = req.bearer_auth(t.expose());
        }
        Some(req)
    }
}

/// A tenant's AI settings (defaults when the tenant has no row).
#[derive(Debug, Clone)]
pub struct Settings {
    pub safety_level: String,
    pub daily_token_budget: i32,
}

pub(crate) async fn settings(tx: &mut crate::db::TenantTx) -> Result<Settings, sqlx::Error> {
    let row: Option<(String, i32)> =
        sqlx::query_as("SELECT safety_level, daily_token_budget FROM ai_settings")
            .fetch_optional(&mut **tx)
            .await?;
    Ok(match row {
        Some((safety_level, daily_token_budget)) => Settings {
            safety_level,
            daily_token_budget,
        },
        None => Settings {
            safety_level: DEFAULT_LEVEL.to_owned(),
            daily_token_budget: DEFAULT_DAILY_TOKEN_BUDGET,
        },
    })
}

/// Tokens the tenant used since the start of the UTC day.
pub(crate) async fn tokens_used_today(tx: &mut crate::db::TenantTx) -> Result<i64, sqlx::Error> {
    let (used,): (i64,) = sqlx::query_as(
        "SELECT coalesce(sum(prompt_tokens + completion_tokens), 0)::bigint
           FROM ai_invocations
          WHERE created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
    )
    .fetch_one(&mut **tx)
    .await?;
    Ok(used)
}

/// The defaults every new tenant gets: its settings row and the default task policies
/// (the SQL function of migration 0012, which also gave them to existing tenants).
pub async fn create_defaults(tx: &mut crate::db::TenantTx) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT ai_create_defaults(current_tenant_id())")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// One safety event of an invocation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SafetyEvent {
    pub direction: &'static str,
    pub category: String,
    pub subcategory: Option<String>,
    pub action: String,
    pub confidence: f32,
    pub detail: String,
    pub flagged: bool,
}

/// The event a gateway verdict (JSON) reports, if any: anything not allowed, and
/// recorded-only findings (input personal data).
pub(crate) fn event_of(direction: &'static str, verdict: &Value) -> Option<SafetyEvent> {
    let action = verdict["action"].as_str()?;
    if !ACTIONS.contains(&action) {
        return None;
    }
    let first_span = verdict["spans"].as_array().and_then(|s| s.first());
    if action == "allowed" && first_span.is_none() {
        return None;
    }
    let escalated = action == "escalated";
    let category = if escalated {
        "self_harm"
    } else {
        verdict["category"]
            .as_str()
            .or_else(|| first_span.and_then(|s| s["category"].as_str()))?
    };
    if !CATEGORIES.contains(&category) {
        return None;
    }
    let subcategory = verdict["subcategory"]
        .as_str()
        .or_else(|| first_span.and_then(|s| s["subcategory"].as_str()))
        .map(|s| s.chars().take(64).collect());
    Some(SafetyEvent {
        direction,
        category: category.to_owned(),
        subcategory,
        action: action.to_owned(),
        confidence: verdict["confidence"]
            .as_f64()
            .map(|c| c.clamp(0.0, 1.0) as f32)
            .unwrap_or(0.0),
        detail: scrub_detail(verdict["detail"].as_str().unwrap_or_default()),
        flagged: escalated,
    })
}

/// A verdict's detail without the phrases it quotes (`...; matched "..."`): those are the
/// user's own words, and the record keeps no text of the prompt or the answer.
fn scrub_detail(detail: &str) -> String {
    detail
        .split("; matched")
        .next()
        .unwrap_or_default()
        .chars()
        .take(500)
        .collect()
}

/// `value` with every `detail` string scrubbed (see [`scrub_detail`]).
pub(crate) fn scrub(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("detail", Value::String(d)) => Value::String(scrub_detail(d)),
                        _ => scrub(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(scrub).collect()),
        other => other.clone(),
    }
}

/// What is recorded of one call.
#[derive(Debug, Clone)]
pub(crate) struct Invocation {
    pub user_id: i64,
    pub user_role: &'static str,
    pub task_type: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub streamed: bool,
    pub status: &'static str,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub duration: Duration,
    pub input_sha256: String,
    pub error: Option<String>,
    pub safety: Value,
    pub events: Vec<SafetyEvent>,
}

fn clamp_i32(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Records an invocation and its events; answers its id.
pub(crate) async fn record(db: &TenantDb, inv: &Invocation) -> Result<i64, sqlx::Error> {
    let mut tx = db.begin().await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO ai_invocations
                (tenant_id, user_id, user_role, task_type, provider, model, streamed, status,
                 prompt_tokens, completion_tokens, duration_ms, input_sha256, error, safety)
         VALUES (current_tenant_id(), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         RETURNING id",
    )
    .bind(inv.user_id)
    .bind(inv.user_role)
    .bind(&inv.task_type)
    .bind(&inv.provider)
    .bind(&inv.model)
    .bind(inv.streamed)
    .bind(inv.status)
    .bind(clamp_i32(inv.prompt_tokens.into()))
    .bind(clamp_i32(inv.completion_tokens.into()))
    .bind(clamp_i32(
        u64::try_from(inv.duration.as_millis()).unwrap_or(u64::MAX),
    ))
    .bind(&inv.input_sha256)
    .bind(&inv.error)
    .bind(scrub(&inv.safety))
    .fetch_one(&mut *tx)
    .await?;
    for e in &inv.events {
        sqlx::query(
            "INSERT INTO ai_safety_events
                    (tenant_id, invocation_id, user_id, task_type, direction, category,
                     subcategory, action, confidence, detail, flagged)
             VALUES (current_tenant_id(), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(id)
        .bind(inv.user_id)
        .bind(&inv.task_type)
        .bind(e.direction)
        .bind(&e.category)
        .bind(&e.subcategory)
        .bind(&e.action)
        .bind(e.confidence)
        .bind(&e.detail)
        .bind(e.flagged)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    if inv.events.iter().any(|e| e.flagged) {
        tracing::warn!(
            invocation_id = id,
            task_type = inv.task_type,
            "AI safety event escalated for the school's designated staff"
        );
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_from_verdicts() {
        assert_eq!(
            event_of("input", &json!({"action": "allowed", "spans": []})),
            None
        );
        let e = event_of(
            "input",
            &json!({"action": "escalated", "category": "inappropriate", "subcategory": "self_harm",
                    "confidence": 1.5, "detail": "self_harm score", "spans": []}),
        )
        .unwrap();
        assert_eq!(
            (e.category.as_str(), e.action.as_str(), e.flagged),
            ("self_harm", "escalated", true)
        );
        assert_eq!(e.confidence, 1.0);
        let quoted = json!({"input": {"detail": "self_harm score 5 >= 3; matched \"i want to\""}});
        assert_eq!(
            scrub(&quoted),
            json!({"input": {"detail": "self_harm score 5 >= 3"}})
        );
        let pii = event_of(
            "input",
            &json!({"action": "allowed", "category": null, "spans": [
                {"start": 0, "end": 3, "rule": "pii.email", "category": "pii", "subcategory": "email", "action": "allowed"}]}),
        )
        .unwrap();
        assert_eq!(
            (
                pii.category.as_str(),
                pii.subcategory.as_deref(),
                pii.flagged
            ),
            ("pii", Some("email"), false)
        );
        assert_eq!(
            event_of(
                "output",
                &json!({"action": "redacted", "category": "nonsense"})
            ),
            None
        );
    }

    #[test]
    fn debug_never_shows_the_token() {
        let c = AiConfig::new(
            Some("http://127.0.0.1:8000/"),
            Some(Secret::new("gateway-token-0123456789")),
        )
        .unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("gateway-token"), "{shown}");
        assert!(shown.contains("http://127.0.0.1:8000"), "{shown}");
        assert!(AiConfig::new(Some("ftp://x"), None).is_err());
        assert!(!AiConfig::new(None, None).unwrap().is_configured());
    }
}
