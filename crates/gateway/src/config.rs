//! The gateway's configuration, read once at start from its own environment.
//!
//! Provider keys live here and nowhere else: `Debug` never shows them, and no error
//! message, log line or response includes them.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// A value that must never be printed: `Debug` shows a placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// One HTTP provider: where it is, its key, the model used when a request names none.
#[derive(Clone, Debug)]
pub struct ProviderConfig {
    /// Without a trailing slash.
    pub base_url: String,
    pub api_key: Option<Secret>,
    pub default_model: String,
}

/// The optional second screening stage: an OpenAI-moderation-compatible endpoint.
#[derive(Clone, Debug)]
pub struct ModerationConfig {
    /// The full endpoint URL (`.../v1/moderations`).
    pub url: String,
    pub api_key: Option<Secret>,
    /// Sent as `model` when set (e.g. `omni-moderation-latest`, or a Llama Guard name).
    pub model: Option<String>,
    /// The time budget of one moderation call; past it the call counts as failed.
    pub timeout: Duration,
}

/// Everything `k12 gateway` needs.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    /// The service token the core presents (`Authorization: Bearer`). `None` only in
    /// development, where every caller is accepted.
    pub token: Option<Secret>,
    /// OpenAI-compatible chat completions (OpenAI, Azure OpenAI, vLLM, Ollama).
    pub openai: Option<ProviderConfig>,
    /// The Anthropic Messages API.
    pub anthropic: Option<ProviderConfig>,
    /// Time allowed for a provider to answer (headers, then each streamed chunk; the
    /// whole body when not streaming).
    pub timeout: Duration,
    /// Retries on 429, 5xx and refused connections (so `1 + max_retries` attempts).
    pub max_retries: u32,
    /// Longest wait between attempts; a `Retry-After` beyond it is not waited for.
    pub max_retry_wait: Duration,
    /// Model-based moderation after the local screen (`K12_MODERATION_URL`); `None`: off.
    pub moderation: Option<ModerationConfig>,
}

pub const DEFAULT_OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
pub const DEFAULT_OPENAI_MODEL: &str = "gpt-4o-mini";
pub const DEFAULT_ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com";
pub const DEFAULT_ANTHROPIC_MODEL: &str = "claude-3-5-haiku-latest";

/// A variable with an invalid value; the message names it and never repeats a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid configuration: {}: {}",
            self.variable, self.message
        )
    }
}

impl std::error::Error for ConfigError {}

fn err(variable: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        message: message.into(),
    }
}

impl Config {
    /// The embedded default: the demo provider only, on `listen`, with `token`.
    pub fn demo(listen: SocketAddr, token: Option<Secret>) -> Self {
        Self {
            listen,
            token,
            openai: None,
            anthropic: None,
            timeout: Duration::from_secs(60),
            max_retries: 2,
            max_retry_wait: Duration::from_secs(30),
            moderation: None,
        }
    }

    /// Reads every variable through `get` (the process environment in `k12 gateway`).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let development = match get("K12_ENV").as_deref() {
            None | Some("production") => false,
            Some("development") => true,
            Some(v) => {
                return Err(err(
                    "K12_ENV",
                    format!("{v:?} is not development or production"),
                ))
            }
        };
        let listen = match get("K12_GATEWAY_LISTEN") {
            Some(v) => v
                .parse::<SocketAddr>()
                .map_err(|_| err("K12_GATEWAY_LISTEN", format!("{v:?} is not host:port")))?,
            None => SocketAddr::from(([127, 0, 0, 1], 8000)),
        };
        let token = match get("K12_GATEWAY_TOKEN") {
            Some(v) if v.len() >= 16 => Some(Secret::new(v)),
            Some(_) => return Err(err("K12_GATEWAY_TOKEN", "must be at least 16 characters")),
            None if development => None,
            None => {
                return Err(err(
                    "K12_GATEWAY_TOKEN",
                    "is required outside development (K12_ENV=development)",
                ))
            }
        };
        let openai_key = get("K12_OPENAI_API_KEY").map(Secret::new);
        let openai_url = get("K12_OPENAI_BASE_URL");
        // A key, or a base URL alone (Ollama and vLLM need no key), enables the provider.
        let openai = if openai_key.is_some() || openai_url.is_some() {
            Some(ProviderConfig {
                base_url: base_url(
                    "K12_OPENAI_BASE_URL",
                    openai_url.as_deref().unwrap_or(DEFAULT_OPENAI_BASE_URL),
                )?,
                api_key: openai_key,
                default_model: get("K12_OPENAI_MODEL")
                    .unwrap_or_else(|| DEFAULT_OPENAI_MODEL.to_owned()),
            })
        } else {
            None
        };
        let anthropic = match get("K12_ANTHROPIC_API_KEY") {
            Some(key) => Some(ProviderConfig {
                base_url: base_url(
                    "K12_ANTHROPIC_BASE_URL",
                    get("K12_ANTHROPIC_BASE_URL")
                        .as_deref()
                        .unwrap_or(DEFAULT_ANTHROPIC_BASE_URL),
                )?,
                api_key: Some(Secret::new(key)),
                default_model: get("K12_ANTHROPIC_MODEL")
                    .unwrap_or_else(|| DEFAULT_ANTHROPIC_MODEL.to_owned()),
            }),
            None if get("K12_ANTHROPIC_BASE_URL").is_some() => {
                return Err(err(
                    "K12_ANTHROPIC_API_KEY",
                    "is required when K12_ANTHROPIC_BASE_URL is set",
                ))
            }
            None => None,
        };
        let timeout = millis(&get, "K12_GATEWAY_TIMEOUT_MS", 60_000, 100, 600_000)?;
        let max_retries = match get("K12_GATEWAY_MAX_RETRIES") {
            Some(v) => match v.parse::<u32>() {
                Ok(n) if n <= 10 => n,
                _ => return Err(err("K12_GATEWAY_MAX_RETRIES", "must be an integer 0..=10")),
            },
            None => 2,
        };
        let max_retry_wait = millis(&get, "K12_GATEWAY_MAX_RETRY_WAIT_MS", 30_000, 0, 300_000)?;
        let moderation = match get("K12_MODERATION_URL") {
            Some(url) => Some(ModerationConfig {
                url: moderation_url(&url)?,
                api_key: get("K12_MODERATION_API_KEY").map(Secret::new),
                model: get("K12_MODERATION_MODEL"),
                timeout: millis(&get, "K12_MODERATION_TIMEOUT_MS", 1500, 50, 60_000)?,
            }),
            None => None,
        };
        Ok(Self {
            moderation,
            listen,
            token,
            openai,
            anthropic,
            timeout,
            max_retries,
            max_retry_wait,
        })
    }
}

fn millis(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<Duration, ConfigError> {
    match get(variable) {
        Some(v) => match v.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Duration::from_millis(n)),
            _ => Err(err(
                variable,
                format!("must be milliseconds in {min}..={max}"),
            )),
        },
        None => Ok(Duration::from_millis(default)),
    }
}

/// `K12_MODERATION_URL`: a base URL (`https://api.openai.com`, `.../v1`) gets
/// `/v1/moderations`; a URL already ending in `/moderations` is used as it is.
fn moderation_url(value: &str) -> Result<String, ConfigError> {
    let base = base_url("K12_MODERATION_URL", value)?;
    if base.ends_with("/moderations") {
        Ok(base)
    } else {
        Ok(format!(
            "{}/v1/moderations",
            base.strip_suffix("/v1").unwrap_or(&base)
        ))
    }
}

fn base_url(variable: &'static str, value: &str) -> Result<String, ConfigError> {
    let parsed = url::Url::parse(value).map_err(|e| err(variable, e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(err(variable, "must be an http:// or https:// URL"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(err(
            variable,
            "must not carry credentials; use the API key variable",
        ));
    }
    Ok(value.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn token_required_outside_development() {
        assert_eq!(config(&[]).unwrap_err().variable, "K12_GATEWAY_TOKEN");
        let dev = config(&[("K12_ENV", "development")]).unwrap();
        assert!(dev.token.is_none());
        assert!(dev.openai.is_none() && dev.anthropic.is_none());
        assert_eq!(dev.listen, SocketAddr::from(([127, 0, 0, 1], 8000)));
    }

    #[test]
    fn providers_from_the_environment() {
        let c = config(&[
            ("K12_GATEWAY_TOKEN", "0123456789abcdef0123"),
            ("K12_OPENAI_BASE_URL", "http://127.0.0.1:11434/v1/"),
            ("K12_ANTHROPIC_API_KEY", "sk-ant-secret"),
        ])
        .unwrap();
        let openai = c.openai.unwrap();
        assert_eq!(openai.base_url, "http://127.0.0.1:11434/v1");
        assert!(openai.api_key.is_none());
        let anthropic = c.anthropic.unwrap();
        assert_eq!(anthropic.base_url, DEFAULT_ANTHROPIC_BASE_URL);
        assert!(!format!("{anthropic:?}").contains("sk-ant-secret"));
    }

    #[test]
    fn moderation_from_the_environment() {
        let t = ("K12_GATEWAY_TOKEN", "0123456789abcdef0123");
        assert!(config(&[t]).unwrap().moderation.is_none());
        for (url, endpoint) in [
            (
                "https://api.openai.com",
                "https://api.openai.com/v1/moderations",
            ),
            (
                "https://api.openai.com/v1/",
                "https://api.openai.com/v1/moderations",
            ),
            (
                "http://127.0.0.1:9/guard/moderations",
                "http://127.0.0.1:9/guard/moderations",
            ),
        ] {
            let c = config(&[
                t,
                ("K12_MODERATION_URL", url),
                ("K12_MODERATION_API_KEY", "sk-mod"),
            ])
            .unwrap()
            .moderation
            .unwrap();
            assert_eq!(c.url, endpoint);
            assert_eq!(c.timeout, Duration::from_millis(1500));
            assert!(!format!("{c:?}").contains("sk-mod"));
        }
        let bad = config(&[
            t,
            ("K12_MODERATION_URL", "https://m"),
            ("K12_MODERATION_TIMEOUT_MS", "5"),
        ]);
        assert_eq!(bad.unwrap_err().variable, "K12_MODERATION_TIMEOUT_MS");
    }

    #[test]
    fn bad_values_name_the_variable() {
        let t = ("K12_GATEWAY_TOKEN", "0123456789abcdef0123");
        for (vars, var) in [
            (
                vec![t, ("K12_GATEWAY_LISTEN", "nope")],
                "K12_GATEWAY_LISTEN",
            ),
            (vec![("K12_GATEWAY_TOKEN", "short")], "K12_GATEWAY_TOKEN"),
            (
                vec![t, ("K12_OPENAI_BASE_URL", "ftp://x")],
                "K12_OPENAI_BASE_URL",
            ),
            (
                vec![t, ("K12_OPENAI_BASE_URL", "https://u:p@x/v1")],
                "K12_OPENAI_BASE_URL",
            ),
            (
                vec![t, ("K12_GATEWAY_TIMEOUT_MS", "5")],
                "K12_GATEWAY_TIMEOUT_MS",
            ),
            (
                vec![t, ("K12_GATEWAY_MAX_RETRIES", "x")],
                "K12_GATEWAY_MAX_RETRIES",
            ),
            (
                vec![t, ("K12_ANTHROPIC_BASE_URL", "https://a")],
                "K12_ANTHROPIC_API_KEY",
            ),
            (vec![("K12_ENV", "staging")], "K12_ENV"),
        ] {
            assert_eq!(config(&vars).unwrap_err().variable, var, "{vars:?}");
        }
    }
}
