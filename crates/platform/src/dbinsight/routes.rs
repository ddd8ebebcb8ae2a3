//! The operator's database routes: `/api/v1/operator/db/...`.

use axum::http::StatusCode;

use super::{DbStats, SlowQueries, SlowQueriesReset, SlowQueryParams};
use crate::auth::permission::Access;
use crate::http::api::{Api, Operation as Op};

/// Registers the database insight routes (operators only).
pub fn register(api: &mut Api) {
    let ok = StatusCode::OK;
    api.add(
        Op::get("/api/v1/operator/db/slow_queries", Access::Operator)
            .summary(
                "database",
                "The slowest statements by mean time (pg_stat_statements); \"available\": false without the extension",
            )
            .query::<SlowQueryParams>()
            .response::<SlowQueries>(ok),
        super::slow_queries,
    );
    api.add(
        Op::post("/api/v1/operator/db/slow_queries/reset", Access::Operator)
            .summary("database", "Forget this database's statement statistics")
            .response::<SlowQueriesReset>(ok),
        super::reset,
    );
    api.add(
        Op::get("/api/v1/operator/db/stats", Access::Operator)
            .summary(
                "database",
                "Pool use and waits, database size, largest tables, cache hit ratio, dead tuples",
            )
            .response::<DbStats>(ok),
        super::stats,
    );
}
