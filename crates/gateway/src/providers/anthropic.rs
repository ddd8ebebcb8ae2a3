//! The Anthropic Messages API (`POST {base}/v1/messages`).

use serde_json::{json, Value};

use super::http::{sse_stream, Decoded, HttpProvider, SseEvent};
use super::{ChatRequest, Completion, Delta, DeltaStream, ProviderError, Role, Usage};

const VERSION: &str = "2023-06-01";

fn body(req: &ChatRequest, stream: bool) -> Value {
    // System messages become the top-level `system`; consecutive turns of one role are
    // merged, since the API wants user and assistant turns to alternate.
    let system: Vec<&str> = req
        .messages
        .iter()
        .filter(|m| m.role == Role::System)
        .map(|m| m.content.as_str())
        .collect();
    let mut turns: Vec<(Role, String)> = Vec::new();
    for m in req.messages.iter().filter(|m| m.role != Role::System) {
        match turns.last_mut() {
            Some((role, text)) if *role == m.role => {
                text.push_str("\n\n");
                text.push_str(&m.content);
            }
            _ => turns.push((m.role, m.content.clone())),
        }
    }
    let messages: Vec<Value> = turns
        .iter()
        .map(|(role, text)| json!({"role": role.as_str(), "content": text}))
        .collect();
    let mut body = json!({
        "model": req.model,
        "max_tokens": req.max_tokens,
        "messages": messages,
        "stream": stream,
    });
    if !system.is_empty() {
        body["system"] = json!(system.join("\n\n"));
    }
    if let Some(t) = req.temperature {
        // Anthropic's range is 0..=1.
        body["temperature"] = json!(t.min(1.0));
    }
    body
}

async fn send(
    p: &HttpProvider,
    req: &ChatRequest,
    stream: bool,
) -> Result<reqwest::Response, ProviderError> {
    let url = format!("{}/v1/messages", p.base_url);
    let body = body(req, stream);
    p.send(|| {
        let mut b = p
            .client()
            .post(&url)
            .header("anthropic-version", VERSION)
            .json(&body);
        if let Some(key) = &p.api_key {
            b = b.header("x-api-key", key.expose());
        }
        if stream {
            b = b.header(reqwest::header::ACCEPT, "text/event-stream");
        }
        b
    })
    .await
}

pub async fn complete(p: &HttpProvider, req: &ChatRequest) -> Result<Completion, ProviderError> {
    let v = p.json(send(p, req, false).await?).await?;
    let blocks = v
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| ProviderError::Upstream("the answer has no content".into()))?;
    let content: String = blocks
        .iter()
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .collect();
    let usage = v.get("usage").and_then(|u| {
        Some(Usage::new(
            u.get("input_tokens")?.as_u64()? as u32,
            u.get("output_tokens")?.as_u64()? as u32,
        ))
    });
    Ok(Completion {
        content,
        model: v
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or(&req.model)
            .to_owned(),
        usage,
    })
}

pub async fn stream(p: &HttpProvider, req: &ChatRequest) -> Result<DeltaStream, ProviderError> {
    let resp = send(p, req, true).await?;
    Ok(sse_stream(resp, p.timeout(), decode))
}

fn decode(event: &SseEvent) -> Decoded {
    let mut d = Decoded::default();
    let Ok(v) = serde_json::from_str::<Value>(&event.data) else {
        // `ping` and unknown events may carry anything.
        return d;
    };
    let kind = v
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or(&event.event);
    let tokens = |ptr: &str| v.pointer(ptr).and_then(Value::as_u64).map(|n| n as u32);
    match kind {
        "message_start" => d.deltas.push(Delta::Usage {
            prompt_tokens: tokens("/message/usage/input_tokens"),
            completion_tokens: None,
        }),
        "content_block_delta" => {
            if let Some(text) = v.pointer("/delta/text").and_then(Value::as_str) {
                if !text.is_empty() {
                    d.deltas.push(Delta::Text(text.to_owned()));
                }
            }
        }
        "message_delta" => {
            if let Some(n) = tokens("/usage/output_tokens") {
                d.deltas.push(Delta::Usage {
                    prompt_tokens: tokens("/usage/input_tokens"),
                    completion_tokens: Some(n),
                });
            }
        }
        "message_stop" => d.done = true,
        "error" => {
            let overloaded =
                v.pointer("/error/type").and_then(Value::as_str) == Some("overloaded_error");
            d.error = Some(if overloaded {
                ProviderError::Unavailable("overloaded".into())
            } else {
                ProviderError::Upstream("the provider reported an error mid-stream".into())
            });
        }
        _ => {}
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::Message;

    fn event(data: &str) -> SseEvent {
        SseEvent {
            event: String::new(),
            data: data.into(),
        }
    }

    #[test]
    fn system_goes_top_level_and_turns_alternate() {
        let m = |role, c: &str| Message {
            role,
            content: c.into(),
        };
        let req = ChatRequest {
            model: "m".into(),
            messages: vec![
                m(Role::System, "be kind"),
                m(Role::User, "a"),
                m(Role::User, "b"),
                m(Role::Assistant, "c"),
            ],
            max_tokens: 10,
            temperature: Some(1.5),
            task_type: None,
        };
        let b = body(&req, false);
        assert_eq!(b["system"], "be kind");
        assert_eq!(b["messages"].as_array().unwrap().len(), 2);
        assert_eq!(b["messages"][0]["content"], "a\n\nb");
        assert_eq!(b["temperature"], 1.0);
    }

    #[test]
    fn decodes_the_event_types() {
        let d = decode(&event(
            r#"{"type":"message_start","message":{"usage":{"input_tokens":9}}}"#,
        ));
        assert_eq!(
            d.deltas,
            vec![Delta::Usage {
                prompt_tokens: Some(9),
                completion_tokens: None
            }]
        );
        let d = decode(&event(
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#,
        ));
        assert_eq!(d.deltas, vec![Delta::Text("Hi".into())]);
        assert!(decode(&event(r#"{"type":"message_stop"}"#)).done);
        assert_eq!(
            decode(&event(
                r#"{"type":"error","error":{"type":"overloaded_error","message":"x"}}"#
            ))
            .error,
            Some(ProviderError::Unavailable("overloaded".into()))
        );
    }
}
