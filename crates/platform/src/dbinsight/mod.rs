//! Query insight for operators (spec 05): the slowest statements from
//! `pg_stat_statements` (when the server provides it) and what an operator looks at
//! first: the pool, the database's size, its largest tables, the cache hit ratio and the
//! dead tuples waiting for vacuum.
//!
//! The service role holds no statistics privilege: the statements are read and reset
//! through SECURITY DEFINER functions of `migrations/0007_analytics.sql`, owned by the
//! owner role, which a superuser grants `pg_read_all_stats` and the reset function
//! (`deploy/roles.sql`); they run only in a system transaction. The figures of
//! `/db/stats` come from views every role may read (`pg_stat_user_tables`,
//! `pg_stat_database`) and from the pool itself ([`crate::db::Db::pool_stats`]).

pub mod routes;

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{self, AuditEvent};
use crate::auth::session::CurrentOperator;
use crate::db::PoolStats;
use crate::error::ApiResult;
use crate::http::extract::ApiQuery;
use crate::http::validate::IntParam;
use crate::http::AppState;
use crate::request::RequestMeta;

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

/// `?limit=` of the slow-query list.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct SlowQueryParams {
    /// How many statements, 1 to 100 (default 20).
    #[serde(default)]
    #[schemars(with = "Option<i64>")]
    pub limit: Option<IntParam>,
}

/// One normalised statement and its execution figures since the last reset.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SlowQuery {
    /// pg_stat_statements' query id, as text (it is a 64-bit hash).
    pub query_id: String,
    /// The first 200 characters of the normalised statement (constants are `$n`).
    pub query: String,
    pub calls: i64,
    pub total_ms: f64,
    pub mean_ms: f64,
    pub max_ms: f64,
    pub rows: i64,
}

/// `GET /api/v1/operator/db/slow_queries`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SlowQueries {
    /// False when the server does not provide pg_stat_statements (not installed in this
    /// database, or not in shared_preload_libraries); `data` is then empty.
    pub available: bool,
    /// Slowest mean execution time first; this route's own statements are left out.
    pub data: Vec<SlowQuery>,
}

/// `POST /api/v1/operator/db/slow_queries/reset`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SlowQueriesReset {
    pub available: bool,
    /// Whether the statistics were reset (false without the extension, or when the owner
    /// role was not granted the reset function).
    pub reset: bool,
}

/// One of the largest tables.
#[derive(Debug, Serialize, JsonSchema, sqlx::FromRow)]
pub struct TableStats {
    pub name: String,
    /// Table, indexes and TOAST.
    pub total_bytes: i64,
    pub live_tuples: i64,
    pub dead_tuples: i64,
    pub last_autovacuum: Option<DateTime<Utc>>,
}

/// `GET /api/v1/operator/db/stats`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DbStats {
    pub pool: PoolStats,
    pub database_size_bytes: i64,
    /// Share of block reads served from shared buffers since the statistics were reset;
    /// null before any read.
    pub cache_hit_ratio: Option<f64>,
    /// Dead tuples in every table of the schema, waiting for (auto)vacuum.
    pub dead_tuples: i64,
    /// The ten largest tables by total size.
    pub largest_tables: Vec<TableStats>,
}

/// `GET /api/v1/operator/db/slow_queries`
pub async fn slow_queries(
    State(state): State<AppState>,
    CurrentOperator(_): CurrentOperator,
    ApiQuery(params): ApiQuery<SlowQueryParams>,
) -> ApiResult<Json<SlowQueries>> {
    let limit = IntParam::within(params.limit.as_ref(), "limit", DEFAULT_LIMIT, 1..=MAX_LIMIT)?;
    let mut tx = state.db.system().await?;
    let (available,): (bool,) = sqlx::query_as("SELECT query_insight_available()")
        .fetch_one(&mut *tx)
        .await?;
    let rows: Vec<(i64, String, i64, f64, f64, f64, i64)> = sqlx::query_as(
        "SELECT queryid, query, calls, total_ms, mean_ms, max_ms, rows FROM slow_queries($1)",
    )
    .bind(limit as i32)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let data = rows
        .into_iter()
        .map(
            |(id, query, calls, total_ms, mean_ms, max_ms, rows)| SlowQuery {
                query_id: id.to_string(),
                query,
                calls,
                total_ms,
                mean_ms,
                max_ms,
                rows,
            },
        )
        .collect();
    Ok(Json(SlowQueries { available, data }))
}

/// `POST /api/v1/operator/db/slow_queries/reset`
pub async fn reset(
    State(state): State<AppState>,
    CurrentOperator(op): CurrentOperator,
    meta: RequestMeta,
) -> ApiResult<Json<SlowQueriesReset>> {
    let mut tx = state.db.system().await?;
    let (available, reset): (bool, bool) =
        sqlx::query_as("SELECT query_insight_available(), slow_queries_reset()")
            .fetch_one(&mut *tx)
            .await?;
    audit::record_platform(
        &mut tx,
        Some(op.operator_id),
        &meta,
        AuditEvent::new("db.slow_queries_reset").with(json!({ "reset": reset })),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(SlowQueriesReset { available, reset }))
}

/// `GET /api/v1/operator/db/stats`
pub async fn stats(
    State(state): State<AppState>,
    CurrentOperator(_): CurrentOperator,
) -> ApiResult<Json<DbStats>> {
    let mut tx = state.db.system().await?;
    let (database_size_bytes, cache_hit_ratio, dead_tuples): (i64, Option<f64>, i64) =
        sqlx::query_as(
            "SELECT pg_database_size(current_database()),
                    (SELECT blks_hit::float8 / nullif(blks_hit + blks_read, 0)
                       FROM pg_stat_database WHERE datname = current_database()),
                    (SELECT coalesce(sum(n_dead_tup), 0)::bigint FROM pg_stat_user_tables
                      WHERE schemaname = 'public')",
        )
        .fetch_one(&mut *tx)
        .await?;
    let largest_tables: Vec<TableStats> = sqlx::query_as(
        "SELECT relname::text AS name, pg_total_relation_size(relid) AS total_bytes,
                n_live_tup AS live_tuples, n_dead_tup AS dead_tuples, last_autovacuum
           FROM pg_stat_user_tables WHERE schemaname = 'public'
          ORDER BY pg_total_relation_size(relid) DESC, relname LIMIT 10",
    )
    .fetch_all(&mut *tx)
    .await?;
    // Taken while this request holds its connection (counted in `in_use`).
    let pool = state.db.pool_stats();
    tx.commit().await?;
    Ok(Json(DbStats {
        pool,
        database_size_bytes,
        cache_hit_ratio,
        dead_tuples,
        largest_tables,
    }))
}
