//! Test support (feature `testing`, for this crate's tests and the core's): a loopback
//! fake provider speaking the OpenAI chat-completions and Anthropic Messages wire
//! formats, streaming (SSE) and not. The model name picks the behaviour:
//!
//! * `lesson`, `phone`, `script`: an answer (the script one split inside `<script>`);
//! * `retry`: 429 with `Retry-After: 1` on the first request, then an answer;
//! * `fail500`: always 500;
//! * `slow`: headers only after 3 s;
//! * `drip`: a chunk every 20 ms forever (to see the connection closed);
//! * `cutoff`: two chunks, then the connection breaks mid-stream.
//!
//! It counts requests (per model too) and the streams whose connection was closed
//! before they ended.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use futures::stream::{self, StreamExt};
use serde_json::{json, Value};

pub const OPENAI_KEY: &str = "sk-test-openai-key-0123456789";
pub const ANTHROPIC_KEY: &str = "sk-ant-test-key-0123456789";

#[derive(Default)]
pub struct Counters {
    pub requests: AtomicUsize,
    pub closed_streams: AtomicUsize,
    per_model: Mutex<HashMap<String, usize>>,
}

impl Counters {
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
    pub fn closed(&self) -> usize {
        self.closed_streams.load(Ordering::SeqCst)
    }
    pub fn for_model(&self, model: &str) -> usize {
        self.per_model
            .lock()
            .unwrap()
            .get(model)
            .copied()
            .unwrap_or(0)
    }
}

pub struct Fake {
    pub url: String,
    pub counters: Arc<Counters>,
}

pub async fn start() -> Fake {
    let counters = Arc::new(Counters::default());
    let app = Router::new()
        .route("/v1/chat/completions", post(openai))
        .route("/v1/messages", post(anthropic))
        .with_state(counters.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Fake { url, counters }
}

fn chunks(model: &str) -> Vec<&'static str> {
    match model {
        "phone" => vec![
            "For help, call the office. ",
            "Call me at (555) 123-",
            "4567 any time.",
        ],
        "script" => vec![
            "Here is the page: <scr",
            "ipt>alert('hi')</scr",
            "ipt> Enjoy!",
        ],
        _ => vec![
            "Lesson plan on fractions. ",
            "Warm-up: fold a paper strip in halves and quarters. ",
            "Practice: compare one half and two quarters. ",
            "Exit ticket: draw three quarters.",
        ],
    }
}

/// Counts the request; `Some(response)` for the behaviours that answer no text.
async fn before(counters: &Counters, model: &str, stream: bool) -> Option<Response> {
    counters.requests.fetch_add(1, Ordering::SeqCst);
    let n = {
        let mut m = counters.per_model.lock().unwrap();
        let n = m.entry(model.to_owned()).or_default();
        *n += 1;
        *n
    };
    match model {
        "retry" if n == 1 => Some(
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "1")],
                Json(json!({"error": {"message": "rate limited"}})),
            )
                .into_response(),
        ),
        "fail500" => Some(StatusCode::INTERNAL_SERVER_ERROR.into_response()),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            None
        }
        "drip" | "cutoff" if !stream => Some(StatusCode::BAD_REQUEST.into_response()),
        _ => None,
    }
}

/// Counts a stream closed before its end when dropped.
struct Guard(Arc<Counters>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.closed_streams.fetch_add(1, Ordering::SeqCst);
    }
}

/// An SSE body: `events` one by one, then (drip) forever or (cutoff) a broken stream.
fn sse(counters: Arc<Counters>, model: &str, events: Vec<String>, tail: Vec<String>) -> Response {
    let body: futures::stream::BoxStream<'static, Result<Bytes, std::io::Error>> = match model {
        "drip" => {
            let guard = Guard(counters);
            Box::pin(stream::unfold((0u64, guard), |(i, guard)| async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let event = format!(
                    "data: {}\n\n",
                    json!({"choices": [{"delta": {"content": format!("Word {i}. ")}}]})
                );
                Some((Ok(Bytes::from(event)), (i + 1, guard)))
            }))
        }
        "cutoff" => Box::pin(
            stream::iter(events.into_iter().take(3).map(|e| Ok(Bytes::from(e)))).chain(
                stream::once(async {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Err(std::io::Error::other("connection reset"))
                }),
            ),
        ),
        _ => Box::pin(stream::iter(
            events
                .into_iter()
                .chain(tail)
                .map(|e| Ok::<_, std::io::Error>(Bytes::from(e))),
        )),
    };
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(body))
        .unwrap()
}

async fn openai(
    State(counters): State<Arc<Counters>>,
    headers: HeaderMap,
    Json(req): Json<Value>,
) -> Result<Response, Infallible> {
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {OPENAI_KEY}"))
    {
        return Ok(StatusCode::UNAUTHORIZED.into_response());
    }
    let model = req["model"].as_str().unwrap_or_default().to_owned();
    let stream = req["stream"].as_bool().unwrap_or(false);
    if let Some(r) = before(&counters, &model, stream).await {
        return Ok(r);
    }
    let parts = chunks(&model);
    if !stream {
        return Ok(Json(json!({
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": parts.concat()}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 22, "total_tokens": 33},
        }))
        .into_response());
    }
    let events = parts
        .iter()
        .map(|p| {
            format!(
                "data: {}\n\n",
                json!({"choices": [{"index": 0, "delta": {"content": p}}]})
            )
        })
        .collect();
    let tail = vec![
        format!(
            "data: {}\n\n",
            json!({"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 22, "total_tokens": 33}})
        ),
        "data: [DONE]\n\n".to_owned(),
    ];
    Ok(sse(counters, &model, events, tail))
}

async fn anthropic(
    State(counters): State<Arc<Counters>>,
    headers: HeaderMap,
    Json(req): Json<Value>,
) -> Result<Response, Infallible> {
    if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some(ANTHROPIC_KEY)
        || headers.get("anthropic-version").is_none()
    {
        return Ok(StatusCode::UNAUTHORIZED.into_response());
    }
    let model = req["model"].as_str().unwrap_or_default().to_owned();
    let stream = req["stream"].as_bool().unwrap_or(false);
    if let Some(r) = before(&counters, &model, stream).await {
        return Ok(r);
    }
    let parts = chunks(&model);
    if !stream {
        return Ok(Json(json!({
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": parts.concat()}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 12, "output_tokens": 24},
        }))
        .into_response());
    }
    let ev = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    let mut events = vec![
        ev(
            "message_start",
            json!({"type": "message_start", "message": {"model": model, "usage": {"input_tokens": 12, "output_tokens": 1}}}),
        ),
        ev(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        ev("ping", json!({"type": "ping"})),
    ];
    for p in parts {
        events.push(ev(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}),
        ));
    }
    let tail = vec![
        ev(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        ev(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 24}}),
        ),
        ev("message_stop", json!({"type": "message_stop"})),
    ];
    Ok(sse(counters, &model, events, tail))
}

/// The key the fake moderation endpoint expects (`Authorization: Bearer`).
pub const MODERATION_KEY: &str = "sk-test-moderation-key-0123456789";

/// A loopback OpenAI-moderation-compatible endpoint (`POST /v1/moderations`). The text
/// picks the verdict: `FIGHTME` or `Exit ticket` (the fake provider's lesson answer) is
/// violence, `HURTME` self-harm intent, `SLOWME` answers after 3 s; anything else is
/// clear. It counts requests; a wrong key is a 401.
pub struct FakeModeration {
    pub url: String,
    pub requests: Arc<AtomicUsize>,
}

pub async fn start_moderation() -> FakeModeration {
    let requests = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route("/v1/moderations", post(moderations))
        .with_state(requests.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    FakeModeration { url, requests }
}

async fn moderations(
    State(requests): State<Arc<AtomicUsize>>,
    headers: HeaderMap,
    Json(req): Json<Value>,
) -> Response {
    requests.fetch_add(1, Ordering::SeqCst);
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {MODERATION_KEY}"))
    {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let input = req["input"].as_str().unwrap_or_default();
    if input.contains("SLOWME") {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    let violence = input.contains("FIGHTME") || input.contains("Exit ticket");
    let self_harm = input.contains("HURTME");
    let score = |b: bool| if b { 0.93 } else { 0.001 };
    Json(json!({
        "id": "modr-1",
        "model": req["model"].as_str().unwrap_or("fake-moderation"),
        "results": [{
            "flagged": violence || self_harm,
            "categories": {"violence": violence, "self-harm/intent": self_harm, "sexual": false},
            "category_scores": {"violence": score(violence), "self-harm/intent": score(self_harm), "sexual": 0.001},
        }],
    }))
    .into_response()
}
