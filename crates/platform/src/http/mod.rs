//! The HTTP floor every feature stands on: the shared state, the route registry
//! ([`api`]), extractors, pagination, validation and statement counting. It imports no
//! feature; the router is assembled above it, in `app.rs`.

pub mod api;
pub mod crud;
pub mod extract;
pub mod page;
pub mod security;
pub mod statements;
pub mod validate;

use std::sync::{Arc, OnceLock};

use serde_json::Value;

use crate::config::Environment;
use crate::db::Db;
use crate::outbound::Outbound;
use crate::ratelimit::{RateLimiter, Settings};

/// Request bodies above this size answer 413.
pub const BODY_LIMIT_BYTES: usize = 1024 * 1024;

/// What the API process needs at hand.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    pub env: Environment,
    /// The guarded client for user-supplied URLs and the key sealing stored secrets.
    pub outbound: Outbound,
    /// Origins allowed by CORS and by the cross-site request check (`K12_CORS_ORIGINS`).
    pub cors_origins: Vec<String>,
    /// What the health report checks beyond the service's own state (gateway, disk).
    pub monitoring: crate::monitoring::MonitoringConfig,
    /// Where alert notifications go by default (`K12_SLACK_WEBHOOK_URL`).
    pub alerts: crate::monitoring::notify::AlertSettings,
    /// The AI gateway (`K12_GATEWAY_URL`, `K12_GATEWAY_TOKEN`); unset: AI answers 503.
    pub ai: crate::ai::AiConfig,
}

impl ServiceConfig {
    /// The configuration of an environment with no foreign origin allowed.
    pub fn new(env: Environment, outbound: Outbound) -> Self {
        Self {
            env,
            outbound,
            cors_origins: Vec::new(),
            monitoring: Default::default(),
            alerts: Default::default(),
            ai: Default::default(),
        }
    }
}

/// Shared state of every handler.
#[derive(Clone, Debug)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<ServiceConfig>,
    /// Rate limits and the login lockout policy (`ratelimit`).
    pub limiter: RateLimiter,
    /// The object store (attachments).
    pub store: storage::Store,
    /// This process's request metrics (health report and `/metrics`).
    pub metrics: crate::monitoring::Metrics,
    /// This process's feature-flag snapshot (`flags::cache`); start its listener with
    /// [`crate::flags::FlagCache::spawn_listener`].
    pub flags: crate::flags::FlagCache,
    openapi: Arc<OnceLock<Value>>,
}

impl AppState {
    /// State with the environment's default rate limits, in this process; see
    /// [`AppState::with_limiter`].
    pub fn new(db: Db, config: ServiceConfig, store: storage::Store) -> Self {
        Self {
            db,
            limiter: RateLimiter::in_process(Settings::defaults(config.env)),
            config: Arc::new(config),
            store,
            metrics: crate::monitoring::Metrics::new(),
            flags: crate::flags::FlagCache::default(),
            openapi: Arc::new(OnceLock::new()),
        }
    }

    /// Replaces the rate limiter (configured limits, a Redis store). With Redis, the
    /// request metrics are shared through it too, so the health report combines every
    /// API process.
    pub fn with_limiter(mut self, limiter: RateLimiter) -> Self {
        if let Some(conn) = limiter.redis_connection() {
            self.metrics.share_through(conn);
        }
        self.limiter = limiter;
        self
    }

    /// Records the OpenAPI document once the router is built.
    pub fn set_openapi(&self, doc: Value) {
        let _ = self.openapi.set(doc);
    }

    pub fn openapi(&self) -> &Value {
        self.openapi
            .get()
            .expect("OpenAPI document is built with the router")
    }
}
