//! `k12 backup create|verify|list|prune` and `k12 restore`: backups from the command line
//! (spec 06). Exit codes: 0 success (verify: `verified`), 1 failure (verify:
//! `verification_failed`, the record still printed), 2 usage. Progress goes to stderr, and
//! only when stderr is a terminal.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use pgcluster::Cluster;
use platform::backups::{
    BackupConfig, BackupError, BackupRecord, Backups, PgTarget, Progress, RestoreOptions,
};
use platform::config::{DatabaseConfig, ProcessEnv};

use crate::dbargs::{Connected, DbArgs};

#[derive(clap::Subcommand, Debug)]
pub enum BackupCommand {
    /// Take a full backup now: pg_dump of one snapshot, streamed to the object store.
    Create {
        /// Print the record as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Verify a completed backup by restoring it into a temporary database.
    Verify {
        /// The backup's id (see `k12 backup list`).
        id: i64,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// The newest backups, newest first.
    List {
        #[arg(long)]
        json: bool,
        /// How many records.
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(i64).range(1..=1000))]
        limit: i64,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Delete the backups K12_BACKUP_RETENTION does not keep (never the newest verified).
    Prune {
        /// Report what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(clap::Args, Debug)]
pub struct RestoreArgs {
    /// The backup's id (see `k12 backup list`).
    pub id: i64,
    /// The database to restore into (postgres://user:password@host:port/database). It must
    /// exist and be empty unless --force; the roles of deploy/roles.sql must exist on its
    /// server, and the user must be able to create objects owned by them (a superuser).
    #[arg(long, value_name = "URL")]
    pub target_url: String,
    /// Replace the contents of a target that already has tables.
    #[arg(long)]
    pub force: bool,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

/// The backup service for `db`, and the connection to finish afterwards.
async fn open(db: &DbArgs) -> anyhow::Result<(Backups, Connected)> {
    let conn = db.connect().await?;
    let (fallback, storage_default) = match &db.data_dir {
        None => {
            let config = DatabaseConfig::from_vars(&ProcessEnv)?;
            (config.owner_url.expose().to_owned(), None)
        }
        Some(dir) => {
            // A dev data directory: its superuser, and the file store under DIR/storage.
            let state = crate::dev::DevState::load(dir)?;
            let cluster = Cluster::init(&dir.join("pg"), &state.superuser_password)?;
            let port = cluster
                .running_port()
                .context("the dev PostgreSQL is not running")?;
            let mut cluster = cluster;
            cluster.port = port;
            let url = cluster.url("postgres", &state.superuser_password, "k12");
            let dir = dir.canonicalize()?;
            (
                url,
                Some(format!("file://{}", dir.join("storage").display())),
            )
        }
    };
    let config = BackupConfig::from_vars(&ProcessEnv, Some(&fallback))?;
    let storage = storage::StorageConfig::from_lookup(|k| std::env::var(k).ok(), storage_default)?;
    let store = storage::Store::open(&storage)?;
    Ok((Backups::new(conn.db.clone(), store, config), conn))
}

/// Shows `phase: bytes, rate, elapsed` on stderr every half second while `work` runs, when
/// stderr is a terminal.
async fn with_progress<T>(
    backups: Backups,
    phase: &str,
    work: impl AsyncFnOnce(Backups) -> T,
) -> T {
    if !std::io::stderr().is_terminal() {
        return work(backups).await;
    }
    let progress = Arc::new(Progress::default());
    let backups = backups.with_progress(Arc::clone(&progress));
    let shown = Arc::clone(&progress);
    let phase = phase.to_owned();
    let ticker = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tick.tick().await;
            eprint!("\r\x1b[K{}", progress_line(&phase, &shown));
        }
    });
    let out = work(backups).await;
    ticker.abort();
    eprintln!("\r\x1b[K{}", progress_line("done", &progress));
    out
}

fn progress_line(phase: &str, p: &Progress) -> String {
    let secs = p.elapsed().as_secs_f64();
    let bytes = p.bytes();
    let rate = if secs > 0.0 { bytes as f64 / secs } else { 0.0 };
    let of = p
        .total()
        .map(|t| format!(" of {}", human(t as f64)))
        .unwrap_or_default();
    format!(
        "{phase}: {}{of}, {}/s, {:02}:{:02}",
        human(bytes as f64),
        human(rate),
        secs as u64 / 60,
        secs as u64 % 60
    )
}

fn human(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn print_record(r: &BackupRecord, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    let size = r.size_bytes.map(|s| human(s as f64)).unwrap_or("-".into());
    let took = r
        .duration_seconds
        .map(|s| format!("{s:.1} s"))
        .unwrap_or("-".into());
    let tables = r.metadata.get("tables").and_then(|v| v.as_u64());
    let rows = r.metadata.get("total_rows").and_then(|v| v.as_i64());
    println!(
        "backup {} {} {} ({size}, {took}{})",
        r.id,
        r.status,
        r.storage_key,
        match (tables, rows) {
            (Some(t), Some(n)) => format!(", {t} tables, {n} rows"),
            _ => String::new(),
        }
    );
    if let Some(sha) = &r.sha256 {
        println!("  sha256 {sha}");
    }
    if let Some(at) = r.verified_at {
        println!("  verified at {}", at.to_rfc3339());
    }
    if let Some(e) = &r.error_message {
        println!("  error: {e}");
    }
    Ok(())
}

pub async fn run(command: BackupCommand) -> anyhow::Result<()> {
    match command {
        BackupCommand::Create { json, db } => {
            let (backups, conn) = open(&db).await?;
            let record = with_progress(backups, "backup", async |b| b.create().await).await;
            conn.finish()?;
            let record = record?;
            print_record(&record, json)?;
            if record.status != "completed" {
                anyhow::bail!("backup {} failed", record.id);
            }
            Ok(())
        }
        BackupCommand::Verify { id, json, db } => {
            let (backups, conn) = open(&db).await?;
            let swept = backups.sweep().await;
            let result =
                with_progress(backups.clone(), "verify", async |b| b.verify(id).await).await;
            conn.finish()?;
            if let Err(e) = swept {
                eprintln!("warning: sweeping what a crash left behind: {e:#}");
            }
            let record = match result {
                Ok(r) => r,
                // Not completed (already verified, failed…): print it, succeed only when
                // it is verified.
                Err(BackupError::WrongState { .. }) => backups.get(id).await?,
                Err(e) => return Err(e.into()),
            };
            print_record(&record, json)?;
            match record.status.as_str() {
                "verified" => Ok(()),
                "verification_failed" => anyhow::bail!(
                    "backup {id} failed verification: {}",
                    record
                        .error_message
                        .as_deref()
                        .unwrap_or("see verification_result")
                ),
                other => {
                    anyhow::bail!("backup {id} is {other}; only completed backups are verified")
                }
            }
        }
        BackupCommand::List { json, limit, db } => {
            let (backups, conn) = open(&db).await?;
            let records = backups.list(limit).await;
            conn.finish()?;
            let records = records?;
            if json {
                println!("{}", serde_json::to_string_pretty(&records)?);
            } else {
                for r in &records {
                    print_record(r, false)?;
                }
            }
            Ok(())
        }
        BackupCommand::Prune { dry_run, json, db } => {
            let (backups, conn) = open(&db).await?;
            let report = backups.prune(chrono::Utc::now(), dry_run).await;
            conn.finish()?;
            let report = report?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                for item in &report.items {
                    println!(
                        "{:<8} backup {} {} {} {}",
                        item.action,
                        item.id,
                        item.status,
                        item.storage_key,
                        item.reasons.join(",")
                    );
                }
                println!(
                    "retention {}: {} kept, {} {}",
                    report.policy,
                    report.kept,
                    report.deleted,
                    if dry_run {
                        "would be deleted"
                    } else {
                        "deleted"
                    }
                );
            }
            Ok(())
        }
    }
}

pub async fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let target =
        PgTarget::parse(&args.target_url).map_err(|m| anyhow::anyhow!("--target-url: {m}"))?;
    let (backups, conn) = open(&args.db).await?;
    let options = RestoreOptions {
        target,
        force: args.force,
    };
    let report = with_progress(backups, "restore", async |b| {
        b.restore(args.id, &options).await
    })
    .await;
    conn.finish()?;
    let report = report?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "restored backup {} into {}: {} tables, {} rows in {:.1} s{}",
            report.backup_id,
            report.target,
            report.tables,
            report.rows,
            report.seconds,
            if report.replaced_tables > 0 {
                format!(" (replaced {} tables)", report.replaced_tables)
            } else {
                String::new()
            }
        );
        for (table, check) in &report.table_counts {
            println!(
                "  {:<48} {:>12} {}",
                table,
                check.actual.map_or("-".into(), |n| n.to_string()),
                if check.matches { "ok" } else { "MISMATCH" }
            );
        }
    }
    if !report.all_match {
        anyhow::bail!("restored row counts differ from the backup's");
    }
    Ok(())
}
