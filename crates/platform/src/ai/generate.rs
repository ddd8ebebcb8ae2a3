//! `POST /api/v1/ai/generate` and `POST /api/v1/ai/generate_stream`: the task policy
//! for the caller's role, the limits, the tenant's daily token budget, then the gateway;
//! every call is recorded with its tokens, duration, input hash and safety events.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::sse::{SseEvent, SseParser};
use super::{event_of, record, Invocation, GENERATE_TIMEOUT, ROLES};
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, TenantDb, TenantScope};
use crate::http::{validate, AppState};

/// The largest prompt accepted, all messages together (the gateway's limit too).
pub const MAX_PROMPT_BYTES: usize = 128 * 1024;
pub const MAX_MESSAGES: usize = 200;

/// `POST /api/v1/ai/generate` and `/generate_stream`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateRequest {
    /// A task type with a policy in this school, e.g. `lesson_plan`, `tutoring`.
    pub task_type: String,
    /// The request as one text (or send `messages`).
    pub prompt: Option<String>,
    /// A conversation (or send `prompt`); the school's instructions are not yours to set,
    /// so only `user` and `assistant` turns are accepted.
    pub messages: Option<Vec<ChatMessage>>,
    /// At most the policy's `max_tokens_limit` (lowered to it when above).
    pub max_tokens: Option<u32>,
    /// 0 to 2; at most the policy's `temperature_limit` (lowered to it when above).
    pub temperature: Option<f32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatMessage {
    pub role: ChatRole,
    pub content: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChatRole {
    User,
    Assistant,
}

/// Token counts of a call.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, JsonSchema)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub total_tokens: u32,
}

impl Usage {
    fn of(v: &Value) -> Option<Self> {
        let n = |k: &str| v[k].as_u64().map(|n| u32::try_from(n).unwrap_or(u32::MAX));
        let (p, c) = (n("prompt_tokens")?, n("completion_tokens")?);
        Some(Self {
            prompt_tokens: p,
            completion_tokens: c,
            total_tokens: p.saturating_add(c),
        })
    }
}

/// The answer, screened by the gateway (redacted or sanitised where it had to be).
#[derive(Debug, Serialize, JsonSchema)]
pub struct GenerateResponse {
    pub content: String,
    pub provider: String,
    pub model: String,
    pub usage: Usage,
    /// The gateway's verdicts on the prompt and the answer: `{input, output}`.
    pub safety: Value,
    /// The record of this call (`ai_invocations`).
    pub invocation_id: i64,
    /// The task policy asks a person to review the answer before it is used.
    pub requires_review: bool,
}

/// A call that passed the policy, the limits and the budget.
struct Call {
    db: TenantDb,
    user_id: i64,
    role: &'static str,
    task_type: String,
    requires_review: bool,
    provider: Option<String>,
    model: Option<String>,
    gateway_body: Value,
    input_sha256: String,
    streamed: bool,
    started: Instant,
}

impl Call {
    fn invocation(&self, status: &'static str, error: Option<String>) -> Invocation {
        Invocation {
            user_id: self.user_id,
            user_role: self.role,
            task_type: self.task_type.clone(),
            provider: self.provider.clone(),
            model: self.model.clone(),
            streamed: self.streamed,
            status,
            prompt_tokens: 0,
            completion_tokens: 0,
            duration: self.started.elapsed(),
            input_sha256: self.input_sha256.clone(),
            error,
            safety: json!({}),
            events: Vec::new(),
        }
    }

    /// Records `inv`; a failure to record is logged, never hides the answer.
    async fn record(&self, inv: &Invocation) -> Option<i64> {
        match record(&self.db, inv).await {
            Ok(id) => Some(id),
            Err(e) => {
                tracing::error!(error = %e, task_type = self.task_type, "recording an AI invocation failed");
                None
            }
        }
    }
}

#[derive(sqlx::FromRow)]
struct PolicyRow {
    enabled: bool,
    allowed_roles: Vec<String>,
    requires_review: bool,
    max_tokens_limit: i32,
    temperature_limit: f32,
    model_override: Option<String>,
}

/// Seconds to the next UTC midnight (when the daily budget starts afresh).
fn secs_to_midnight() -> u64 {
    let now = chrono::Utc::now();
    let tomorrow = (now.date_naive() + chrono::Days::new(1))
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc());
    tomorrow
        .map(|t| (t - now).num_seconds().max(1) as u64)
        .unwrap_or(1)
}

async fn prepare(
    state: &AppState,
    TenantScope { me, db }: TenantScope,
    body: GenerateRequest,
    streamed: bool,
) -> ApiResult<Call> {
    let started = Instant::now();
    validate::text("task_type", &body.task_type, 1, 64)?;
    let messages = match (body.prompt, body.messages) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "prompt",
                "send either prompt or messages, not both",
            ))
        }
        (None, None) => {
            return Err(ApiError::invalid(
                "prompt",
                "prompt or messages is required",
            ))
        }
        (Some(prompt), None) => vec![ChatMessage {
            role: ChatRole::User,
            content: prompt,
        }],
        (None, Some(messages)) => messages,
    };
    if messages.len() > MAX_MESSAGES {
        return Err(ApiError::invalid(
            "messages",
            format!("at most {MAX_MESSAGES} messages"),
        ));
    }
    if !messages
        .iter()
        .any(|m| m.role == ChatRole::User && !m.content.trim().is_empty())
    {
        return Err(ApiError::invalid(
            "prompt",
            "a non-empty prompt (or user message) is required",
        ));
    }
    let size: usize = messages.iter().map(|m| m.content.len()).sum();
    if size > MAX_PROMPT_BYTES {
        return Err(ApiError::invalid(
            "prompt",
            format!("is {size} bytes; at most {MAX_PROMPT_BYTES}"),
        ));
    }
    if body.max_tokens == Some(0) {
        return Err(ApiError::invalid("max_tokens", "must be at least 1"));
    }
    if let Some(t) = body.temperature {
        if !t.is_finite() || !(0.0..=2.0).contains(&t) {
            return Err(ApiError::invalid("temperature", "must be between 0 and 2"));
        }
    }

    let mut tx = db.begin().await?;
    let policy: Option<PolicyRow> = sqlx::query_as(
        "SELECT enabled, allowed_roles, requires_review, max_tokens_limit, temperature_limit,
                model_override
           FROM ai_task_policies WHERE task_type = $1",
    )
    .bind(&body.task_type)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(policy) = policy else {
        return Err(ApiError::invalid(
            "task_type",
            "this school has no AI task policy of that name",
        ));
    };
    if !policy.enabled {
        return Err(ApiError::refused(
            StatusCode::FORBIDDEN,
            "ai_task_disabled",
            format!(
                "the AI task {:?} is turned off in this school",
                body.task_type
            ),
        )
        .with("task_type", json!(body.task_type)));
    }
    let Some(role) = ROLES
        .into_iter()
        .find(|r| me.has_role(r) && policy.allowed_roles.iter().any(|a| a == r))
    else {
        return Err(ApiError::refused(
            StatusCode::FORBIDDEN,
            "ai_role_not_allowed",
            format!(
                "the AI task {:?} is not available to your role in this school",
                body.task_type
            ),
        )
        .with("task_type", json!(body.task_type))
        .with("allowed_roles", json!(policy.allowed_roles)));
    };
    let settings = super::settings(&mut tx).await?;
    let used = super::tokens_used_today(&mut tx).await?;
    if used >= i64::from(settings.daily_token_budget) {
        return Err(ApiError::refused(
            StatusCode::TOO_MANY_REQUESTS,
            "ai_budget_exhausted",
            "this school's daily AI token budget is spent; it starts afresh at midnight UTC",
        )
        .with("daily_token_budget", json!(settings.daily_token_budget))
        .with("tokens_used_today", json!(used))
        .with("retry_after_secs", json!(secs_to_midnight())));
    }
    let provider: Option<(String, String)> = sqlx::query_as(
        "SELECT provider, default_model FROM ai_provider_configs
          WHERE status = 'active' ORDER BY id LIMIT 1",
    )
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    if !state.config.ai.is_configured() {
        return Err(ApiError::refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "ai_not_configured",
            "AI is not configured on this server (K12_GATEWAY_URL)",
        ));
    }

    let limit = u32::try_from(policy.max_tokens_limit.max(1)).unwrap_or(1);
    let max_tokens = body.max_tokens.unwrap_or(limit).min(limit);
    let temperature = body.temperature.map(|t| t.min(policy.temperature_limit));
    let (provider, provider_model) = match provider {
        Some((p, m)) => (Some(p), Some(m)),
        None => (None, None),
    };
    let model = policy.model_override.or(provider_model);
    let input = serde_json::to_vec(&messages).map_err(anyhow::Error::from)?;
    let input_sha256 = hex::encode(Sha256::digest(&input));
    let gateway_body = json!({
        "provider": provider,
        "model": model,
        "messages": messages,
        "task_type": body.task_type,
        "max_tokens": max_tokens,
        "temperature": temperature,
        "context": {
            "tenant_id": me.tenant_id.0.to_string(),
            "safety_level": settings.safety_level,
            "task_type": body.task_type,
            "user_role": role,
        },
    });
    Ok(Call {
        db,
        user_id: me.user_id,
        role,
        task_type: body.task_type,
        requires_review: policy.requires_review,
        provider,
        model,
        gateway_body,
        input_sha256,
        streamed,
        started,
    })
}

/// The refusal of a `content_safety` error object from the gateway (`{code, category,
/// subcategory, action, direction, verdict, usage?}`), recorded as blocked or escalated.
async fn refuse_unsafe(call: &Call, error: &Value) -> ApiError {
    let action = error["action"].as_str().unwrap_or("blocked");
    let escalated = action == "escalated";
    let direction = if error["direction"] == "output" {
        "output"
    } else {
        "input"
    };
    let mut inv = call.invocation(if escalated { "escalated" } else { "blocked" }, None);
    if let Some(u) = Usage::of(&error["usage"]) {
        inv.prompt_tokens = u.prompt_tokens;
        inv.completion_tokens = u.completion_tokens;
    }
    inv.safety = json!({ direction: error["verdict"] });
    inv.events = event_of(direction, &error["verdict"]).into_iter().collect();
    if escalated && inv.events.is_empty() {
        // The gateway named it self-harm: the event is recorded whatever the verdict says.
        inv.events.push(super::SafetyEvent {
            direction,
            category: "self_harm".into(),
            subcategory: Some("self_harm".into()),
            action: "escalated".into(),
            confidence: 1.0,
            detail: String::new(),
            flagged: true,
        });
    }
    let id = call.record(&inv).await;
    let category = if escalated {
        "self_harm"
    } else {
        error["category"].as_str().unwrap_or("inappropriate")
    };
    let message = match (escalated, direction) {
        (true, "input") => {
            "the prompt was withheld and flagged for the school's designated staff".to_owned()
        }
        (true, _) => {
            "the answer was withheld and flagged for the school's designated staff".to_owned()
        }
        (false, "input") => "the prompt was withheld by the content-safety screen".to_owned(),
        (false, _) => "the answer was withheld by the content-safety screen".to_owned(),
    };
    ApiError::refused(StatusCode::UNPROCESSABLE_ENTITY, "content_safety", message)
        .with("category", json!(category))
        .with("subcategory", error["subcategory"].clone())
        .with("action", json!(action))
        .with("direction", json!(direction))
        .with("invocation_id", json!(id))
}

/// A gateway answer other than 200, recorded; the client's error.
async fn gateway_failure(call: &Call, status: u16, body: &Value) -> ApiError {
    let error = &body["error"];
    let code = error["code"].as_str().unwrap_or_default();
    if status == 422 && code == "content_safety" {
        return refuse_unsafe(call, error).await;
    }
    let message: String = error["message"]
        .as_str()
        .unwrap_or("no message")
        .chars()
        .take(300)
        .collect();
    call.record(&call.invocation(
        "failed",
        Some(format!("gateway answered {status} {code}: {message}")),
    ))
    .await;
    match status {
        // The gateway's own validation of what the user sent (a prompt it can't take).
        422 => ApiError::invalid("prompt", message),
        401 => {
            tracing::error!("the AI gateway refused this service's token (K12_GATEWAY_TOKEN)");
            ApiError::refused(
                StatusCode::BAD_GATEWAY,
                "ai_gateway_error",
                "the AI gateway refused this server's credentials; tell the operator",
            )
        }
        _ => ApiError::refused(
            StatusCode::BAD_GATEWAY,
            "ai_gateway_error",
            format!("the AI service could not answer: {message}"),
        )
        .with("upstream_status", json!(status))
        .with("upstream_code", json!(code)),
    }
}

/// The gateway could not be reached at all.
async fn unreachable(call: &Call, e: reqwest::Error) -> ApiError {
    let why = if e.is_timeout() {
        "timed out".to_owned()
    } else {
        e.without_url().to_string()
    };
    tracing::warn!(error = why, "AI gateway unreachable");
    call.record(&call.invocation("failed", Some(format!("gateway unreachable: {why}"))))
        .await;
    ApiError::refused(
        StatusCode::BAD_GATEWAY,
        "ai_gateway_unreachable",
        "the AI service is unreachable; try again later",
    )
}

fn gateway_request(
    state: &AppState,
    path: &str,
    call: &Call,
) -> ApiResult<reqwest::RequestBuilder> {
    state
        .config
        .ai
        .post(path, &call.gateway_body)
        .ok_or_else(|| anyhow::anyhow!("AI gateway vanished from the configuration").into())
}

/// `POST /api/v1/ai/generate`
pub async fn generate(
    State(state): State<AppState>,
    scope: TenantScope,
    ApiJson(body): ApiJson<GenerateRequest>,
) -> ApiResult<Json<GenerateResponse>> {
    let call = prepare(&state, scope, body, false).await?;
    let sent = gateway_request(&state, "/v1/generate", &call)?
        .timeout(GENERATE_TIMEOUT)
        .send()
        .await;
    let response = match sent {
        Ok(r) => r,
        Err(e) => return Err(unreachable(&call, e).await),
    };
    let status = response.status().as_u16();
    let answer: Value = match response.json().await {
        Ok(v) => v,
        Err(e) => return Err(unreachable(&call, e).await),
    };
    if status != 200 {
        return Err(gateway_failure(&call, status, &answer).await);
    }
    let usage = Usage::of(&answer["usage"]).unwrap_or_default();
    let provider = answer["provider"].as_str().unwrap_or_default().to_owned();
    let model = answer["model"].as_str().unwrap_or_default().to_owned();
    let mut inv = call.invocation("completed", None);
    inv.provider = Some(provider.clone());
    inv.model = Some(model.clone());
    inv.prompt_tokens = usage.prompt_tokens;
    inv.completion_tokens = usage.completion_tokens;
    inv.safety = answer["safety"].clone();
    inv.events = ["input", "output"]
        .into_iter()
        .filter_map(|d| event_of(d, &answer["safety"][d]))
        .collect();
    let id = record(&call.db, &inv).await?;
    Ok(Json(GenerateResponse {
        content: answer["content"].as_str().unwrap_or_default().to_owned(),
        provider,
        model,
        usage,
        safety: answer["safety"].clone(),
        invocation_id: id,
        requires_review: call.requires_review,
    }))
}

/// One relayed stream: the gateway's events in, the client's out; recorded once, when it
/// ends or (dropped early) when the client went away.
struct Relay {
    call: Call,
    upstream: BoxStream<'static, reqwest::Result<Bytes>>,
    parser: SseParser,
    queued: VecDeque<Event>,
    completion_bytes: usize,
    /// The stream reached its end (done, safety or error) and was recorded.
    finished: bool,
}

impl Relay {
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.queued.pop_front() {
                return Some(e);
            }
            if self.finished {
                return None;
            }
            match self.upstream.next().await {
                Some(Ok(bytes)) => {
                    let mut events = Vec::new();
                    if let Err(why) = self.parser.feed(&bytes, &mut events) {
                        self.fail(why).await;
                        continue;
                    }
                    for e in events {
                        if !self.finished {
                            self.handle(e).await;
                        }
                    }
                }
                Some(Err(e)) => {
                    let why = format!("the gateway stream broke: {}", e.without_url());
                    self.fail(&why).await;
                }
                None => self.fail("the gateway stream ended early").await,
            }
        }
    }

    async fn handle(&mut self, e: SseEvent) {
        let data: Value = serde_json::from_str(&e.data).unwrap_or(Value::Null);
        match e.event.as_str() {
            "" => {
                if let Some(delta) = data["delta"].as_str() {
                    self.completion_bytes += delta.len();
                    self.queued
                        .push_back(Event::default().data(json!({ "delta": delta }).to_string()));
                }
            }
            "done" => {
                self.finished = true;
                let usage = Usage::of(&data["usage"]).unwrap_or_default();
                let mut inv = self.call.invocation("completed", None);
                inv.provider = data["provider"].as_str().map(str::to_owned);
                inv.model = data["model"].as_str().map(str::to_owned);
                inv.prompt_tokens = usage.prompt_tokens;
                inv.completion_tokens = usage.completion_tokens;
                inv.safety = data["safety"].clone();
                inv.events = ["input", "output"]
                    .into_iter()
                    .filter_map(|d| event_of(d, &data["safety"][d]))
                    .collect();
                let id = self.call.record(&inv).await;
                self.queued.push_back(
                    Event::default().event("done").data(
                        json!({
                            "provider": inv.provider,
                            "model": inv.model,
                            "usage": usage,
                            "safety": data["safety"],
                            "invocation_id": id,
                            "requires_review": self.call.requires_review,
                        })
                        .to_string(),
                    ),
                );
            }
            "safety" => {
                self.finished = true;
                let body = refuse_unsafe(&self.call, &data["error"]).await.body();
                self.queued
                    .push_back(Event::default().event("safety").data(body.to_string()));
            }
            "error" => {
                let message = data["error"]["message"]
                    .as_str()
                    .unwrap_or("the AI provider failed")
                    .to_owned();
                self.fail(&message).await;
            }
            _ => {}
        }
    }

    /// Ends the stream with `event: error`, recorded as failed.
    async fn fail(&mut self, why: &str) {
        self.finished = true;
        let why: String = why.chars().take(300).collect();
        let mut inv = self.call.invocation("failed", Some(why.clone()));
        inv.completion_tokens = u32::try_from(self.completion_bytes.div_ceil(4)).unwrap_or(0);
        self.call.record(&inv).await;
        self.queued.push_back(
            Event::default().event("error").data(
                json!({"error": {"code": "ai_gateway_error", "message": format!("the AI service could not finish: {why}")}})
                    .to_string(),
            ),
        );
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // The client went away mid-stream: dropping `upstream` closed the gateway
        // connection (and the gateway's to the provider); record what was used.
        let mut inv = self
            .call
            .invocation("failed", Some("the client closed the stream".into()));
        inv.completion_tokens = u32::try_from(self.completion_bytes.div_ceil(4)).unwrap_or(0);
        let db = self.call.db.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if let Err(e) = record(&db, &inv).await {
                    tracing::error!(error = %e, "recording an abandoned AI stream failed");
                }
            });
        }
    }
}

/// `POST /api/v1/ai/generate_stream`: Server-Sent Events — `data: {"delta"}` pieces as
/// the gateway releases them (screened, with its hold-back), then `event: done` (usage,
/// verdicts, `invocation_id`), or `event: safety` (the answer was withheld) or
/// `event: error`. Refusals before the first byte are ordinary JSON errors.
pub async fn generate_stream(
    State(state): State<AppState>,
    scope: TenantScope,
    ApiJson(body): ApiJson<GenerateRequest>,
) -> ApiResult<Response> {
    let call = prepare(&state, scope, body, true).await?;
    let response = match gateway_request(&state, "/v1/generate_stream", &call)?
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => return Err(unreachable(&call, e).await),
    };
    let status = response.status().as_u16();
    if status != 200 {
        let body: Value = response.json().await.unwrap_or(Value::Null);
        return Err(gateway_failure(&call, status, &body).await);
    }
    let relay = Relay {
        call,
        upstream: response.bytes_stream().boxed(),
        parser: SseParser::default(),
        queued: VecDeque::new(),
        completion_bytes: 0,
        finished: false,
    };
    let events = futures::stream::unfold(relay, |mut r| async move {
        let e = r.next().await?;
        Some((Ok::<_, Infallible>(e), r))
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}
