//! Guarded outgoing HTTP for user-supplied URLs (spec 04, SSRF prevention).
//!
//! [`GuardedResolver`] runs parse → scheme → userinfo → port → resolution → address
//! judgement (the pure stages are the `urlguard` crate) and gives a [`Verdict`];
//! [`GuardedClient`] sends requests that connect only to the judged addresses, with no
//! proxy, redirects followed by hand and judged again, timeouts and a body cap.
//! [`EgressConfig::from_lookup`] reads the `K12_DNS_SERVERS` and `K12_URL_*` variables.
//! This crate knows nothing of the database, so a separate gateway process can use it.

mod client;
mod config;
mod resolver;

use std::time::Duration;

pub use client::{GuardedClient, GuardedResponse, OutgoingRequest};
pub use config::{
    ConfigError, EgressConfig, VAR_ALLOWED_PORTS, VAR_ALLOWLIST, VAR_ALLOW_HTTP, VAR_DNS_SERVERS,
};
pub use reqwest::{header, Method, StatusCode};
pub use resolver::{GuardedResolver, Verdict};
pub use urlguard::{AllowEntry, Policy, Reason};

/// Why an outgoing request did not produce a response.
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    /// The URL guard refused the URL of hop `hop` (0 is the URL given, 1 the first
    /// redirect target, ...).
    #[error("URL refused ({reason}) at hop {hop}: {}", reason.description())]
    Refused {
        /// The rule that failed.
        reason: Reason,
        /// Which hop.
        hop: usize,
    },
    /// More redirects than allowed.
    #[error("more than {limit} redirects")]
    TooManyRedirects {
        /// The number allowed.
        limit: usize,
    },
    /// The response body is larger than the cap; reading stopped there.
    #[error("response body larger than {limit} bytes")]
    BodyTooLarge {
        /// The cap in bytes.
        limit: usize,
    },
    /// The whole request (resolution, hops, body) took too long.
    #[error("request took longer than {limit:?}")]
    Timeout {
        /// The total timeout.
        limit: Duration,
    },
    /// A connection could not be established in time.
    #[error("could not connect within {limit:?}")]
    ConnectTimeout {
        /// The connect timeout.
        limit: Duration,
    },
    /// The connection was refused or failed.
    #[error("could not connect to the host")]
    Connect(#[source] reqwest::Error),
    /// The exchange failed after connecting (TLS, protocol, reset).
    #[error("the request failed")]
    Transport(#[source] reqwest::Error),
    /// The resolver could not be set up (unreadable system configuration).
    #[error("DNS resolver: {0}")]
    Resolver(String),
    /// The HTTP client could not be set up.
    #[error("HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

/// Check URLs without making requests: one [`Verdict`] per URL, in order. This is what an
/// operator command such as `k12 url-check` prints.
pub async fn check_urls<S: AsRef<str>>(
    config: &EgressConfig,
    urls: &[S],
) -> Result<Vec<Verdict>, EgressError> {
    Ok(GuardedResolver::new(config)?.check_all(urls).await)
}
