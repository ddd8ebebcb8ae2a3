//! Backups (spec 06) against the real PostgreSQL and a real S3-protocol server (moto) as
//! well as the file store: the round trip while another task writes, corruption, store
//! outages, credentials kept off command lines and logs, the lifecycle, retention and
//! encryption.

#[path = "../../storage/tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backupkit::retention::Policy;
use backupkit::seal::SealKey;
use platform::backups::{
    BackupConfig, BackupError, BackupRecord, Backups, PgTarget, RestoreOptions,
};
use platform::db::quote_ident;
use sqlx::{Connection, PgConnection};
use testkit::{School, TestApp};

fn config(app: &TestApp, key: Option<SealKey>) -> BackupConfig {
    BackupConfig {
        admin: PgTarget::parse(&app.db.superuser_url()).unwrap(),
        key,
        retention: Policy::default(),
        pg_bin: platform::backups::pg::pg_bin_dir().unwrap(),
    }
}

fn backups(app: &TestApp, key: Option<SealKey>) -> Backups {
    Backups::new(app.pool().clone(), app.store.clone(), config(app, key))
}

async fn superuser(app: &TestApp) -> PgConnection {
    PgConnection::connect(&app.db.superuser_url())
        .await
        .unwrap()
}

/// A table the writer fills, and `rows` rows of filler so the dump takes a while.
async fn seed(app: &TestApp, rows: i64) {
    School::build(app, "north").await;
    let mut c = superuser(app).await;
    sqlx::raw_sql(
        "CREATE TABLE backup_probe_writes (id bigserial PRIMARY KEY, payload text NOT NULL,
                                            at timestamptz NOT NULL DEFAULT now())",
    )
    .execute(&mut c)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO backup_probe_writes (payload)
         SELECT md5(g::text) || md5((g * 7)::text) FROM generate_series(1, $1) g",
    )
    .bind(rows)
    .execute(&mut c)
    .await
    .unwrap();
}

/// Inserts rows one transaction at a time until stopped; answers how many it wrote.
fn start_writer(app: &TestApp) -> (Arc<AtomicBool>, tokio::task::JoinHandle<u64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let url = app.db.superuser_url();
    let handle = tokio::spawn(async move {
        let mut c = PgConnection::connect(&url).await.unwrap();
        let mut n = 0;
        while !flag.load(Ordering::SeqCst) {
            sqlx::query("INSERT INTO backup_probe_writes (payload) VALUES ('written during')")
                .execute(&mut c)
                .await
                .unwrap();
            n += 1;
        }
        n
    });
    (stop, handle)
}

async fn probe_rows(app: &TestApp) -> i64 {
    let mut c = superuser(app).await;
    sqlx::query_scalar("SELECT count(*) FROM backup_probe_writes")
        .fetch_one(&mut c)
        .await
        .unwrap()
}

/// Count and an md5 of the ordered text of every row, per table.
async fn fingerprint(url: &str) -> BTreeMap<String, (i64, String)> {
    let mut c = PgConnection::connect(url).await.unwrap();
    let tables = platform::backups::pg::tables(&mut c).await.unwrap();
    let mut out = BTreeMap::new();
    for (schema, table) in tables {
        let (n, md5): (i64, Option<String>) = sqlx::query_as(&format!(
            "SELECT count(*), md5(string_agg(t::text, '|' ORDER BY t::text)) FROM ONLY {}.{} t",
            quote_ident(&schema),
            quote_ident(&table)
        ))
        .fetch_one(&mut c)
        .await
        .unwrap();
        out.insert(format!("{schema}.{table}"), (n, md5.unwrap_or_default()));
    }
    out
}

/// A new empty database on the test cluster; answers its superuser URL.
async fn new_database(app: &TestApp, name: &str) -> String {
    let mut c = superuser(app).await;
    sqlx::query(&format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        quote_ident(name)
    ))
    .execute(&mut c)
    .await
    .unwrap();
    sqlx::query(&format!("CREATE DATABASE {}", quote_ident(name)))
        .execute(&mut c)
        .await
        .unwrap();
    let admin = PgTarget::parse(&app.db.superuser_url()).unwrap();
    let url = app.db.superuser_url();
    let base = url.rsplit_once('/').unwrap().0;
    assert_eq!(admin.with_database(name).database(), name);
    format!("{base}/{name}")
}

async fn drop_database(app: &TestApp, name: &str) {
    let mut c = superuser(app).await;
    let _ = sqlx::query(&format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        quote_ident(name)
    ))
    .execute(&mut c)
    .await;
}

/// Verification databases still present for backups of this test's database.
async fn verify_databases(app: &TestApp, ids: &[i64]) -> Vec<String> {
    // The temporary databases these backups' verifications used, by the names their
    // records hold: backup ids repeat across tests (each has its own database in the one
    // cluster), so a name prefix would also match another test's verification.
    let mut tx = app.pool().system().await.unwrap();
    let used: Vec<String> = sqlx::query_scalar(
        "SELECT verification_result->>'temporary_database' FROM backup_records
          WHERE id = ANY($1) AND verification_result ? 'temporary_database'",
    )
    .bind(ids)
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let mut c = superuser(app).await;
    sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE datname = ANY($1)")
        .bind(&used)
        .fetch_all(&mut c)
        .await
        .unwrap()
}

fn unique(name: &str) -> String {
    format!("k12_restore_{name}_{}", support::unique())
}

fn assert_completed(r: &BackupRecord) {
    assert_eq!(r.status, "completed", "{:?}", r.error_message);
    assert!(r.sha256.as_ref().is_some_and(|s| s.len() == 64));
    assert!(r.size_bytes.unwrap() > 0);
    assert!(r.storage_key.starts_with("backups/"), "{}", r.storage_key);
    assert!(r.storage_key.ends_with(".dump"));
}

/// Seed, back up while another task writes, verify, restore into new databases, compare
/// every table.
async fn round_trip(app: &TestApp, key: Option<SealKey>) {
    seed(app, 150_000).await;
    let b = backups(app, key);
    let before = probe_rows(app).await;
    let (stop, writer) = start_writer(app);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let first = b.create().await.unwrap();
    stop.store(true, Ordering::SeqCst);
    let written = writer.await.unwrap();
    assert_completed(&first);
    let after = probe_rows(app).await;
    let recorded = first.row_counts()["public.backup_probe_writes"];
    // The writer ran throughout: the snapshot saw some of its rows but not all.
    assert!(written > 10, "the writer barely ran ({written} rows)");
    assert!(
        recorded > before && recorded < after,
        "{before} < {recorded} < {after}"
    );
    assert!(first.row_counts()["public.users"] > 0);
    assert!(first.metadata["postgres_version"].is_string());

    // Verification restores exactly the snapshot's rows.
    let verified = b.verify(first.id).await.unwrap();
    assert_eq!(verified.status, "verified", "{:?}", verified.error_message);
    assert!(verified.verified_at.is_some());
    let result = verified.verification_result.clone().unwrap();
    assert_eq!(result["sha256"]["match"], true);
    assert_eq!(result["temporary_database_dropped"], true);
    let tables = result["tables"].as_object().unwrap();
    assert_eq!(tables.len(), first.row_counts().len());
    assert!(tables.values().all(|t| t["match"] == true));
    assert_eq!(
        tables["public.backup_probe_writes"]["actual"],
        serde_json::json!(recorded)
    );
    assert!(verify_databases(app, &[first.id]).await.is_empty());

    // Restore the backup taken while writing: every count as recorded.
    let name_a = unique("a");
    let url_a = new_database(app, &name_a).await;
    let target_a = PgTarget::parse(&url_a).unwrap();
    let report = b
        .restore(
            first.id,
            &RestoreOptions {
                target: target_a.clone(),
                force: false,
            },
        )
        .await
        .unwrap();
    assert!(report.all_match, "{:?}", report.table_counts);
    assert_eq!(report.tables, first.row_counts().len());
    assert_eq!(report.rows, first.row_counts().values().sum::<i64>());
    assert!(!report.target.contains("k12-test-superuser"));

    // A quiet backup restores to an identical copy of every table's contents (except the
    // backup records, which change after the snapshot by design).
    let second = b.create().await.unwrap();
    assert_completed(&second);
    let source = fingerprint(&app.db.superuser_url()).await;
    let name_b = unique("b");
    let url_b = new_database(app, &name_b).await;
    let report = b
        .restore(
            second.id,
            &RestoreOptions {
                target: PgTarget::parse(&url_b).unwrap(),
                force: false,
            },
        )
        .await
        .unwrap();
    assert!(report.all_match);
    let restored = fingerprint(&url_b).await;
    assert_eq!(
        source.keys().collect::<Vec<_>>(),
        restored.keys().collect::<Vec<_>>()
    );
    for (table, fp) in &source {
        if table != "public.backup_records" {
            assert_eq!(fp, &restored[table], "{table} differs after restore");
        }
    }
    assert_eq!(
        source["public.backup_probe_writes"].0, after,
        "nothing wrote after the writer stopped"
    );

    // A non-empty target is refused without force, replaced with it.
    let refused = b
        .restore(
            second.id,
            &RestoreOptions {
                target: target_a.clone(),
                force: false,
            },
        )
        .await;
    assert!(
        matches!(refused, Err(BackupError::TargetNotEmpty { tables }) if tables > 10),
        "{refused:?}"
    );
    let forced = b
        .restore(
            second.id,
            &RestoreOptions {
                target: target_a,
                force: true,
            },
        )
        .await
        .unwrap();
    assert!(forced.all_match);
    assert!(forced.replaced_tables > 10);
    let replaced = fingerprint(&url_a).await;
    assert_eq!(
        replaced["public.backup_probe_writes"],
        restored["public.backup_probe_writes"]
    );

    drop_database(app, &name_a).await;
    drop_database(app, &name_b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn round_trip_on_the_file_store_while_writing() {
    let app = TestApp::spawn().await;
    round_trip(&app, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn round_trip_on_s3_while_writing() {
    let Some(store) = support::s3_store().await else {
        return;
    };
    let app = TestApp::spawn_with_store(store).await;
    round_trip(&app, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flipped_truncated_and_missing_objects_fail_verification() {
    let app = TestApp::spawn().await;
    seed(&app, 2_000).await;
    let b = backups(&app, None);
    let flipped = b.create().await.unwrap();
    let truncated = b.create().await.unwrap();
    let missing = b.create().await.unwrap();
    for r in [&flipped, &truncated, &missing] {
        assert_completed(r);
    }

    let bytes = app
        .store
        .get_bytes(&flipped.storage_key, 1 << 30)
        .await
        .unwrap();
    let mut bad = bytes.to_vec();
    let middle = bad.len() / 2;
    bad[middle] ^= 0x01;
    app.store
        .put_bytes(&flipped.storage_key, bad.into())
        .await
        .unwrap();
    let r = b.verify(flipped.id).await.unwrap();
    assert_eq!(r.status, "verification_failed");
    let reason = r.error_message.clone().unwrap();
    assert!(reason.contains("SHA-256 mismatch"), "{reason}");
    assert_eq!(
        r.verification_result.as_ref().unwrap()["reason"],
        reason.as_str()
    );

    let bytes = app
        .store
        .get_bytes(&truncated.storage_key, 1 << 30)
        .await
        .unwrap();
    app.store
        .put_bytes(&truncated.storage_key, bytes.slice(..bytes.len() - 100))
        .await
        .unwrap();
    let r = b.verify(truncated.id).await.unwrap();
    assert_eq!(r.status, "verification_failed");
    assert!(
        r.error_message.as_ref().unwrap().contains("truncated"),
        "{:?}",
        r.error_message
    );

    app.store.delete(&missing.storage_key).await.unwrap();
    let r = b.verify(missing.id).await.unwrap();
    assert_eq!(r.status, "verification_failed");
    assert!(
        r.error_message.as_ref().unwrap().contains("missing"),
        "{:?}",
        r.error_message
    );

    // Final states stay final; no temporary database is left.
    assert!(matches!(
        b.verify(flipped.id).await,
        Err(BackupError::WrongState { .. })
    ));
    assert!(
        verify_databases(&app, &[flipped.id, truncated.id, missing.id])
            .await
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restore_that_fails_is_reported_and_the_verification_database_dropped() {
    // A flipped byte that keeps the checksum cannot be made; instead, tamper with the
    // recorded counts: pg_restore succeeds and the comparison must catch it.
    let app = TestApp::spawn().await;
    seed(&app, 1_000).await;
    let b = backups(&app, None);
    let r = b.create().await.unwrap();
    let mut c = superuser(&app).await;
    // The lifecycle trigger keeps metadata fixed once completed…
    let err = sqlx::query(
        "UPDATE backup_records SET metadata = jsonb_set(metadata, '{row_counts,public.backup_probe_writes}', '1')
          WHERE id = $1",
    )
    .bind(r.id)
    .execute(&mut c)
    .await
    .unwrap_err();
    assert!(err.to_string().contains("fixed"), "{err}");
    // …so only a superuser disabling it can, which the comparison then exposes.
    sqlx::raw_sql(&format!(
        "ALTER TABLE backup_records DISABLE TRIGGER backup_records_lifecycle;
         UPDATE backup_records SET metadata = jsonb_set(metadata, '{{row_counts,public.backup_probe_writes}}', '1')
          WHERE id = {};
         ALTER TABLE backup_records ENABLE TRIGGER backup_records_lifecycle;",
        r.id
    ))
    .execute(&mut c)
    .await
    .unwrap();
    let v = b.verify(r.id).await.unwrap();
    assert_eq!(v.status, "verification_failed");
    let reason = v.error_message.unwrap();
    assert!(
        reason.contains("public.backup_probe_writes (expected 1, got 1000)"),
        "{reason}"
    );
    assert!(verify_databases(&app, &[r.id]).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreachable_store_ends_failed_with_nothing_left() {
    let app = TestApp::spawn().await;
    seed(&app, 1_000).await;
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = support::s3_config(&format!("http://127.0.0.1:{port}"), "k12-dead", "k12")
        .with_timeouts(storage::Timeouts {
            connect: Duration::from_millis(500),
            request: Duration::from_secs(2),
            max_retries: 1,
            retry_timeout: Duration::from_secs(2),
        });
    let store = storage::Store::open(&dead).unwrap();
    let b = Backups::new(app.pool().clone(), store, config(&app, None));
    let r = b.create().await.unwrap();
    assert_eq!(r.status, "failed");
    let error = r.error_message.clone().unwrap();
    assert!(error.contains("storing the dump"), "{error}");
    assert!(error.contains("unavailable"), "{error}");
    assert!(!error.contains("k12-test-superuser"));
    assert!(r.sha256.is_none());
    // The lifecycle: a failed backup is final.
    assert!(matches!(
        b.verify(r.id).await,
        Err(BackupError::WrongState { .. })
    ));
    assert!(verify_databases(&app, &[r.id]).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_failing_mid_upload_leaves_no_partial_object() {
    let Some(endpoint) = support::s3_endpoint() else {
        return;
    };
    let bucket = support::create_bucket(&endpoint).await;
    let s3 = storage::Store::open(&support::s3_config(&endpoint, &bucket, "k12")).unwrap();
    // Multipart uploads fail after their first part.
    let failing = Arc::new(support::CountingStore {
        inner: s3.object_store(),
        flow: Arc::new(support::Flow::default()),
        fail_after_parts: Some(1),
    });
    let store = storage::Store::from_object_store(failing, "k12").unwrap();
    let app = TestApp::spawn_with_store(s3.clone()).await;
    // Random text compresses poorly: well over two 8 MiB parts.
    seed(&app, 600_000).await;
    let b = Backups::new(app.pool().clone(), store, config(&app, None));
    let r = b.create().await.unwrap();
    assert_eq!(r.status, "failed", "{r:?}");
    assert!(r
        .error_message
        .as_ref()
        .unwrap()
        .contains("connection reset by the test"));
    assert!(s3.list("backups").await.unwrap().is_empty());
    // No multipart upload is left open in the bucket either.
    let uploads = reqwest::get(format!("{endpoint}/{bucket}?uploads"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!uploads.contains("<UploadId>"), "{uploads}");
}

/// Collects log output (every level) for the credentials check.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Every process running `program` now: (argv, environment).
fn processes(program: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let argv = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if argv.split(' ').next().is_some_and(|a| a.ends_with(program)) {
            let env = std::fs::read(entry.path().join("environ")).unwrap_or_default();
            out.push((argv, String::from_utf8_lossy(&env).replace('\0', " ")));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn credentials_never_reach_a_command_line_or_a_log() {
    let logs = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .finish();
    // Global (the backup runs on the runtime's other threads), and first: the app's own
    // subscriber then stays out (this test runs in its own process).
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let app = TestApp::spawn().await;
    seed(&app, 300_000).await;
    let password = "k12-test-superuser";
    let b = backups(&app, None);
    let running = tokio::spawn({
        let b = b.clone();
        async move { b.create().await }
    });
    let mut seen = Vec::new();
    while !running.is_finished() {
        seen.extend(processes("pg_dump"));
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let record = running.await.unwrap().unwrap();
    assert_completed(&record);
    let mine: Vec<_> = seen
        .iter()
        .filter(|(_, env)| env.contains(&format!("PGDATABASE={}", app.db.name)))
        .collect();
    assert!(!mine.is_empty(), "never saw our pg_dump running");
    for (argv, env) in &mine {
        assert!(
            !argv.contains(password),
            "password on the command line: {argv}"
        );
        assert!(argv.contains("--snapshot="), "{argv}");
        assert!(env.contains(&format!("PGPASSWORD={password}")));
    }
    let verified = b.verify(record.id).await.unwrap();
    assert_eq!(verified.status, "verified");
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("backup completed"),
        "logs were not captured: {text}"
    );
    assert!(!text.contains(password), "password in the logs");
    let json = serde_json::to_string(&verified).unwrap();
    assert!(!json.contains(password));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_lifecycle_is_enforced_by_the_database() {
    let app = TestApp::spawn().await;
    let mut tx = app.pool().system().await.unwrap();
    let err = sqlx::query(
        "INSERT INTO backup_records (storage_key, status) VALUES ('backups/x.dump', 'completed')",
    )
    .execute(&mut *tx)
    .await
    .unwrap_err();
    assert!(err.to_string().contains("starts in_progress"), "{err}");
    drop(tx);
    let mut tx = app.pool().system().await.unwrap();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO backup_records (storage_key) VALUES ('backups/y.dump') RETURNING id",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let attempt = |sql: &'static str| {
        let db = app.pool().clone();
        async move {
            let mut tx = db.system().await.unwrap();
            let r = sqlx::query(sql).bind(id).execute(&mut *tx).await;
            if r.is_ok() {
                tx.commit().await.unwrap();
            }
            r.map(|_| ()).map_err(|e| e.to_string())
        }
    };
    let verified_at =
        "UPDATE backup_records SET status = 'verified', verified_at = now() WHERE id = $1";
    assert!(attempt(verified_at)
        .await
        .unwrap_err()
        .contains("cannot become verified"));
    attempt("UPDATE backup_records SET status = 'completed', size_bytes = 1, sha256 = repeat('a', 64) WHERE id = $1")
        .await
        .unwrap();
    assert!(
        attempt("UPDATE backup_records SET status = 'failed' WHERE id = $1")
            .await
            .unwrap_err()
            .contains("cannot become failed")
    );
    assert!(
        attempt("UPDATE backup_records SET sha256 = repeat('b', 64) WHERE id = $1")
            .await
            .unwrap_err()
            .contains("fixed")
    );
    attempt(verified_at).await.unwrap();
    assert!(
        attempt("UPDATE backup_records SET status = 'completed' WHERE id = $1")
            .await
            .unwrap_err()
            .contains("cannot become completed")
    );
    // The service role cannot delete records; tenant transactions cannot see them.
    assert!(attempt("DELETE FROM backup_records WHERE id = $1")
        .await
        .unwrap_err()
        .contains("permission denied"));
    let tenant = app.create_tenant("south", None).await;
    let mut t = app.tenant_tx(tenant).await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM backup_records")
        .fetch_one(&mut *t)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retention_keeps_the_policy_and_the_latest_verified() {
    let app = TestApp::spawn().await;
    let now = chrono::Utc::now();
    // Backups made 0, 1, 2, … 40 days ago; the one of 30 days ago is the only verified.
    let mut c = superuser(&app).await;
    let mut ids = Vec::new();
    for days in 0..=40i64 {
        let key = format!("backups/test/k12_full_{days}.dump");
        app.store.put_bytes(&key, "dump".into()).await.unwrap();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO backup_records (storage_key, created_at) VALUES ($1, $2) RETURNING id",
        )
        .bind(&key)
        .bind(now - chrono::Duration::days(days) - chrono::Duration::minutes(1))
        .fetch_one(&mut c)
        .await
        .unwrap();
        let status = if days == 30 { "verified" } else { "completed" };
        sqlx::query(
            "UPDATE backup_records SET status = 'completed', size_bytes = 4, sha256 = repeat('a', 64) WHERE id = $1",
        )
        .bind(id)
        .execute(&mut c)
        .await
        .unwrap();
        if status == "verified" {
            sqlx::query(
                "UPDATE backup_records SET status = 'verified', verified_at = now() WHERE id = $1",
            )
            .bind(id)
            .execute(&mut c)
            .await
            .unwrap();
        }
        ids.push((days, id, key));
    }
    let mut cfg = config(&app, None);
    cfg.retention = Policy::parse("3/0/0").unwrap();
    let b = Backups::new(app.pool().clone(), app.store.clone(), cfg);

    let dry = b.prune(now, true).await.unwrap();
    assert!(dry.dry_run);
    assert_eq!(dry.kept, 4, "{:?}", dry.items);
    assert_eq!(dry.deleted, 37);
    assert_eq!(
        app.store.list("backups").await.unwrap().len(),
        41,
        "a dry run deletes nothing"
    );

    let done = b.prune(now, false).await.unwrap();
    assert_eq!(done.deleted, 37);
    let left: Vec<String> = app
        .store
        .list("backups")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    let expect: Vec<String> = ids
        .iter()
        .filter(|(d, _, _)| *d < 3 || *d == 30)
        .map(|(_, _, k)| k.clone())
        .collect();
    let mut expect_sorted = expect.clone();
    expect_sorted.sort();
    assert_eq!(left, expect_sorted);
    let latest_verified = done.items.iter().find(|i| i.status == "verified").unwrap();
    assert_eq!(latest_verified.reasons, vec!["latest_verified"]);
    let deleted: i64 =
        sqlx::query_scalar("SELECT count(*) FROM backup_records WHERE deleted_at IS NOT NULL")
            .fetch_one(&mut c)
            .await
            .unwrap();
    assert_eq!(deleted, 37);
    // Running again changes nothing.
    assert_eq!(b.prune(now, false).await.unwrap().deleted, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_jobs_back_up_then_verify_and_the_operator_api_reports() {
    use platform::jobs::{Job, JobContext};
    let app = TestApp::spawn().await;
    seed(&app, 1_000).await;
    let b = backups(&app, None);
    let ctx = JobContext {
        db: app.pool().clone(),
        job_id: 0,
        attempt: 1,
        worker: "test".into(),
        outbound: None,
        state: None,
        backups: Some(b.clone()),
    };
    platform::backups::DatabaseBackup {}
        .run(&ctx)
        .await
        .unwrap();
    let record = b.list(1).await.unwrap().remove(0);
    assert_completed(&record);
    // The backup enqueued its verification.
    let mut sys = app.pool().system().await.unwrap();
    let payload: serde_json::Value = sqlx::query_scalar(
        "SELECT payload FROM jobs WHERE kind = 'backup_verification' AND state = 'pending'",
    )
    .fetch_one(&mut *sys)
    .await
    .unwrap();
    sys.commit().await.unwrap();
    assert_eq!(payload["backup_id"], record.id);
    let job: platform::backups::BackupVerification = serde_json::from_value(payload).unwrap();
    job.run(&ctx).await.unwrap();
    // Running it again (at-least-once delivery) changes nothing.
    job.run(&ctx).await.unwrap();
    assert_eq!(b.get(record.id).await.unwrap().status, "verified");

    let operator = app.create_operator("ops@example.org").await;
    let (st, body) = app.get("/api/v1/operator/backups/status", &operator).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["latest_verified"]["id"], record.id);
    assert_eq!(body["total"], 1);
    assert_eq!(body["failed_last_30_days"], 0);
    assert!(body["latest_verified_age_hours"].as_f64().unwrap() < 1.0);
    let (st, body) = app.get("/api/v1/operator/backups", &operator).await;
    assert_eq!(st, 200);
    assert_eq!(body["data"][0]["id"], record.id);
    assert!(!body.to_string().contains("k12-test-superuser"));
    let (st, body) = app
        .post(
            &format!("/api/v1/operator/backups/{}/restore_plan", record.id),
            &operator,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(
        body["command"],
        format!("k12 restore {} --target-url \"$TARGET_URL\"", record.id)
    );
    assert_eq!(body["checks"][0]["state"], "ok");
    assert_eq!(body["checks"][1]["state"], "ok", "{body}");
    // Verified already: a verification is refused; an unknown backup is 404.
    let (st, body) = app
        .post(
            &format!("/api/v1/operator/backups/{}/verify", record.id),
            &operator,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(st, 409, "{body}");
    let (st, _) = app.get("/api/v1/operator/backups/999999", &operator).await;
    assert_eq!(st, 404);
    let (st, body) = app
        .post("/api/v1/operator/backups", &operator, serde_json::json!({}))
        .await;
    assert_eq!(st, 202, "{body}");
    assert!(body["job_id"].as_i64().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn encrypted_backups_round_trip_and_a_wrong_or_missing_key_fails_clearly() {
    let app = TestApp::spawn().await;
    seed(&app, 5_000).await;
    let key = SealKey::parse(&"ab".repeat(32)).unwrap();
    let b = backups(&app, Some(key.clone()));
    let good = b.create().await.unwrap();
    let wrong = b.create().await.unwrap();
    let keyless = b.create().await.unwrap();
    for r in [&good, &wrong, &keyless] {
        assert_completed(r);
        assert_eq!(r.metadata["encryption"]["key_id"], key.id_hex());
    }
    // What is stored is not a readable dump.
    let stored = app
        .store
        .get_bytes(&good.storage_key, 1 << 30)
        .await
        .unwrap();
    assert!(stored.starts_with(backupkit::seal::MAGIC));
    assert!(!stored.windows(5).any(|w| w == b"PGDMP"));
    assert!(!stored.windows(19).any(|w| w == b"backup_probe_writes"));

    let verified = b.verify(good.id).await.unwrap();
    assert_eq!(verified.status, "verified", "{:?}", verified.error_message);
    let name = unique("enc");
    let url = new_database(&app, &name).await;
    let report = b
        .restore(
            good.id,
            &RestoreOptions {
                target: PgTarget::parse(&url).unwrap(),
                force: false,
            },
        )
        .await
        .unwrap();
    assert!(report.all_match);
    drop_database(&app, &name).await;

    let other = backups(&app, Some(SealKey::parse(&"cd".repeat(32)).unwrap()));
    let r = other.verify(wrong.id).await.unwrap();
    assert_eq!(r.status, "verification_failed");
    let reason = r.error_message.unwrap();
    assert!(
        reason.contains("decryption failed") && reason.contains("another key"),
        "{reason}"
    );

    let none = backups(&app, None);
    let r = none.verify(keyless.id).await.unwrap();
    assert_eq!(r.status, "verification_failed");
    assert!(
        r.error_message
            .as_ref()
            .unwrap()
            .contains("K12_BACKUP_ENCRYPTION_KEY is not set"),
        "{:?}",
        r.error_message
    );
    assert!(verify_databases(&app, &[good.id, wrong.id, keyless.id])
        .await
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_whose_process_stopped_is_failed_by_the_next_sweep() {
    let app = TestApp::spawn().await;
    let b = backups(&app, None);
    // Two records as a killed process leaves them: one whose heartbeat stopped twenty
    // minutes ago (with the object it had begun), one still beating.
    let mut tx = app.pool().system().await.unwrap();
    let stale: i64 = sqlx::query_scalar(
        "INSERT INTO backup_records (storage_key, created_at, updated_at)
         VALUES ('backups/stale.dump', now() - interval '2 hours', now() - interval '20 minutes')
         RETURNING id",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    let alive: i64 = sqlx::query_scalar(
        "INSERT INTO backup_records (storage_key, updated_at)
         VALUES ('backups/alive.dump', now() - interval '1 minute') RETURNING id",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    app.store
        .put_bytes(
            "backups/stale.dump",
            bytes::Bytes::from_static(b"half a dump"),
        )
        .await
        .unwrap();

    let swept = b.sweep().await.unwrap();
    assert!(
        swept.iter().any(|s| s.contains("backups/stale.dump")),
        "{swept:?}"
    );
    let r = b.get(stale).await.unwrap();
    assert_eq!(r.status, "failed");
    let error = r.error_message.unwrap();
    assert!(
        error.starts_with("abandoned: no progress since "),
        "{error}"
    );
    assert!(r.duration_seconds.unwrap() > 5000.0);
    assert!(app.store.head("backups/stale.dump").await.is_err());
    assert_eq!(b.get(alive).await.unwrap().status, "in_progress");

    // The next backup sweeps too, and runs normally.
    let fresh = b.create().await.unwrap();
    assert_eq!(fresh.status, "completed", "{:?}", fresh.error_message);
    assert_eq!(b.get(alive).await.unwrap().status, "in_progress");
}
