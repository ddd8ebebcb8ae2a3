//! Rate limits (spec 04): the named limits, GCRA over an in-process or Redis store, and
//! the middleware that answers 429 with `Retry-After` and the IETF `RateLimit-Policy` /
//! `RateLimit` headers. A floor module: `app.rs` puts [`limit_api`] around the router (by
//! client IP) and the route registry puts [`limit_route`] behind its authorization check
//! for each limit a route declares, so user- and tenant-keyed limits see the [`Actor`].
//!
//! [`policy`] is the pure part (quotas, GCRA arithmetic, trusted proxies, the login
//! lockout policy); [`store`] holds the state.

pub mod policy;
pub mod store;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub use policy::{Decision, KeyKind, Limit, LoginLockout, Quota, Quotas, Settings, TrustedProxies};
pub use store::StoreHealth;

use crate::auth::session::Actor;
use crate::error::ApiError;
use crate::request::ClientIp;
use store::{MemoryStore, RedisStore, Store};

const POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const STATE: HeaderName = HeaderName::from_static("ratelimit");

/// How long a Redis call may take before the request passes unchecked.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// The limiter of one process: settings plus a store. Cheap to clone.
#[derive(Clone)]
pub struct RateLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    store: Store,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("settings", &self.inner.settings)
            .field("store", &self.inner.store.health().backend)
            .finish()
    }
}

impl RateLimiter {
    /// State in this process only: right for one API process.
    pub fn in_process(settings: Settings) -> Self {
        Self {
            inner: Arc::new(Inner {
                settings,
                store: Store::Memory(MemoryStore::new()),
            }),
        }
    }

    /// State in Redis, shared by every process given the same URL. Connects lazily;
    /// must be called inside the Tokio runtime.
    pub fn with_redis(settings: Settings, url: &str) -> anyhow::Result<Self> {
        let store =
            RedisStore::new(url, REDIS_TIMEOUT).map_err(|e| anyhow::anyhow!("REDIS_URL: {e}"))?;
        Ok(Self {
            inner: Arc::new(Inner {
                settings,
                store: Store::Redis(store),
            }),
        })
    }

    /// Redis when `redis_url` is given, else in-process.
    pub fn from_config(settings: Settings, redis_url: Option<&str>) -> anyhow::Result<Self> {
        match redis_url {
            Some(url) => Self::with_redis(settings, url),
            None => Ok(Self::in_process(settings)),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The failed-login policy the sign-in routes apply.
    pub fn lockout(&self) -> LoginLockout {
        self.inner.settings.lockout
    }

    /// For health reporting: which store, whether its last call worked, the last error.
    pub fn health(&self) -> StoreHealth {
        self.inner.store.health()
    }

    /// `None` without Redis; else Redis's used memory in bytes, or why it failed.
    pub async fn redis_used_memory(&self) -> Option<Result<u64, String>> {
        self.inner.store.redis_used_memory().await
    }

    /// The Redis connection when the limiter keeps its state there (monitoring shares
    /// the request windows of every API process through it).
    pub fn redis_connection(&self) -> Option<redis::aio::ConnectionManager> {
        self.inner.store.redis_connection()
    }

    pub fn is_healthy(&self) -> bool {
        self.health().healthy
    }

    /// Counts one request against `limit` for `key`. When the store cannot answer the
    /// request is allowed (fail open).
    pub async fn check(&self, limit: Limit, key: &str) -> Decision {
        let quota = self.inner.settings.quotas.get(limit);
        let bucket = format!("{}:{key}", limit.name());
        match self.inner.store.step(&bucket, quota).await {
            Some(o) => Decision::from_step(limit, quota, o.allowed, o.reset_us, o.retry_us),
            None => Decision::unchecked(limit, quota),
        }
    }

    /// The client's address for this request: the socket peer, or `X-Forwarded-For`
    /// behind a trusted proxy.
    pub fn client_ip(&self, req: &Request) -> Option<IpAddr> {
        if let Some(ClientIp(ip)) = req.extensions().get::<ClientIp>() {
            return Some(*ip);
        }
        let peer = req.extensions().get::<ConnectInfo<SocketAddr>>()?.0.ip();
        let lines = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>();
        Some(
            self.inner
                .settings
                .trusted_proxies
                .client_ip(peer, lines.into_iter()),
        )
    }
}

/// The bucket key of `limit` for this request.
fn key_for(limit: Limit, ip: Option<IpAddr>, actor: Option<&Actor>) -> String {
    let by_ip = || match ip {
        Some(ip) => format!("ip:{}", policy::ip_key(ip)),
        None => "ip:unknown".to_string(),
    };
    let by_user = |actor: &Actor| match actor {
        Actor::User(u) => format!("user:{}:{}", u.tenant_id.0, u.user_id),
        Actor::Operator(o) => format!("operator:{}", o.operator_id),
    };
    match (limit.key_kind(), actor) {
        (KeyKind::ClientIp, _) | (_, None) => by_ip(),
        (KeyKind::User, Some(a)) => by_user(a),
        (KeyKind::Tenant, Some(Actor::User(u))) => format!("tenant:{}", u.tenant_id.0),
        (KeyKind::Tenant, Some(a)) => by_user(a),
    }
}

/// Adds this decision's policy and state to the response (appending to what an inner
/// limit already said: both headers are structured-field lists).
fn add_headers(response: &mut Response, decision: &Decision) {
    for (name, value) in [
        (POLICY, decision.policy_header()),
        (STATE, decision.state_header()),
    ] {
        let joined = match response.headers().get(&name).and_then(|v| v.to_str().ok()) {
            Some(inner) => format!("{inner}, {value}"),
            None => value,
        };
        if let Ok(v) = HeaderValue::from_str(&joined) {
            response.headers_mut().insert(name, v);
        }
    }
}

fn refused(decision: &Decision) -> Response {
    let mut response = ApiError::TooManyRequests {
        retry_after_secs: decision.retry_after_secs,
    }
    .into_response();
    add_headers(&mut response, decision);
    response
}

async fn limit(limiter: &RateLimiter, limit: Limit, req: Request, next: Next) -> Response {
    let ip = limiter.client_ip(&req);
    let key = key_for(limit, ip, req.extensions().get::<Actor>());
    let decision = limiter.check(limit, &key).await;
    if !decision.allowed {
        return refused(&decision);
    }
    let mut response = next.run(req).await;
    add_headers(&mut response, &decision);
    response
}

/// The `api` limit around the whole router: records the client's address for everything
/// below (audit rows, the login lockout, per-route limits) and counts every request under
/// `/api/v1` by client IP.
pub async fn limit_api(
    State(limiter): State<RateLimiter>,
    mut req: Request,
    next: Next,
) -> Response {
    let ip = limiter.client_ip(&req);
    if let Some(ip) = ip {
        req.extensions_mut().insert(ClientIp(ip));
    }
    if !req.uri().path().starts_with("/api/v1/") {
        return next.run(req).await;
    }
    limit(&limiter, Limit::Api, req, next).await
}

/// One named limit of a route, behind the registry's authorization check.
pub async fn limit_route(limiter: RateLimiter, named: Limit, req: Request, next: Next) -> Response {
    limit(&limiter, named, req, next).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::session::{OperatorActor, UserActor};

    fn settings(overrides: &str) -> Settings {
        let mut s = Settings::defaults(crate::config::Environment::Production);
        s.quotas = s.quotas.with_overrides(overrides).unwrap();
        s
    }

    #[tokio::test]
    async fn every_named_limit_refuses_past_its_quota_per_key() {
        let limiter = RateLimiter::in_process(settings(
            "auth=2/60,ai=3/60,uploads=4/60,webhooks=5/60,analytics=6/60,api=7/60",
        ));
        for limit in Limit::ALL {
            let quota = limiter.settings().quotas.get(limit).count();
            for i in 0..quota {
                let d = limiter.check(limit, "k").await;
                assert!(d.allowed, "{limit:?} #{i}");
                assert_eq!(d.remaining, quota - i - 1);
            }
            let d = limiter.check(limit, "k").await;
            assert!(!d.allowed, "{limit:?} past its quota");
            assert!(d.retry_after_secs >= 1);
            assert!(
                limiter.check(limit, "other").await.allowed,
                "{limit:?}: another key has its own budget"
            );
        }
    }

    #[test]
    fn keys_follow_each_limits_kind() {
        let ip: IpAddr = "203.0.113.5".parse().unwrap();
        let user = Actor::User(UserActor {
            tenant_id: crate::db::TenantId(7),
            district_id: None,
            user_id: 42,
            session_id: 1,
            email: "u@x.test".into(),
            district_admin: false,
            roles: vec![],
            permissions: vec![],
        });
        let operator = Actor::Operator(OperatorActor {
            operator_id: 3,
            session_id: 1,
            email: "o@x.test".into(),
        });
        assert_eq!(
            key_for(Limit::Auth, Some(ip), Some(&user)),
            "ip:203.0.113.5"
        );
        assert_eq!(key_for(Limit::Api, Some(ip), None), "ip:203.0.113.5");
        assert_eq!(key_for(Limit::Ai, Some(ip), Some(&user)), "user:7:42");
        assert_eq!(key_for(Limit::Ai, Some(ip), None), "ip:203.0.113.5");
        assert_eq!(key_for(Limit::Uploads, Some(ip), Some(&user)), "user:7:42");
        assert_eq!(
            key_for(Limit::Analytics, Some(ip), Some(&operator)),
            "operator:3"
        );
        assert_eq!(key_for(Limit::Webhooks, Some(ip), Some(&user)), "tenant:7");
        assert_eq!(
            key_for(Limit::Webhooks, Some(ip), Some(&operator)),
            "operator:3"
        );
        assert_eq!(key_for(Limit::Webhooks, None, None), "ip:unknown");
    }

    #[test]
    fn headers_append_inner_limits() {
        let q = Quota::new(5, 60).unwrap();
        let mut response = Response::new(axum::body::Body::empty());
        add_headers(
            &mut response,
            &Decision::from_step(Limit::Auth, q, true, 12_000_000, 0),
        );
        let api = Quota::new(300, 60).unwrap();
        add_headers(
            &mut response,
            &Decision::from_step(Limit::Api, api, true, 200_000, 0),
        );
        assert_eq!(
            response.headers()["ratelimit-policy"],
            "\"auth\";q=5;w=60, \"api\";q=300;w=60"
        );
        assert_eq!(
            response.headers()["ratelimit"],
            "\"auth\";r=4;t=12, \"api\";r=299;t=1"
        );
    }
}
