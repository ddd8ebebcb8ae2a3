//! `k12 worker`: runs background jobs and fires schedules until SIGTERM or Ctrl-C.
//!
//! Configuration from the environment: `DATABASE_URL` (and the `K12_DB_POOL_*` pool
//! settings) plus the `K12_WORKER_*` variables of [`WorkerConfig::from_vars`]. Any
//! number of workers may share a database.

use platform::config::{DatabaseConfig, ProcessEnv};
use platform::db::Db;
use platform::jobs::{clock_from_vars, Worker, WorkerConfig};

/// The production worker process.
pub async fn run() -> anyhow::Result<()> {
    let database = DatabaseConfig::from_vars(&ProcessEnv)?;
    let config = WorkerConfig::from_vars(&ProcessEnv)?;
    let clock = clock_from_vars(&ProcessEnv)?;
    let db = Db::from_config(&database)?;
    Worker::new(db, config)
        .with_clock(clock)
        .run(crate::shutdown_signal())
        .await
}

/// The worker inside `k12 dev`: same code, `K12_WORKER_*` honoured, stops on the same
/// signal as the API.
pub fn spawn_in_dev(db: Db) -> anyhow::Result<tokio::task::JoinHandle<anyhow::Result<()>>> {
    let config = WorkerConfig::from_vars(&ProcessEnv)?;
    let clock = clock_from_vars(&ProcessEnv)?;
    Ok(tokio::spawn(
        Worker::new(db, config)
            .with_clock(clock)
            .run(crate::shutdown_signal()),
    ))
}
