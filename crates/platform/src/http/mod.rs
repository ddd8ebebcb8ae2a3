//! The HTTP API: state, middleware, the route table and serving.

pub mod api;
pub mod error;
pub mod extract;
pub mod page;
pub mod statements;
pub mod validate;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Request, StatusCode};

use axum::Router;
use serde_json::Value;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

use crate::config::Environment;
use crate::db::Db;
use error::{error_body, ApiError};

/// Request bodies above this size answer 413.
pub const BODY_LIMIT_BYTES: usize = 1024 * 1024;

/// What the API process needs at hand.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    pub env: Environment,
}

/// Shared state of every handler.
#[derive(Clone, Debug)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<ServiceConfig>,
    openapi: Arc<OnceLock<Value>>,
}

impl AppState {
    pub fn new(db: Db, config: ServiceConfig) -> Self {
        Self {
            db,
            config: Arc::new(config),
            openapi: Arc::new(OnceLock::new()),
        }
    }

    pub fn openapi(&self) -> &Value {
        self.openapi
            .get()
            .expect("OpenAPI document is built with the router")
    }
}

/// Request ids: a per-process random prefix and a counter; an incoming `x-request-id`
/// from a trusted proxy is kept.
#[derive(Clone)]
struct ProcessRequestId {
    prefix: Arc<str>,
    counter: Arc<AtomicU64>,
}

impl MakeRequestId for ProcessRequestId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n:08x}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}

/// The whole API router with its middleware, and the OpenAPI document.
pub fn router(state: AppState) -> Router {
    let mut api = api::Api::new(state.clone());
    crate::routes::register(&mut api);
    let (routes, doc) = api.finish();
    let _ = state.openapi.set(doc);

    let request_ids = ProcessRequestId {
        prefix: crate::auth::token::random_password()[..8].into(),
        counter: Arc::new(AtomicU64::new(0)),
    };
    routes
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state.clone())
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(axum::middleware::from_fn_with_state(state.config.env, statements::count))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            error_body(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error",
                Value::Null,
            )
        }))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", method = %req.method(), uri = %req.uri().path(), request_id = %id)
            })
            .on_response(
                tower_http::trace::DefaultOnResponse::new()
                    .level(tracing::Level::INFO)
                    .latency_unit(tower_http::LatencyUnit::Micros),
            ),
        )
        .layer(SetRequestIdLayer::x_request_id(request_ids))
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
