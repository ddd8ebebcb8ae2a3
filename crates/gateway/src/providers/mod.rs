//! The model providers: the offline demo, OpenAI-compatible chat completions and the
//! Anthropic Messages API, each non-streaming and streaming.

mod anthropic;
mod demo;
mod http;
mod openai;

use std::pin::Pin;

use futures::Stream;
use serde::{Deserialize, Serialize};

use crate::config::{Config, ProviderConfig};
pub use http::{HttpProvider, SseEvent, SseParser};

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// What a provider is asked.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<Message>,
    pub max_tokens: u32,
    pub temperature: Option<f32>,
    pub task_type: Option<String>,
}

/// Token counts; a provider that reports none gets an estimate (see `estimate_tokens`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub total_tokens: u32,
}

impl Usage {
    pub fn new(prompt_tokens: u32, completion_tokens: u32) -> Self {
        Self {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens.saturating_add(completion_tokens),
        }
    }
}

/// About four bytes of English per token: the figure used when a provider reports no
/// usage (the demo, some OpenAI-compatible servers when streaming).
pub fn estimate_tokens(text: &str) -> u32 {
    u32::try_from(text.len().div_ceil(4)).unwrap_or(u32::MAX)
}

/// A whole answer.
#[derive(Debug, Clone)]
pub struct Completion {
    pub content: String,
    pub model: String,
    pub usage: Option<Usage>,
}

/// One piece of a streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Delta {
    Text(String),
    /// Counts as the provider reports them (either may come alone).
    Usage {
        prompt_tokens: Option<u32>,
        completion_tokens: Option<u32>,
    },
}

/// A streamed answer; dropping it closes the provider connection.
pub type DeltaStream = Pin<Box<dyn Stream<Item = Result<Delta, ProviderError>> + Send>>;

/// Why a provider gave no answer. Messages never include keys or provider bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderError {
    /// No answer (or no next chunk) in time: 504.
    Timeout,
    /// Rate limited or overloaded after every retry: 503.
    Unavailable(String),
    /// Unreachable, 5xx after every retry, a malformed answer, a broken stream: 502.
    Upstream(String),
    /// Another 4xx (bad key, unknown model): 502 with the provider's status.
    Rejected(u16),
}

impl std::fmt::Display for ProviderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Timeout => f.write_str("timed out"),
            Self::Unavailable(why) | Self::Upstream(why) => f.write_str(why),
            Self::Rejected(status) => write!(f, "refused with HTTP {status}"),
        }
    }
}

/// Which wire format an HTTP provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Demo,
    OpenAi,
    Anthropic,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Demo => "demo",
            Kind::OpenAi => "openai",
            Kind::Anthropic => "anthropic",
        }
    }
}

/// A configured provider.
pub enum Provider {
    Demo,
    Http(HttpProvider),
}

impl Provider {
    pub fn kind(&self) -> Kind {
        match self {
            Provider::Demo => Kind::Demo,
            Provider::Http(p) => p.kind,
        }
    }

    pub fn default_model(&self) -> &str {
        match self {
            Provider::Demo => demo::MODEL,
            Provider::Http(p) => &p.default_model,
        }
    }

    /// What `/v1/providers` says of it (never the key or the base URL's secrets).
    pub fn describe(&self) -> serde_json::Value {
        match self {
            Provider::Demo => serde_json::json!({
                "name": "demo",
                "demo": true,
                "default_model": demo::MODEL,
                "streaming": true,
                "description": "Offline demo provider: composes answers locally from the prompt; no AI model is called.",
            }),
            Provider::Http(p) => serde_json::json!({
                "name": p.kind.name(),
                "demo": false,
                "default_model": p.default_model,
                "streaming": true,
                "description": match p.kind {
                    Kind::OpenAi => "OpenAI-compatible chat completions",
                    _ => "Anthropic Messages API",
                },
            }),
        }
    }

    pub async fn complete(&self, req: &ChatRequest) -> Result<Completion, ProviderError> {
        match self {
            Provider::Demo => Ok(demo::complete(req)),
            Provider::Http(p) => match p.kind {
                Kind::OpenAi => openai::complete(p, req).await,
                _ => anthropic::complete(p, req).await,
            },
        }
    }

    /// Starts a streamed answer: `Err` when the provider cannot be reached or refuses
    /// (after retries), before any text.
    pub async fn stream(&self, req: &ChatRequest) -> Result<DeltaStream, ProviderError> {
        match self {
            Provider::Demo => Ok(demo::stream(req)),
            Provider::Http(p) => match p.kind {
                Kind::OpenAi => openai::stream(p, req).await,
                _ => anthropic::stream(p, req).await,
            },
        }
    }
}

/// The providers of one gateway process, in order of preference for requests that name
/// none: OpenAI, Anthropic, then the demo (always present).
pub struct Providers {
    list: Vec<Provider>,
}

impl Providers {
    pub fn from_config(config: &Config) -> Result<Self, reqwest::Error> {
        let mut list = Vec::new();
        let http = |kind, c: &ProviderConfig| HttpProvider::new(kind, c, config);
        if let Some(c) = &config.openai {
            list.push(Provider::Http(http(Kind::OpenAi, c)?));
        }
        if let Some(c) = &config.anthropic {
            list.push(Provider::Http(http(Kind::Anthropic, c)?));
        }
        list.push(Provider::Demo);
        Ok(Self { list })
    }

    pub fn get(&self, name: Option<&str>) -> Option<&Provider> {
        match name {
            None => self.list.first(),
            Some(n) => self.list.iter().find(|p| p.kind().name() == n),
        }
    }

    pub fn all(&self) -> &[Provider] {
        &self.list
    }
}
