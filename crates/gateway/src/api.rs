//! The HTTP API: `/v1/health`, `/v1/providers`, `/v1/generate`, `/v1/generate_stream`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use safety::{Action, Direction, Level, Pipeline, Policy, Screener, Verdict};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::providers::{
    estimate_tokens, ChatRequest, Delta, DeltaStream, Message, Provider, Role, Usage,
};
use crate::Gateway;

/// Largest prompt accepted, all messages together (bytes).
pub const MAX_PROMPT_BYTES: usize = 128 * 1024;
pub const MAX_MESSAGES: usize = 200;
pub const MAX_TOKENS_LIMIT: u32 = 32_768;
pub const DEFAULT_MAX_TOKENS: u32 = 1024;

/// `POST /v1/generate` and `/v1/generate_stream`.
#[derive(Debug, Deserialize)]
pub struct GenerateRequest {
    pub provider: Option<String>,
    pub model: Option<String>,
    pub messages: Option<Vec<Message>>,
    pub prompt: Option<String>,
    pub task_type: Option<String>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    #[serde(default)]
    pub context: RequestContext,
}

/// Who asks, for screening and logs. Missing values are the strictest: a student at
/// the `strict` level.
#[derive(Debug, Default, Deserialize)]
pub struct RequestContext {
    pub tenant_id: Option<String>,
    pub safety_level: Option<String>,
    pub task_type: Option<String>,
    pub user_role: Option<String>,
}

/// A request that passed validation and the input screen.
struct Prepared<'g> {
    provider: &'g Provider,
    /// The screened prompt text (for the moderation stage).
    screened: String,
    chat: ChatRequest,
    policy: Policy,
    input: Verdict,
    tenant_id: String,
}

pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub async fn providers(State(gw): State<Arc<Gateway>>) -> Json<Value> {
    let all = gw.providers.all();
    Json(json!({
        "default": all.first().map(|p| p.kind().name()),
        "providers": all.iter().map(Provider::describe).collect::<Vec<_>>(),
    }))
}

pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

/// Every route but health: `Authorization: Bearer <K12_GATEWAY_TOKEN>`, compared as
/// SHA-256 digests in constant time (no early exit, no length leak).
pub async fn require_token(
    State(gw): State<Arc<Gateway>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(expected) = &gw.token_digest {
        let presented = request
            .headers()
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| crate::digest(t.trim()));
        let ok = presented.is_some_and(|p| {
            p.iter()
                .zip(expected.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
        });
        if !ok {
            return ApiError::unauthorized().into_response();
        }
    }
    next.run(request).await
}

fn parse_body(
    body: Result<Json<GenerateRequest>, JsonRejection>,
) -> Result<GenerateRequest, ApiError> {
    match body {
        Ok(Json(r)) => Ok(r),
        Err(JsonRejection::JsonDataError(e)) => Err(ApiError::validation(e.body_text())),
        Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the request as JSON (Content-Type: application/json)",
        )),
        Err(e) => Err(ApiError::new(
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            },
            "malformed_request",
            e.body_text(),
        )),
    }
}

fn prepare(gw: &Gateway, req: GenerateRequest) -> Result<Prepared<'_>, ApiError> {
    let provider = gw.providers.get(req.provider.as_deref()).ok_or_else(|| {
        let names: Vec<_> = gw.providers.all().iter().map(|p| p.kind().name()).collect();
        ApiError::validation(format!(
            "provider {:?} is not configured on this gateway; configured: {}",
            req.provider
                .as_deref()
                .unwrap_or_default()
                .chars()
                .take(64)
                .collect::<String>(),
            names.join(", ")
        ))
        .with("field", json!("provider"))
    })?;
    let messages = match (req.messages, req.prompt) {
        (Some(_), Some(_)) => {
            return Err(ApiError::validation(
                "send either messages or prompt, not both",
            ))
        }
        (None, None) => return Err(ApiError::validation("messages or prompt is required")),
        (None, Some(prompt)) => vec![Message {
            role: Role::User,
            content: prompt,
        }],
        (Some(messages), None) => messages,
    };
    if messages.len() > MAX_MESSAGES {
        return Err(ApiError::validation(format!(
            "at most {MAX_MESSAGES} messages"
        )));
    }
    if !messages
        .iter()
        .any(|m| m.role == Role::User && !m.content.trim().is_empty())
    {
        return Err(ApiError::validation(
            "a non-empty user message (or prompt) is required",
        ));
    }
    let size: usize = messages.iter().map(|m| m.content.len()).sum();
    if size > MAX_PROMPT_BYTES {
        return Err(ApiError::validation(format!(
            "the prompt is {size} bytes; at most {MAX_PROMPT_BYTES}"
        )));
    }
    let max_tokens = req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
    if !(1..=MAX_TOKENS_LIMIT).contains(&max_tokens) {
        return Err(
            ApiError::validation(format!("max_tokens must be 1..={MAX_TOKENS_LIMIT}"))
                .with("field", json!("max_tokens")),
        );
    }
    if let Some(t) = req.temperature {
        if !(0.0..=2.0).contains(&t) {
            return Err(ApiError::validation("temperature must be 0..=2")
                .with("field", json!("temperature")));
        }
    }
    let model = req
        .model
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| provider.default_model().to_owned());
    if model.len() > 200 {
        return Err(ApiError::validation("model is at most 200 characters"));
    }
    let ctx = req.context;
    let level = match ctx.safety_level.as_deref() {
        None => Level::Strict,
        Some(v) => Level::from_str(v).map_err(|e| {
            ApiError::validation(format!(
                "context.safety_level: {e}; use strict, moderate or standard"
            ))
        })?,
    };
    let role = match ctx.user_role.as_deref() {
        None => safety::Role::Student,
        Some(v) => safety::Role::from_str(v).map_err(|e| {
            ApiError::validation(format!(
                "context.user_role: {e}; use student, guardian, teacher, curriculum_lead or admin"
            ))
        })?,
    };
    let task_type = req.task_type.or(ctx.task_type);
    if task_type.as_ref().is_some_and(|t| t.len() > 64) {
        return Err(ApiError::validation("task_type is at most 64 characters"));
    }
    let tenant_id: String = ctx.tenant_id.unwrap_or_default().chars().take(64).collect();
    // Staff prompts are judged at `standard` at most: the library's Policy does that.
    let policy = Policy::new(level, role);
    let screened = screened_text(&messages);
    let input = gw.pipeline.check_input(&screened, &policy);
    if !input.passed {
        tracing::info!(
            tenant_id,
            task_type = task_type.as_deref().unwrap_or(""),
            action = input.action.as_str(),
            category = input.category.map(|c| c.as_str()).unwrap_or(""),
            "prompt withheld"
        );
        return Err(safety_error(&input, Direction::Input));
    }
    Ok(Prepared {
        provider,
        screened,
        chat: ChatRequest {
            model,
            messages,
            max_tokens,
            temperature: req.temperature,
            task_type,
        },
        policy,
        input,
        tenant_id,
    })
}

/// What the input screen reads: every user and assistant turn (system text is the
/// core's own instructions).
fn screened_text(messages: &[Message]) -> String {
    messages
        .iter()
        .filter(|m| m.role != Role::System)
        .map(|m| m.content.as_str())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// A verdict as the response shows it: every field and event, not the rewritten text
/// (the content carries it).
fn verdict_json(v: &Verdict) -> Value {
    let mut v = v.clone();
    v.text = None;
    serde_json::to_value(&v).unwrap_or(Value::Null)
}

/// 422 `content_safety`: the text is withheld. Self-harm is escalated and named
/// `self_harm`, so the core can flag it for the tenant's designated staff.
fn safety_error(v: &Verdict, direction: Direction) -> ApiError {
    let escalated = v.action == Action::Escalated;
    let category = if escalated {
        "self_harm"
    } else {
        v.category.map(|c| c.as_str()).unwrap_or("inappropriate")
    };
    let what = match direction {
        Direction::Input => "prompt",
        Direction::Output => "answer",
    };
    let message = if escalated {
        format!("the {what} was withheld and flagged for the school's designated staff")
    } else {
        format!("the {what} was withheld by the content-safety screen")
    };
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "content_safety", message)
        .with("category", json!(category))
        .with("subcategory", json!(v.subcategory))
        .with("action", json!(v.action.as_str()))
        .with(
            "direction",
            json!(match direction {
                Direction::Input => "input",
                Direction::Output => "output",
            }),
        )
        .with("verdict", verdict_json(v))
}

/// 503 `moderation_unavailable`: the moderation stage failed on a student's text.
fn moderation_unavailable() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "moderation_unavailable",
        "the moderation service did not answer; a student's text is withheld until it does",
    )
}

/// The moderation stage on `verdict` (which passed the local screen) for `text`: the
/// stricter verdict wins. A failed call withholds a student's text and lets staff text
/// through on the local verdict (see `moderation`).
async fn moderate(
    gw: &Gateway,
    text: &str,
    verdict: Verdict,
    policy: &Policy,
    direction: Direction,
    tenant_id: &str,
) -> Result<Verdict, ApiError> {
    let Some(m) = &gw.moderator else {
        return Ok(verdict);
    };
    if !verdict.passed || text.trim().is_empty() {
        return Ok(verdict);
    }
    let staff = policy.role.is_staff();
    match m.check(text).await {
        Ok(found) => Ok(crate::moderation::combine(
            verdict,
            &found,
            staff && direction == Direction::Input,
        )),
        Err(why) if staff => {
            tracing::warn!(
                tenant_id,
                error = why,
                "moderation failed; staff text passes on the local screen"
            );
            Ok(verdict)
        }
        Err(why) => {
            tracing::warn!(
                tenant_id,
                error = why,
                "moderation failed; student text withheld"
            );
            Err(moderation_unavailable())
        }
    }
}

/// `prepare`, then the moderation stage on the prompt.
async fn prepare_moderated(gw: &Gateway, req: GenerateRequest) -> Result<Prepared<'_>, ApiError> {
    let mut p = prepare(gw, req)?;
    let input = p.input.clone();
    p.input = moderate(
        gw,
        &p.screened,
        input,
        &p.policy,
        Direction::Input,
        &p.tenant_id,
    )
    .await?;
    if !p.input.passed {
        tracing::info!(
            tenant_id = p.tenant_id,
            action = p.input.action.as_str(),
            "prompt withheld by the moderation stage"
        );
        return Err(safety_error(&p.input, Direction::Input));
    }
    Ok(p)
}

fn prompt_tokens(chat: &ChatRequest) -> u32 {
    chat.messages
        .iter()
        .map(|m| estimate_tokens(&m.content))
        .sum()
}

pub async fn generate(
    State(gw): State<Arc<Gateway>>,
    body: Result<Json<GenerateRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let p = prepare_moderated(&gw, parse_body(body)?).await?;
    let provider = p.provider.kind().name();
    let completion = p.provider.complete(&p.chat).await.map_err(|e| {
        tracing::warn!(tenant_id = p.tenant_id, provider, error = %e, "generate failed");
        ApiError::from(e)
    })?;
    let output = gw.pipeline.check_output(&completion.content, &p.policy);
    let delivered = output
        .text
        .as_deref()
        .unwrap_or(&completion.content)
        .to_owned();
    let output = moderate(
        &gw,
        &delivered,
        output,
        &p.policy,
        Direction::Output,
        &p.tenant_id,
    )
    .await?;
    let usage = completion.usage.unwrap_or_else(|| {
        Usage::new(prompt_tokens(&p.chat), estimate_tokens(&completion.content))
    });
    tracing::info!(
        tenant_id = p.tenant_id,
        task_type = p.chat.task_type.as_deref().unwrap_or(""),
        provider,
        model = completion.model,
        input = p.input.action.as_str(),
        output = output.action.as_str(),
        prompt_tokens = usage.prompt_tokens,
        completion_tokens = usage.completion_tokens,
        "generate"
    );
    if !output.passed {
        return Err(safety_error(&output, Direction::Output).with("usage", json!(usage)));
    }
    let content = output.text.clone().unwrap_or(completion.content);
    Ok(Json(json!({
        "content": content,
        "provider": provider,
        "model": completion.model,
        "usage": usage,
        "safety": {"input": verdict_json(&p.input), "output": verdict_json(&output)},
    })))
}

/// The state of one screened stream.
struct Relay {
    gw: Arc<Gateway>,
    policy: Policy,
    /// Text the screener released that the moderation stage has not seen yet (only when
    /// it is configured): sent in batches of [`MODERATION_BATCH_BYTES`] once it passed.
    held: String,
    upstream: DeltaStream,
    screener: Option<Screener<'static>>,
    queued: VecDeque<Event>,
    provider: &'static str,
    model: String,
    input: Value,
    tenant_id: String,
    prompt_estimate: u32,
    prompt_tokens: Option<u32>,
    completion_tokens: Option<u32>,
    completion_bytes: usize,
}

/// With a moderation stage, streamed text is released in batches of about this size, each
/// moderated before any of it is sent (the rest at the end of the answer).
const MODERATION_BATCH_BYTES: usize = 512;

fn data(value: &Value) -> Event {
    Event::default().data(value.to_string())
}

impl Relay {
    /// Moderates the held text: its delta when it passes, else the event that ends the
    /// stream (`safety` when flagged, `error` when the stage failed for a student).
    async fn release_held(&mut self) -> Event {
        let text = std::mem::take(&mut self.held);
        let clear = self.gw.pipeline.check_output("", &self.policy);
        let verdict = moderate(
            &self.gw,
            &text,
            clear,
            &self.policy,
            Direction::Output,
            &self.tenant_id,
        )
        .await;
        match verdict {
            Ok(v) if v.passed => data(&json!({ "delta": text })),
            Ok(v) => {
                self.screener = None;
                let e = safety_error(&v, Direction::Output).with("usage", json!(self.usage()));
                Event::default().event("safety").data(e.body().to_string())
            }
            Err(e) => {
                self.screener = None;
                Event::default().event("error").data(e.body().to_string())
            }
        }
    }

    fn usage(&self) -> Usage {
        Usage::new(
            self.prompt_tokens.unwrap_or(self.prompt_estimate),
            self.completion_tokens.unwrap_or_else(|| {
                u32::try_from(self.completion_bytes.div_ceil(4)).unwrap_or(u32::MAX)
            }),
        )
    }

    /// The next event, or `None` when the stream is over.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.queued.pop_front() {
                return Some(e);
            }
            let screener = self.screener.as_mut()?;
            match self.upstream.next().await {
                Some(Ok(Delta::Text(t))) => {
                    self.completion_bytes += t.len();
                    let released = screener.push(&t);
                    if !released.is_empty() {
                        if self.gw.moderator.is_none() {
                            return Some(data(&json!({"delta": released})));
                        }
                        self.held.push_str(&released);
                        if self.held.len() >= MODERATION_BATCH_BYTES {
                            return Some(self.release_held().await);
                        }
                    }
                }
                Some(Ok(Delta::Usage {
                    prompt_tokens,
                    completion_tokens,
                })) => {
                    self.prompt_tokens = prompt_tokens.or(self.prompt_tokens);
                    self.completion_tokens = completion_tokens.or(self.completion_tokens);
                }
                Some(Err(e)) => {
                    // Text still held back is not released: the answer is incomplete.
                    self.screener = None;
                    tracing::warn!(tenant_id = self.tenant_id, provider = self.provider, error = %e, "stream failed");
                    return Some(
                        Event::default()
                            .event("error")
                            .data(ApiError::from(e).body().to_string()),
                    );
                }
                None => {
                    let mut end = self.screener.take()?.finish();
                    let usage = self.usage();
                    tracing::info!(
                        tenant_id = self.tenant_id,
                        provider = self.provider,
                        model = self.model,
                        output = end.verdict.action.as_str(),
                        prompt_tokens = usage.prompt_tokens,
                        completion_tokens = usage.completion_tokens,
                        "generate_stream"
                    );
                    if self.gw.moderator.is_some() && end.verdict.passed {
                        let mut text = std::mem::take(&mut self.held);
                        text.push_str(&end.tail);
                        end.tail = text;
                        match moderate(
                            &self.gw,
                            &end.tail,
                            end.verdict,
                            &self.policy,
                            Direction::Output,
                            &self.tenant_id,
                        )
                        .await
                        {
                            Ok(v) => end.verdict = v,
                            Err(e) => {
                                return Some(
                                    Event::default().event("error").data(e.body().to_string()),
                                )
                            }
                        }
                        if !end.verdict.passed {
                            end.tail.clear();
                        }
                    }
                    if !end.tail.is_empty() {
                        self.queued.push_back(data(&json!({"delta": end.tail})));
                    }
                    if end.verdict.passed {
                        self.queued.push_back(Event::default().event("done").data(
                            json!({
                                "provider": self.provider,
                                "model": self.model,
                                "usage": usage,
                                "safety": {"input": self.input, "output": verdict_json(&end.verdict)},
                            })
                            .to_string(),
                        ));
                    } else {
                        let e = safety_error(&end.verdict, Direction::Output)
                            .with("usage", json!(usage));
                        self.queued
                            .push_back(Event::default().event("safety").data(e.body().to_string()));
                    }
                }
            }
        }
    }
}

/// Streams the answer as SSE: `data: {"delta"}` pieces released by the library's
/// streaming screener (hold-back), then `event: done` with usage and verdicts, or
/// `event: safety` (withheld; nothing of the blocked text was sent) or `event: error`.
/// A client that goes away drops the relay and with it the provider connection.
pub async fn generate_stream(
    State(gw): State<Arc<Gateway>>,
    body: Result<Json<GenerateRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let p = prepare_moderated(&gw, parse_body(body)?).await?;
    let provider = p.provider.kind().name();
    let upstream = p.provider.stream(&p.chat).await.map_err(|e| {
        tracing::warn!(tenant_id = p.tenant_id, provider, error = %e, "generate_stream failed");
        ApiError::from(e)
    })?;
    let relay = Relay {
        gw: gw.clone(),
        policy: p.policy.clone(),
        held: String::new(),
        upstream,
        screener: Some(gw.pipeline.screener(Direction::Output, &p.policy)),
        queued: VecDeque::new(),
        provider,
        model: p.chat.model.clone(),
        input: verdict_json(&p.input),
        tenant_id: p.tenant_id,
        prompt_estimate: prompt_tokens(&p.chat),
        prompt_tokens: None,
        completion_tokens: None,
        completion_bytes: 0,
    };
    let events = futures::stream::unfold(relay, |mut r| async move {
        let e = r.next().await?;
        Some((Ok::<_, Infallible>(e), r))
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// The shared pipeline type, so `Gateway` can hold `&'static`.
pub type SharedPipeline = &'static Pipeline;
