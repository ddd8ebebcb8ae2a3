//! Verifying a backup by restoring it, and the stream from the store into `pg_restore`
//! that verification and restore share.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::process::{ExitStatus, Stdio};
use std::time::Instant;

use anyhow::Context;
use backupkit::seal::{OpenError, Opener, SealKey};
use futures::FutureExt;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use storage::StorageError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::pg::{self, PgTarget};
use super::stream;
use super::{records, BackupError, BackupRecord, Backups, Status, ENCRYPTION_KEY_VAR};

/// What streaming an object into `pg_restore` observed.
pub(super) struct Fed {
    pub size: u64,
    pub sha256: String,
    pub decrypt_error: Option<OpenError>,
    pub status: ExitStatus,
    pub stderr: String,
}

/// Why an object could not be streamed at all.
pub(super) enum FeedError {
    /// The object is not in the store.
    Missing,
    /// The store failed (unreachable, or the object changed during the read).
    Store(anyhow::Error),
}

/// One table's count: recorded at backup time and found after the restore.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct TableCheck {
    pub expected: Option<i64>,
    pub actual: Option<i64>,
    #[serde(rename = "match")]
    pub matches: bool,
}

/// Compares recorded and restored counts, over the tables of both.
pub(super) fn compare(
    expected: &BTreeMap<String, i64>,
    actual: &BTreeMap<String, i64>,
) -> (BTreeMap<String, TableCheck>, Vec<String>) {
    let mut tables = BTreeMap::new();
    let mut differ = Vec::new();
    for name in expected.keys().chain(actual.keys()) {
        if tables.contains_key(name) {
            continue;
        }
        let (e, a) = (expected.get(name).copied(), actual.get(name).copied());
        let matches = e == a;
        if !matches {
            let show = |v: Option<i64>| v.map_or("no table".to_owned(), |n| n.to_string());
            differ.push(format!("{name} (expected {}, got {})", show(e), show(a)));
        }
        tables.insert(
            name.clone(),
            TableCheck {
                expected: e,
                actual: a,
                matches,
            },
        );
    }
    (tables, differ)
}

impl Backups {
    /// Streams object `key` into `pg_restore` connected to `target` (extra arguments
    /// `args`), hashing and counting what is read and decrypting with `key` when given.
    /// The object is always read to its end, so a damaged object is reported by its
    /// checksum even when `pg_restore` stopped early.
    pub(super) async fn feed_restore(
        &self,
        object: &str,
        key: Option<&SealKey>,
        target: &PgTarget,
        args: &[&str],
    ) -> Result<Fed, FeedError> {
        let mut reader = match self.store.get_stream(object).await {
            Ok(r) => r,
            Err(StorageError::NotFound { .. }) => return Err(FeedError::Missing),
            Err(e) => return Err(FeedError::Store(e.into())),
        };
        let progress = self.progress();
        progress.set_total(reader.size());
        let bin = &self.config.pg_bin;
        let mut child = pg::client_command(bin, "pg_restore", target)
            .args([
                "--no-password",
                "--exit-on-error",
                "--single-transaction",
                &format!("--dbname={}", target.database()),
            ])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", bin.join("pg_restore").display()))
            .map_err(FeedError::Store)?;
        let stderr = child
            .stderr
            .take()
            .map(|e| tokio::spawn(stream::tail(e, 4096)));
        let mut stdin = child.stdin.take();
        let mut opener = key.map(Opener::new);
        let mut decrypt_error = None;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 256 * 1024];
        let mut plain = Vec::with_capacity(buf.len() + 2 * backupkit::seal::DEFAULT_CHUNK);
        loop {
            let n = match reader.read(&mut buf).await {
                Ok(n) => n,
                Err(e) => {
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                    let missing = e
                        .get_ref()
                        .and_then(|inner| inner.downcast_ref::<StorageError>())
                        .is_some_and(|s| matches!(s, StorageError::NotFound { .. }));
                    return Err(if missing {
                        FeedError::Missing
                    } else {
                        FeedError::Store(anyhow::Error::new(e).context("reading the backup"))
                    });
                }
            };
            if n == 0 {
                break;
            }
            let chunk = &buf[..n];
            hasher.update(chunk);
            size += n as u64;
            progress.add(n as u64);
            let data: &[u8] = match opener.as_mut() {
                None => chunk,
                Some(_) if decrypt_error.is_some() => &[],
                Some(o) => {
                    plain.clear();
                    match o.push(chunk, &mut plain) {
                        Ok(()) => &plain,
                        Err(e) => {
                            decrypt_error = Some(e);
                            stdin = None;
                            &[]
                        }
                    }
                }
            };
            if let Some(s) = stdin.as_mut() {
                if !data.is_empty() && s.write_all(data).await.is_err() {
                    // pg_restore stopped; keep reading to check the whole object.
                    stdin = None;
                }
            }
        }
        if let Some(o) = opener.take() {
            if decrypt_error.is_none() {
                plain.clear();
                match o.finish(&mut plain) {
                    Ok(()) => {
                        if let Some(s) = stdin.as_mut() {
                            let _ = s.write_all(&plain).await;
                        }
                    }
                    Err(e) => decrypt_error = Some(e),
                }
            }
        }
        if let Some(mut s) = stdin.take() {
            let _ = s.shutdown().await;
        }
        let status = child
            .wait()
            .await
            .context("waiting for pg_restore")
            .map_err(FeedError::Store)?;
        let stderr = match stderr {
            Some(t) => t.await.unwrap_or_default(),
            None => String::new(),
        };
        Ok(Fed {
            size,
            sha256: hex::encode(hasher.finalize()),
            decrypt_error,
            status,
            stderr,
        })
    }

    /// The key to open `record`'s object with: `Ok(None)` for a plain backup, `Err` with a
    /// reason when it is encrypted and no key is configured.
    pub(super) fn key_for(&self, record: &BackupRecord) -> Result<Option<SealKey>, String> {
        let encrypted = record
            .metadata
            .get("encryption")
            .is_some_and(|e| !e.is_null());
        if !encrypted {
            return Ok(None);
        }
        match &self.config.key {
            Some(k) => Ok(Some(k.clone())),
            None => Err(format!(
                "the backup is encrypted and {ENCRYPTION_KEY_VAR} is not set"
            )),
        }
    }

    /// Verifies a `completed` backup by restoring it into a temporary database and
    /// comparing every table's count; answers the record, now `verified` or
    /// `verification_failed` (with the reason in `error_message` and
    /// `verification_result`). A backup in another state is left unchanged
    /// ([`BackupError::WrongState`]); so is one whose store cannot be reached (`Err`: the
    /// job retries).
    pub async fn verify(&self, id: i64) -> Result<BackupRecord, BackupError> {
        let record = self.get(id).await?;
        if record.status() != Some(Status::Completed) {
            return Err(BackupError::WrongState {
                id,
                status: record.status.clone(),
                message: "only completed backups are verified",
            });
        }
        if record.deleted_at.is_some() {
            return Err(BackupError::WrongState {
                id,
                status: record.status.clone(),
                message: "its object was deleted by retention",
            });
        }
        let started = Instant::now();
        let mut result = serde_json::Map::new();
        let outcome = self.check(&record, &mut result).await;
        let seconds = started.elapsed().as_secs_f64();
        let failure = match outcome {
            Ok(()) => None,
            Err(Check::Failed(reason)) => Some(reason),
            Err(Check::Unavailable(e)) => return Err(BackupError::Other(e)),
        };
        result.insert("reason".into(), json!(failure));
        let verified = failure.is_none();
        let record = records::finish_verification(
            &self.db,
            id,
            verified,
            &Value::Object(result),
            seconds,
            failure.as_deref(),
        )
        .await?;
        match &failure {
            None => tracing::info!(id, seconds, "backup verified"),
            Some(reason) => tracing::error!(id, reason = %reason, "backup verification failed"),
        }
        Ok(record)
    }

    async fn check(
        &self,
        record: &BackupRecord,
        result: &mut serde_json::Map<String, Value>,
    ) -> Result<(), Check> {
        let key = self.key_for(record).map_err(Check::Failed)?;
        let expected_size = record.size_bytes.unwrap_or(0).max(0) as u64;
        // The object's size first: a truncated or replaced object fails here, before any
        // restore is attempted.
        match self.store.head(&record.storage_key).await {
            Ok(meta) => {
                result.insert(
                    "size".into(),
                    json!({"expected": expected_size, "actual": meta.size, "match": meta.size == expected_size}),
                );
                if meta.size != expected_size {
                    return Err(Check::Failed(format!(
                        "the stored object is {} bytes, the backup recorded {expected_size}: truncated or replaced",
                        meta.size
                    )));
                }
            }
            Err(StorageError::NotFound { .. }) => {
                return Err(Check::Failed(format!(
                    "the object {} is missing from the store",
                    record.storage_key
                )))
            }
            Err(e) => return Err(Check::Unavailable(e.into())),
        }

        let admin = &self.config.admin;
        let mut conn = admin.connect().await.map_err(Check::Unavailable)?;
        let name = pg::verify_db_name(record.id);
        pg::create_database(&mut conn, &name)
            .await
            .with_context(|| format!("creating the temporary database {name}"))
            .map_err(Check::Unavailable)?;
        result.insert("temporary_database".into(), json!(name));
        let target = admin.with_database(&name);
        let restored =
            AssertUnwindSafe(self.restore_and_count(record, key.as_ref(), &target, result))
                .catch_unwind()
                .await;
        // Always dropped: after success, failure or panic.
        let dropped = pg::drop_database(&mut conn, &name).await;
        result.insert("temporary_database_dropped".into(), json!(dropped.is_ok()));
        if let Err(e) = &dropped {
            tracing::error!(database = %name, error = %e, "dropping the verification database");
        }
        let restored = match restored {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        let (_, counts) = restored?;
        let (tables, differ) = compare(&record.row_counts(), &counts);
        result.insert("tables".into(), json!(tables));
        if !differ.is_empty() {
            return Err(Check::Failed(format!(
                "{} table(s) differ: {}",
                differ.len(),
                differ.join(", ")
            )));
        }
        Ok(())
    }

    /// Restores into `target` and counts its rows; answers the object's SHA-256 and the
    /// counts. A checksum mismatch is reported before a `pg_restore` error (a damaged
    /// object explains the error, not the other way round).
    async fn restore_and_count(
        &self,
        record: &BackupRecord,
        key: Option<&SealKey>,
        target: &PgTarget,
        result: &mut serde_json::Map<String, Value>,
    ) -> Result<(String, BTreeMap<String, i64>), Check> {
        let fed = match self
            .feed_restore(
                &record.storage_key,
                key,
                target,
                &["--no-owner", "--no-privileges"],
            )
            .await
        {
            Ok(fed) => fed,
            Err(FeedError::Missing) => {
                return Err(Check::Failed(format!(
                    "the object {} is missing from the store",
                    record.storage_key
                )))
            }
            Err(FeedError::Store(e)) => return Err(Check::Unavailable(e)),
        };
        let expected_sha = record.sha256.clone().unwrap_or_default();
        result.insert(
            "sha256".into(),
            json!({"expected": expected_sha, "actual": fed.sha256, "match": fed.sha256 == expected_sha}),
        );
        result.insert(
            "pg_restore".into(),
            json!({"exit_code": fed.status.code(), "success": fed.status.success(), "stderr": fed.stderr}),
        );
        if fed.sha256 != expected_sha {
            return Err(Check::Failed(format!(
                "SHA-256 mismatch: the object's is {}, the backup recorded {expected_sha} ({} bytes read)",
                fed.sha256, fed.size
            )));
        }
        if let Some(e) = fed.decrypt_error {
            return Err(Check::Failed(format!("decryption failed: {e}")));
        }
        if !fed.status.success() {
            return Err(Check::Failed(format!(
                "pg_restore failed ({}): {}",
                fed.status, fed.stderr
            )));
        }
        let mut conn = target.connect().await.map_err(Check::Unavailable)?;
        let counts = pg::count_rows(&mut conn)
            .await
            .context("counting the restored rows")
            .map_err(Check::Unavailable)?;
        Ok((fed.sha256, counts))
    }
}

/// How a verification check ended without passing.
enum Check {
    /// The backup is bad: `verification_failed` with this reason.
    Failed(String),
    /// The check could not run (store or database unreachable): the record is unchanged.
    Unavailable(anyhow::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_names_every_difference() {
        let e: BTreeMap<String, i64> = [("a".into(), 1), ("b".into(), 2)].into();
        let a: BTreeMap<String, i64> = [("a".into(), 1), ("b".into(), 3), ("c".into(), 0)].into();
        let (tables, differ) = compare(&e, &a);
        assert_eq!(tables.len(), 3);
        assert!(tables["a"].matches);
        assert!(!tables["b"].matches);
        assert_eq!(tables["c"].expected, None);
        assert_eq!(
            differ,
            vec!["b (expected 2, got 3)", "c (expected no table, got 0)"]
        );
        assert!(compare(&e, &e).1.is_empty());
    }
}
