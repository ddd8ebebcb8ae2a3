//! Who sent a request and how to find it in the logs: recorded in sessions and audit rows.
//! At the bottom of the crate so that the session floor and the audit floor can take it
//! without importing the HTTP layer.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

/// The client's address when it is not simply the socket peer (a trusted proxy's
/// `X-Forwarded-For`); the rate limiter puts it in the request extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// Who sent the request and how to find it in the logs; recorded in audit rows.
#[derive(Clone, Debug, Default)]
pub struct RequestMeta {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for RequestMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::from_parts(parts))
    }
}

impl RequestMeta {
    pub fn from_parts(parts: &Parts) -> Self {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.chars().take(500).collect::<String>())
        };
        Self {
            ip: parts.extensions.get::<ClientIp>().map(|c| c.0).or_else(|| {
                parts
                    .extensions
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|c| c.0.ip())
            }),
            user_agent: header("user-agent"),
            request_id: header("x-request-id"),
        }
    }
}
