//! OpenAI-compatible chat completions (`POST {base}/chat/completions`): OpenAI, Azure
//! OpenAI, vLLM, Ollama.

use serde_json::{json, Value};

use super::http::{sse_stream, status_error, Decoded, HttpProvider, SseEvent};
use super::{ChatRequest, Completion, Delta, DeltaStream, ProviderError, Usage};

fn body(req: &ChatRequest, stream: bool) -> Value {
    let messages: Vec<Value> = req
        .messages
        .iter()
        .map(|m| json!({"role": m.role.as_str(), "content": m.content}))
        .collect();
    let mut body = json!({
        "model": req.model,
        "messages": messages,
        "max_tokens": req.max_tokens,
        "stream": stream,
    });
    if let Some(t) = req.temperature {
        body["temperature"] = json!(t);
    }
    if stream {
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

async fn send(
    p: &HttpProvider,
    req: &ChatRequest,
    stream: bool,
) -> Result<reqwest::Response, ProviderError> {
    let url = format!("{}/chat/completions", p.base_url);
    let body = body(req, stream);
    p.send(|| {
        let mut b = p.client().post(&url).json(&body);
        if let Some(key) = &p.api_key {
            b = b.bearer_auth(key.expose());
        }
        if stream {
            b = b.header(reqwest::header::ACCEPT, "text/event-stream");
        }
        b
    })
    .await
}

fn usage(v: &Value) -> Option<Usage> {
    let u = v.get("usage")?;
    let prompt = u.get("prompt_tokens")?.as_u64()? as u32;
    let completion = u.get("completion_tokens")?.as_u64()? as u32;
    Some(Usage::new(prompt, completion))
}

pub async fn complete(p: &HttpProvider, req: &ChatRequest) -> Result<Completion, ProviderError> {
    let v = p.json(send(p, req, false).await?).await?;
    let content = v
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .ok_or_else(|| ProviderError::Upstream("the answer has no choices[0].message".into()))?
        .to_owned();
    Ok(Completion {
        content,
        model: v
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or(&req.model)
            .to_owned(),
        usage: usage(&v),
    })
}

pub async fn stream(p: &HttpProvider, req: &ChatRequest) -> Result<DeltaStream, ProviderError> {
    let resp = send(p, req, true).await?;
    Ok(sse_stream(resp, p.timeout(), decode))
}

fn decode(event: &SseEvent) -> Decoded {
    let mut d = Decoded::default();
    if event.data.trim() == "[DONE]" {
        d.done = true;
        return d;
    }
    let Ok(v) = serde_json::from_str::<Value>(&event.data) else {
        d.error = Some(ProviderError::Upstream(
            "the stream carried an event that is not JSON".into(),
        ));
        return d;
    };
    if let Some(e) = v.get("error") {
        let status = e
            .get("code")
            .and_then(Value::as_u64)
            .and_then(|c| reqwest::StatusCode::from_u16(c as u16).ok())
            .unwrap_or(reqwest::StatusCode::BAD_GATEWAY);
        d.error = Some(status_error(status));
        return d;
    }
    if let Some(text) = v
        .pointer("/choices/0/delta/content")
        .and_then(Value::as_str)
    {
        if !text.is_empty() {
            d.deltas.push(Delta::Text(text.to_owned()));
        }
    }
    if let Some(u) = usage(&v) {
        d.deltas.push(Delta::Usage {
            prompt_tokens: Some(u.prompt_tokens),
            completion_tokens: Some(u.completion_tokens),
        });
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(data: &str) -> SseEvent {
        SseEvent {
            event: String::new(),
            data: data.into(),
        }
    }

    #[test]
    fn decodes_deltas_usage_done_and_errors() {
        let d = decode(&event(r#"{"choices":[{"delta":{"content":"Hi"}}]}"#));
        assert_eq!(d.deltas, vec![Delta::Text("Hi".into())]);
        let d = decode(&event(
            r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}"#,
        ));
        assert_eq!(
            d.deltas,
            vec![Delta::Usage {
                prompt_tokens: Some(3),
                completion_tokens: Some(4)
            }]
        );
        assert!(decode(&event("[DONE]")).done);
        assert!(decode(&event("not json")).error.is_some());
        assert_eq!(
            decode(&event(r#"{"error":{"code":429,"message":"slow down"}}"#)).error,
            Some(ProviderError::Unavailable("HTTP 429".into()))
        );
    }
}
