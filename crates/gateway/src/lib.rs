//! The AI gateway (`k12 gateway`, spec 09 "The gateway"): a separate process that holds
//! the provider keys and talks to the models, so that keys and model traffic stay away
//! from the system of record. The core reaches it over HTTP with a service token.
//!
//! Every prompt is screened by the safety library before any provider is called, and
//! every answer before it leaves, streamed answers included (through the library's
//! streaming screener with its hold-back). The gateway keeps no state and never touches
//! the database.

mod api;
pub mod config;
mod error;
pub mod moderation;
pub mod providers;
#[cfg(feature = "testing")]
pub mod testing;

use std::future::Future;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use sha2::{Digest, Sha256};

pub use api::{GenerateRequest, MAX_PROMPT_BYTES};
pub use config::{Config, ConfigError, Secret};
pub use error::ApiError;

/// The state every handler shares.
pub struct Gateway {
    token_digest: Option<[u8; 32]>,
    providers: providers::Providers,
    pipeline: api::SharedPipeline,
    /// The second screening stage, when `K12_MODERATION_URL` is set.
    moderator: Option<moderation::Moderator>,
}

pub(crate) fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The gateway's routes. Builds the safety pipeline if it is not built yet (about a
/// quarter of a second, once per process): call it outside latency-sensitive paths.
pub fn router(config: &Config) -> Result<Router, reqwest::Error> {
    let gw = Arc::new(Gateway {
        token_digest: config.token.as_ref().map(|t| digest(t.expose())),
        providers: providers::Providers::from_config(config)?,
        pipeline: safety::Pipeline::shared(),
        moderator: config
            .moderation
            .as_ref()
            .map(moderation::Moderator::new)
            .transpose()?,
    });
    let protected = Router::new()
        .route("/v1/providers", get(api::providers))
        .route("/v1/generate", post(api::generate))
        .route("/v1/generate_stream", post(api::generate_stream))
        .route_layer(axum::middleware::from_fn_with_state(
            gw.clone(),
            api::require_token,
        ));
    Ok(Router::new()
        .route("/v1/health", get(api::health))
        .merge(protected)
        .fallback(api::not_found)
        .with_state(gw))
}

/// Serves `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Logs what the gateway offers (never a key).
pub fn log_providers(config: &Config) {
    for (name, p) in [("openai", &config.openai), ("anthropic", &config.anthropic)] {
        if let Some(p) = p {
            tracing::info!(
                provider = name,
                base_url = p.base_url,
                default_model = p.default_model,
                key = if p.api_key.is_some() { "set" } else { "none" },
                "provider configured"
            );
        }
    }
    tracing::info!(provider = "demo", "offline demo provider available");
    if let Some(m) = &config.moderation {
        tracing::info!(
            url = m.url,
            timeout_ms = m.timeout.as_millis() as u64,
            key = if m.api_key.is_some() { "set" } else { "none" },
            "moderation stage configured"
        );
    }
    if config.token.is_none() {
        tracing::warn!("K12_GATEWAY_TOKEN is not set: every caller is accepted (development only)");
    }
}
