//! Browser-facing defences around every route: the security headers, the cross-site
//! request check for cookie-authenticated writes, and CORS from an explicit allow-list.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HOST, ORIGIN,
    REFERRER_POLICY, SERVER, SET_COOKIE, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::ServiceConfig;
use crate::auth::session;
use crate::config::Environment;
use crate::error::error_body;

/// The headers every response carries, whatever produced it (handler, fallback, a
/// middleware's 413 or 429, the panic catcher).
const ALWAYS: [(HeaderName, &str); 8] = [
    (X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (REFERRER_POLICY, "no-referrer"),
    (X_FRAME_OPTIONS, "DENY"),
    (
        HeaderName::from_static("permissions-policy"),
        "camera=(), microphone=(), geolocation=()",
    ),
    (
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    ),
    (
        HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    ),
    // The API answers JSON only: nothing in it may load, run or be framed.
    (
        CONTENT_SECURITY_POLICY,
        "default-src 'none'; frame-ancestors 'none'",
    ),
    (
        HeaderName::from_static("x-permitted-cross-domain-policies"),
        "none",
    ),
];

const HSTS: &str = "max-age=63072000; includeSubDomains";

/// Adds the security headers; `Cache-Control: no-store` when the request carried
/// credentials or the response sets a cookie; HSTS in production; no server banner.
pub async fn security_headers(
    State(env): State<Environment>,
    req: Request,
    next: Next,
) -> Response {
    let credentials = session::presented_token(req.headers(), env).is_some();
    let mut response = next.run(req).await;
    let sets_cookie = response.headers().contains_key(SET_COOKIE);
    let headers = response.headers_mut();
    // A handler's own policy (`sandbox` on downloads) is kept, with ours added to it.
    let own_csp = headers.get(CONTENT_SECURITY_POLICY).cloned();
    for (name, value) in ALWAYS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if let Some(own) = own_csp.as_ref().and_then(|v| v.to_str().ok()) {
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{own}; default-src 'none'; frame-ancestors 'none'"
        )) {
            headers.insert(CONTENT_SECURITY_POLICY, v);
        }
    }
    if env == Environment::Production {
        headers.insert(STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    }
    if credentials || sets_cookie {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    headers.remove(SERVER);
    headers.remove("x-powered-by");
    response
}

/// Which origins besides our own may send cookie-authenticated writes.
#[derive(Clone, Debug)]
pub struct SiteCheck {
    env: Environment,
    allowed: Arc<[String]>,
}

impl SiteCheck {
    pub fn new(config: &ServiceConfig) -> Self {
        Self {
            env: config.env,
            allowed: config.cors_origins.clone().into(),
        }
    }
}

/// Refuses state-changing requests authenticated by the session cookie unless the
/// browser says they come from this site: `Origin` is our own or an allowed origin, or,
/// without `Origin`, `Sec-Fetch-Site` is `same-origin`. A form on a sibling subdomain is
/// same-site but not same-origin, so it is refused. Bearer-token requests are not
/// affected (a browser cannot attach one cross-site), nor are requests without either
/// header (no browser sends a cross-site write without `Origin`).
pub async fn cross_site_check(
    State(check): State<SiteCheck>,
    req: Request,
    next: Next,
) -> Response {
    let writes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let headers = req.headers();
    let by_cookie = !headers.contains_key(AUTHORIZATION)
        && session::presented_token(headers, check.env).is_some();
    if writes && by_cookie && !same_site(headers, &check.allowed) {
        return error_body(
            StatusCode::FORBIDDEN,
            "cross_site_request",
            "a cookie-authenticated change must come from this site; send the request from the same origin or use a bearer token",
            Value::Null,
        );
    }
    next.run(req).await
}

fn same_site(headers: &HeaderMap, allowed: &[String]) -> bool {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(origin) = text(ORIGIN) {
        let own = text(HOST).is_some_and(|host| {
            origin
                .split_once("://")
                .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host))
        });
        return own || allowed.iter().any(|a| a.eq_ignore_ascii_case(origin));
    }
    match text(HeaderName::from_static("sec-fetch-site")) {
        Some(site) => site.eq_ignore_ascii_case("same-origin"),
        None => true,
    }
}

/// CORS for the configured origins only, with credentials; `None` when no origin is
/// configured (then browsers keep their same-origin policy and no CORS header is sent).
pub fn cors(config: &ServiceConfig) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = config
        .cors_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_credentials(true)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                AUTHORIZATION,
                CONTENT_TYPE,
                HeaderName::from_static("x-request-id"),
            ])
            .expose_headers([
                HeaderName::from_static("x-request-id"),
                HeaderName::from_static("retry-after"),
                HeaderName::from_static("ratelimit"),
                HeaderName::from_static("ratelimit-policy"),
            ])
            .max_age(Duration::from_secs(600)),
    )
}
