//! `k12 worker`: runs background jobs and fires schedules until SIGTERM or Ctrl-C.
//!
//! Configuration from the environment: `DATABASE_URL` (and the `K12_DB_POOL_*` pool
//! settings) plus the `K12_WORKER_*` variables of [`WorkerConfig::from_vars`]. Any
//! number of workers may share a database. Webhook delivery also needs `K12_SECRET_KEY`
//! (the key that opens the stored signing secrets) and honours `K12_DNS_SERVERS` and
//! `K12_URL_*` (docs/url-guard.md); without the key those jobs fail and retry. Alert
//! evaluation and notification delivery need the service's state: when the worker's
//! environment holds the API's variables (as `k12 serve` reads them) the worker builds
//! it; otherwise those jobs fail on this worker.
//! Backup jobs need `K12_STORAGE_URL` and `K12_BACKUP_*` (README, Backups).

use platform::config::{Config, DatabaseConfig, Environment, ProcessEnv, Secret, VarSource};
use platform::db::Db;
use platform::jobs::{clock_from_vars, Worker, WorkerConfig};
use platform::outbound::{egress_config, Outbound};

/// The production worker process.
pub async fn run() -> anyhow::Result<()> {
    let database = DatabaseConfig::from_vars(&ProcessEnv)?;
    let config = WorkerConfig::from_vars(&ProcessEnv)?;
    let clock = clock_from_vars(&ProcessEnv)?;
    let db = Db::from_config(&database)?;
    let mut worker = Worker::new(db, config).with_clock(clock);
    platform::backups::BackupSchedule::from_vars(&ProcessEnv)?;
    match ProcessEnv.get("K12_STORAGE_URL") {
        Some(_) => {
            let config = platform::backups::BackupConfig::from_vars(
                &ProcessEnv,
                Some(database.owner_url.expose()),
            )?;
            let storage = storage::StorageConfig::from_lookup(|k| ProcessEnv.get(k), None)?;
            let store = storage::Store::open(&storage)?;
            worker = worker.with_backups(platform::backups::Backups::new(
                Db::from_config(&database)?,
                store,
                config,
            ));
        }
        None => tracing::warn!(
            "K12_STORAGE_URL is not set: backup, verification and retention jobs will fail on this worker"
        ),
    }
    // Fails now, not at the first tick, on an invalid K12_ALERT_CRON.
    platform::jobs::catalog::schedules();
    match Config::from_vars(&ProcessEnv)
        .map_err(anyhow::Error::from)
        .and_then(|service| crate::app_state(&service))
    {
        Ok(state) => {
            let outbound = state.config.outbound.clone();
            return worker
                .with_outbound(outbound)
                .with_state(state)
                .run(crate::shutdown_signal())
                .await;
        }
        Err(e) => tracing::warn!(
            error = %e,
            "no service state on this worker: alert evaluation and notifications will fail here"
        ),
    }
    match ProcessEnv.get("K12_SECRET_KEY") {
        Some(key) if key.len() >= 32 => {
            let env = match ProcessEnv.get("K12_ENV").as_deref() {
                Some("development") => Environment::Development,
                _ => Environment::Production,
            };
            let egress = egress_config(&ProcessEnv, env)?;
            worker = worker.with_outbound(Outbound::new(egress, &Secret::new(key))?);
        }
        Some(_) => {
            anyhow::bail!("invalid configuration: K12_SECRET_KEY: must be at least 32 characters")
        }
        None => tracing::warn!(
            "K12_SECRET_KEY is not set: webhook deliveries will fail and retry on this worker"
        ),
    }
    worker.run(crate::shutdown_signal()).await
}

/// The worker inside `k12 dev`: same code, `K12_WORKER_*` honoured, stops on the same
/// signal as the API.
pub fn spawn_in_dev(
    state: platform::http::AppState,
    backups: platform::backups::Backups,
) -> anyhow::Result<tokio::task::JoinHandle<anyhow::Result<()>>> {
    let config = WorkerConfig::from_vars(&ProcessEnv)?;
    let clock = clock_from_vars(&ProcessEnv)?;
    platform::backups::BackupSchedule::from_vars(&ProcessEnv)?;
    Ok(tokio::spawn(
        Worker::new(state.db.clone(), config)
            .with_clock(clock)
            .with_outbound(state.config.outbound.clone())
            .with_backups(backups)
            .with_state(state)
            .run(crate::shutdown_signal()),
    ))
}
