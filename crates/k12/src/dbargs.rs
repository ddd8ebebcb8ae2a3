//! Database settings for operational commands: from the environment (`DATABASE_URL`,
//! `DATABASE_OWNER_URL`) or from a `k12 dev` data directory (`--data-dir`).

use std::path::PathBuf;

use anyhow::Context;
use pgcluster::Cluster;
use platform::config::{DatabaseConfig, ProcessEnv};
use platform::db::Db;

#[derive(clap::Args, Debug)]
pub struct DbArgs {
    /// Use the database of this `k12 dev` data directory instead of the environment.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// An open database, and the dev cluster to stop afterwards if we had to start it.
pub struct Connected {
    pub db: Db,
    started: Option<Cluster>,
}

impl Connected {
    pub fn finish(self) -> anyhow::Result<()> {
        if let Some(cluster) = self.started {
            cluster.stop()?;
        }
        Ok(())
    }
}

impl DbArgs {
    pub async fn connect(&self) -> anyhow::Result<Connected> {
        match &self.data_dir {
            None => {
                let config = DatabaseConfig::from_vars(&ProcessEnv)?;
                Ok(Connected {
                    db: Db::from_config(&config)?,
                    started: None,
                })
            }
            Some(dir) => {
                let state = crate::dev::DevState::load(dir).with_context(|| {
                    format!("{} is not a k12 dev data directory", dir.display())
                })?;
                let mut cluster = Cluster::init(&dir.join("pg"), &state.superuser_password)?;
                let started = if cluster.is_running() && cluster.running_port().is_some() {
                    cluster.ensure_running()?;
                    None
                } else {
                    cluster.start(0)?;
                    Some(cluster.clone())
                };
                let url = cluster.url("k12_app", &state.app_password, "k12");
                Ok(Connected {
                    db: Db::connect_lazy(&url, &Default::default())?,
                    started,
                })
            }
        }
    }
}
