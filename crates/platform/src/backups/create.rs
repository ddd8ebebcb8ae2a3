//! Taking a backup: counts and dump from one exported snapshot, streamed to the store.

use std::process::Stdio;
use std::time::Instant;

use anyhow::{bail, Context};
use chrono::Utc;
use futures::future::BoxFuture;
use serde_json::{json, Value};
use storage::PutOutcome;

use super::stream::{self, Counted, SealReader};
use super::{pg, records, BackupError, BackupRecord, Backups, DATABASE_URL_VAR};

impl Backups {
    /// Takes a full backup. Answers the record: `completed`, or `failed` with the error
    /// (and no object left in the store). `Err` only when not even a record could be made.
    pub async fn create(&self) -> Result<BackupRecord, BackupError> {
        let started = Instant::now();
        if let Err(e) = self.sweep().await {
            tracing::warn!(error = %e, "sweeping abandoned backups");
        }
        let record = records::start(&self.db, Utc::now(), self.store.location()).await?;
        let key = record.storage_key.clone();
        tracing::info!(id = record.id, key = %key, "backup started");
        let mut meta = json!({
            "format": "custom",
            "compression": "pg_dump --compress=1",
            "encryption": self.config.key.as_ref().map(|k| json!({
                "algorithm": backupkit::seal::ALGORITHM,
                "chunk_bytes": backupkit::seal::DEFAULT_CHUNK,
                "key_id": k.id_hex(),
            })),
            "k12_version": env!("CARGO_PKG_VERSION"),
        });
        // The record stays visibly alive while the dump runs; a record whose heartbeat
        // stops (this process killed) is failed by the next sweep.
        let heartbeat = {
            let db = self.db.clone();
            let id = record.id;
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(super::HEARTBEAT);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    if let Err(e) = records::heartbeat(&db, id).await {
                        tracing::warn!(id, error = %e, "backup heartbeat");
                    }
                }
            })
        };
        let outcome = self.dump(&key, &mut meta).await;
        heartbeat.abort();
        let seconds = started.elapsed().as_secs_f64();
        match outcome {
            Ok(put) => {
                meta["stored_bytes"] = json!(put.size_bytes);
                meta["parts"] = json!(put.parts);
                let record = records::complete(
                    &self.db,
                    record.id,
                    put.size_bytes,
                    &put.sha256,
                    seconds,
                    &meta,
                )
                .await?;
                tracing::info!(
                    id = record.id,
                    size = put.size_bytes,
                    seconds,
                    "backup completed"
                );
                Ok(record)
            }
            Err(e) => {
                let message = format!("{e:#}");
                // A multipart upload that failed was aborted by the store; a dump that
                // failed after its object was stored leaves that object: remove it.
                if let Err(d) = self.store.delete(&key).await {
                    tracing::warn!(key = %key, error = %d, "removing a failed backup's object");
                }
                tracing::error!(id = record.id, error = %message, "backup failed");
                Ok(records::fail(&self.db, record.id, &message, seconds, &meta).await?)
            }
        }
    }

    async fn dump(&self, key: &str, meta: &mut Value) -> anyhow::Result<PutOutcome> {
        let admin = &self.config.admin;
        let bin = &self.config.pg_bin;
        let mut conn = admin.connect().await?;
        if !pg::reads_all_rows(&mut conn).await? {
            bail!(
                "{DATABASE_URL_VAR}: the role of {} cannot read the rows behind row-level \
                 security; back up as a role with BYPASSRLS (deploy/roles.sql: k12_backup) or a \
                 superuser",
                admin.redacted()
            );
        }
        // The counts and the dump see the same data: one snapshot, exported here and
        // imported by pg_dump, held until pg_dump has finished.
        for sql in [
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
            "SET LOCAL row_security = off",
        ] {
            sqlx::query(sql).execute(&mut conn).await?;
        }
        let (snapshot, version, size): (String, String, i64) = sqlx::query_as(
            "SELECT pg_export_snapshot(), current_setting('server_version'),
                    pg_database_size(current_database())",
        )
        .fetch_one(&mut conn)
        .await?;
        meta["postgres_version"] = json!(version);
        meta["database_size_bytes"] = json!(size);
        meta["tools"] = json!({ "pg_dump": pg::tool_version(bin, "pg_dump").await });
        // Materialized views are derived data: their definitions are dumped, their rows are
        // not. Restoring them would run their query as the owner with row security off,
        // which forced row-level security refuses; a restore refreshes them instead.
        let matviews = pg::materialized_views(&mut conn).await?;
        meta["materialized_views_not_dumped"] = json!(matviews);

        let mut child = pg::client_command(bin, "pg_dump", admin)
            .args([
                "--format=custom",
                "--compress=1",
                "--no-password",
                &format!("--snapshot={snapshot}"),
            ])
            .args(
                matviews
                    .iter()
                    .map(|name| format!("--exclude-table-data={name}")),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", bin.join("pg_dump").display()))?;
        let stdout = child.stdout.take().context("pg_dump stdout")?;
        let stderr = tokio::spawn(stream::tail(
            child.stderr.take().context("pg_dump stderr")?,
            4096,
        ));
        let progress = self.progress();
        let source = Counted::new(stdout, std::sync::Arc::clone(&progress));
        // When the upload fails it drops pg_dump's stdout, so pg_dump ends too.
        let store = self.store.clone();
        let seal = self.config.key.clone();
        let upload: BoxFuture<'_, storage::Result<PutOutcome>> = Box::pin(async move {
            match &seal {
                Some(k) => store.put_stream(key, SealReader::new(source, k)).await,
                None => store.put_stream(key, source).await,
            }
        });
        let counting: BoxFuture<'_, sqlx::Result<_>> = Box::pin(pg::count_rows(&mut conn));
        let (uploaded, counts) = tokio::join!(upload, counting);
        if uploaded.is_err() {
            let _ = child.start_kill();
        }
        let status = child.wait().await.context("waiting for pg_dump")?;
        let stderr = stderr.await.unwrap_or_default();
        let _ = sqlx::query("COMMIT").execute(&mut conn).await;

        let put = uploaded.context("storing the dump")?;
        if !status.success() {
            bail!("pg_dump failed ({status}): {stderr}");
        }
        let counts = counts.context("counting rows in the dump's snapshot")?;
        meta["dump_bytes"] = json!(progress.bytes());
        meta["tables"] = json!(counts.len());
        meta["total_rows"] = json!(counts.values().sum::<i64>());
        meta["row_counts"] = json!(counts);
        Ok(put)
    }
}
