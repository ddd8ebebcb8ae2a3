//! The application: every feature's routes in one short list, the middleware around
//! them, and serving. The only module that imports every feature; features import the
//! floor below them (`http`, `auth`, `audit`, `error`, `db`, `config`) and never this.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Request, StatusCode};
use axum::Router;
use serde_json::Value;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

use crate::error::{error_body, ApiError};
use crate::http::api::Api;
use crate::http::{security, AppState, BODY_LIMIT_BYTES};

/// Every API route, feature by feature. Each feature declares its routes (method, path,
/// access rule, docs) in its own `routes.rs`; the registry refuses a route without an
/// access rule and generates the OpenAPI document from the same declarations.
pub fn register(api: &mut Api) {
    crate::meta::register(api);
    crate::monitoring::routes::register(api);
    crate::login::routes::register(api);
    crate::identity::routes::register(api);
    crate::tenancy::routes::register(api);
    crate::audit::routes::register(api);
    crate::courses::routes::register(api);
    crate::assignments::routes::register(api);
    crate::attachments::routes::register(api);
    crate::discussions::routes::register(api);
    crate::quizzes::routes::register(api);
    crate::standards::routes::register(api);
    crate::jobs::routes::register(api);
    crate::backups::routes::register(api);
    crate::webhooks::routes::register(api);
    crate::integrations::routes::register(api);
    crate::analytics::routes::register(api);
    crate::dbinsight::routes::register(api);
    crate::deploy::routes::register(api);
    crate::provisioning::routes::register(api);
    crate::imports::routes::register(api);
    crate::ai::routes::register(api);
    crate::flags::routes::register(api);
    crate::api_keys::routes::register(api);
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
    let mut api = Api::new(state.clone());
    register(&mut api);
    let (routes, doc) = api.finish();
    state.set_openapi(doc);

    let request_ids = ProcessRequestId {
        prefix: crate::auth::token::random_password()[..8].into(),
        counter: Arc::new(AtomicU64::new(0)),
    };
    let router = routes
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state.clone())
        // Rate limits: the client's address for everything below, and the `api` limit
        // on every request under /api/v1 (named per-route limits are in the registry).
        .layer(axum::middleware::from_fn_with_state(
            state.limiter.clone(),
            crate::ratelimit::limit_api,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.config.env,
            crate::http::statements::count,
        ))
        .layer(axum::middleware::from_fn_with_state(
            security::SiteCheck::new(&state.config),
            security::cross_site_check,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            error_body(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error",
                Value::Null,
            )
        }))
        .layer(axum::middleware::from_fn_with_state(
            state.config.env,
            security::security_headers,
        ))
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
        // Request metrics outside everything that can answer early (limits, panics), so
        // every status is counted, under its route template.
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            crate::monitoring::metrics::track,
        ));
    // CORS outside everything else, so preflights are answered before routing and every
    // answer to an allowed origin carries its headers.
    let router = match security::cors(&state.config) {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router.layer(SetRequestIdLayer::x_request_id(request_ids))
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
