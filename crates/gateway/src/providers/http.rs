//! What the HTTP providers share: one client, retries with backoff that honour
//! `Retry-After`, timeouts, and a Server-Sent Events parser.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use futures::stream;
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, Response, StatusCode};

use super::{Delta, DeltaStream, Kind, ProviderError};
use crate::config::{Config, ProviderConfig, Secret};

/// First backoff; doubled per attempt when the provider sends no `Retry-After`.
const BACKOFF_BASE: Duration = Duration::from_millis(250);

pub struct HttpProvider {
    pub kind: Kind,
    pub base_url: String,
    pub api_key: Option<Secret>,
    pub default_model: String,
    client: reqwest::Client,
    timeout: Duration,
    max_retries: u32,
    max_retry_wait: Duration,
}

impl HttpProvider {
    pub fn new(kind: Kind, c: &ProviderConfig, config: &Config) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            kind,
            base_url: c.base_url.clone(),
            api_key: c.api_key.clone(),
            default_model: c.default_model.clone(),
            client,
            timeout: config.timeout,
            max_retries: config.max_retries,
            max_retry_wait: config.max_retry_wait,
        })
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends the request built by `build` until it answers 2xx, retrying 429, 5xx and
    /// refused connections with backoff (the provider's `Retry-After` when it sends one).
    /// Returns the response once its headers are in, within the timeout per attempt.
    pub async fn send(
        &self,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Response, ProviderError> {
        let provider = self.kind.name();
        let mut attempt = 0;
        loop {
            let (error, wait) = match tokio::time::timeout(self.timeout, build().send()).await {
                Err(_) => return Err(ProviderError::Timeout),
                Ok(Err(e)) if e.is_timeout() => return Err(ProviderError::Timeout),
                Ok(Err(e)) => {
                    let why = if e.is_connect() {
                        "unreachable".to_owned()
                    } else {
                        format!("request failed: {}", e.without_url())
                    };
                    (ProviderError::Upstream(why), None)
                }
                Ok(Ok(resp)) if resp.status().is_success() => return Ok(resp),
                Ok(Ok(resp)) => {
                    let status = resp.status();
                    let wait = retry_after(resp.headers());
                    let error = match status.as_u16() {
                        429 | 503 | 529 => {
                            ProviderError::Unavailable(format!("HTTP {}", status.as_u16()))
                        }
                        s if status.is_server_error() => {
                            ProviderError::Upstream(format!("HTTP {s}"))
                        }
                        s => {
                            tracing::warn!(provider, status = s, "provider refused the request");
                            return Err(ProviderError::Rejected(s));
                        }
                    };
                    (error, wait)
                }
            };
            let wait = wait.unwrap_or(BACKOFF_BASE * 2u32.saturating_pow(attempt));
            if attempt >= self.max_retries || wait > self.max_retry_wait {
                tracing::warn!(provider, attempts = attempt + 1, error = %error, "provider failed");
                return Err(error);
            }
            tracing::info!(provider, attempt = attempt + 1, wait_ms = wait.as_millis() as u64, error = %error, "retrying the provider");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// Reads a whole (non-streamed) JSON body within the timeout.
    pub async fn json(&self, resp: Response) -> Result<serde_json::Value, ProviderError> {
        let body = tokio::time::timeout(self.timeout, resp.bytes())
            .await
            .map_err(|_| ProviderError::Timeout)?
            .map_err(|_| ProviderError::Upstream("the answer was cut off".into()))?;
        serde_json::from_slice(&body)
            .map_err(|_| ProviderError::Upstream("the answer is not JSON".into()))
    }
}

/// `Retry-After` in seconds (fractions accepted); HTTP dates fall back to the backoff.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let secs: f64 = v.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)))
}

/// One Server-Sent Event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field (empty when absent).
    pub event: String,
    /// The `data:` lines joined with newlines.
    pub data: String,
}

/// An incremental SSE parser: feed bytes as they arrive, get whole events.
#[derive(Default)]
pub struct SseParser {
    buf: Vec<u8>,
    current: SseEvent,
    has_data: bool,
}

impl SseParser {
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) {
        self.buf.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(nl) = self.buf[start..].iter().position(|&b| b == b'\n') {
            let end = start + nl;
            let line_end = if end > start && self.buf[end - 1] == b'\r' {
                end - 1
            } else {
                end
            };
            let line = String::from_utf8_lossy(&self.buf[start..line_end]).into_owned();
            start = end + 1;
            self.line(&line, out);
        }
        self.buf.drain(..start);
    }

    fn line(&mut self, line: &str, out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            if self.has_data || !self.current.event.is_empty() {
                out.push(std::mem::take(&mut self.current));
            }
            self.has_data = false;
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.current.event = value.to_owned(),
            "data" => {
                if self.has_data {
                    self.current.data.push('\n');
                }
                self.current.data.push_str(value);
                self.has_data = true;
            }
            _ => {}
        }
    }
}

/// What one provider event means.
#[derive(Default)]
pub struct Decoded {
    pub deltas: Vec<Delta>,
    /// The provider said the answer is complete.
    pub done: bool,
    pub error: Option<ProviderError>,
}

struct StreamState {
    resp: Response,
    parser: SseParser,
    queue: VecDeque<Result<Delta, ProviderError>>,
    decode: fn(&SseEvent) -> Decoded,
    idle: Duration,
    finished: bool,
}

/// Turns a provider's SSE response into deltas. A chunk that takes longer than `idle`
/// ends the stream with `Timeout`; a connection that ends before the provider's final
/// event ends it with `Upstream`. Dropping the stream drops the response and so closes
/// the provider connection.
pub fn sse_stream(resp: Response, idle: Duration, decode: fn(&SseEvent) -> Decoded) -> DeltaStream {
    let state = StreamState {
        resp,
        parser: SseParser::default(),
        queue: VecDeque::new(),
        decode,
        idle,
        finished: false,
    };
    Box::pin(stream::unfold(state, |mut s| async move {
        loop {
            if let Some(item) = s.queue.pop_front() {
                return Some((item, s));
            }
            if s.finished {
                return None;
            }
            let chunk: Result<Option<Bytes>, ProviderError> =
                match tokio::time::timeout(s.idle, s.resp.chunk()).await {
                    Err(_) => Err(ProviderError::Timeout),
                    Ok(Err(_)) => Err(ProviderError::Upstream(
                        "the stream broke off before the answer was complete".into(),
                    )),
                    Ok(Ok(c)) => Ok(c),
                };
            match chunk {
                Err(e) => {
                    s.finished = true;
                    s.queue.push_back(Err(e));
                }
                Ok(None) => {
                    s.finished = true;
                    s.queue.push_back(Err(ProviderError::Upstream(
                        "the stream ended before the answer was complete".into(),
                    )));
                }
                Ok(Some(bytes)) => {
                    let mut events = Vec::new();
                    s.parser.feed(&bytes, &mut events);
                    for event in &events {
                        let d = (s.decode)(event);
                        s.queue.extend(d.deltas.into_iter().map(Ok));
                        if let Some(e) = d.error {
                            s.queue.push_back(Err(e));
                            s.finished = true;
                            break;
                        }
                        if d.done {
                            s.finished = true;
                            break;
                        }
                    }
                }
            }
        }
    }))
}

/// Maps a provider's HTTP status in an error event to our error.
pub fn status_error(status: StatusCode) -> ProviderError {
    match status.as_u16() {
        429 | 503 | 529 => ProviderError::Unavailable(format!("HTTP {}", status.as_u16())),
        s => ProviderError::Upstream(format!("HTTP {s}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_events_split_anywhere() {
        let text = "event: a\ndata: {\"x\":1}\n\n: comment\r\ndata: one\r\ndata: two\r\n\r\ndata: [DONE]\n\n";
        for cut in 0..text.len() {
            let mut p = SseParser::default();
            let mut out = Vec::new();
            p.feed(&text.as_bytes()[..cut], &mut out);
            p.feed(&text.as_bytes()[cut..], &mut out);
            assert_eq!(
                out,
                vec![
                    SseEvent {
                        event: "a".into(),
                        data: "{\"x\":1}".into()
                    },
                    SseEvent {
                        event: String::new(),
                        data: "one\ntwo".into()
                    },
                    SseEvent {
                        event: String::new(),
                        data: "[DONE]".into()
                    },
                ],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn retry_after_seconds() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(reqwest::header::RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(reqwest::header::RETRY_AFTER, "0.5".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(500)));
        h.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), None);
    }
}
