//! Counts the SQL statements (and their database time) of each request.
//!
//! sqlx reports every statement it runs as a tracing event with target `sqlx::query`;
//! [`layer`] counts those events into a task-local owned by the request, which the
//! [`count`] middleware opens. In development the totals go out in a standard
//! `Server-Timing: db;desc="N statements";dur=MS` header, so anyone can see that a list
//! runs the same statements for `limit=1` and `limit=200`. Tests assert exactly that.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::{Filtered, Targets};
use tracing_subscriber::layer::{Context, Layer};

use crate::config::Environment;

/// What one request did in the database.
#[derive(Debug, Default)]
pub struct DbStats {
    statements: AtomicU64,
    micros: AtomicU64,
}

impl DbStats {
    pub fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }
    pub fn millis(&self) -> f64 {
        self.micros.load(Ordering::Relaxed) as f64 / 1000.0
    }
}

tokio::task_local! {
    static REQUEST_DB: Arc<DbStats>;
}

/// The tracing layer that counts sqlx's statement events.
pub struct StatementCounter;

struct Elapsed(f64);

impl Visit for Elapsed {
    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.0 = value;
        }
    }
    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

impl<S: Subscriber> Layer<S> for StatementCounter {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let _ = REQUEST_DB.try_with(|stats| {
            let mut elapsed = Elapsed(0.0);
            event.record(&mut elapsed);
            stats.statements.fetch_add(1, Ordering::Relaxed);
            stats
                .micros
                .fetch_add((elapsed.0 * 1e6) as u64, Ordering::Relaxed);
        });
    }
}

/// The counting layer, listening only to sqlx's statement events.
pub fn layer<S>() -> Filtered<StatementCounter, Targets, S>
where
    S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    StatementCounter.with_filter(Targets::new().with_target("sqlx::query", tracing::Level::TRACE))
}

/// Middleware: counts the request's statements; adds `Server-Timing` in development.
pub async fn count(State(env): State<Environment>, req: Request, next: Next) -> Response {
    let stats = Arc::new(DbStats::default());
    let mut response = REQUEST_DB.scope(stats.clone(), next.run(req)).await;
    if env == Environment::Development {
        let value = format!(
            "db;desc=\"{} statements\";dur={:.2}",
            stats.statements(),
            stats.millis()
        );
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().insert("server-timing", v);
        }
    }
    response
}

/// Runs `f` and counts the SQL statements it issued (0 when no statement counter is
/// installed as a tracing layer: install [`layer`] first, as the test harness does).
pub fn count_sync<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let stats = Arc::new(DbStats::default());
    let out = REQUEST_DB.sync_scope(stats.clone(), f);
    (out, stats.statements())
}

/// Awaits `fut` and counts the SQL statements it issued (see [`count_sync`]).
pub async fn count_async<F: std::future::Future>(fut: F) -> (F::Output, u64) {
    let stats = Arc::new(DbStats::default());
    let out = REQUEST_DB.scope(stats.clone(), fut).await;
    (out, stats.statements())
}
