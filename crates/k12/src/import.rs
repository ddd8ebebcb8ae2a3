//! `k12 import`: a roster CSV or a OneRoster 1.1 archive (`--type oneroster FILE.zip`)
//! into one tenant from the command line, through the same code as
//! `POST /api/v1/admin/imports` (whatever the size: no job). Progress on a
//! terminal only; the report on stdout (`--json`: one JSON object).

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use platform::imports::{self, ImportActor, ImportKind};
use platform::request::RequestMeta;

use crate::dbargs::DbArgs;

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The tenant's slug.
    #[arg(long)]
    tenant: String,
    /// users, courses, enrollments or oneroster.
    #[arg(long = "type", value_name = "TYPE")]
    kind: String,
    /// Validate and report without writing.
    #[arg(long)]
    dry_run: bool,
    /// The CSV file (a zip for oneroster).
    file: PathBuf,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    db: DbArgs,
}

/// A file that passed the checks made before anything is written.
enum Prepared<'a> {
    Csv(imports::Prepared<'a>),
    OneRoster(imports::oneroster::Archive),
}

pub async fn run(args: ImportArgs) -> anyhow::Result<()> {
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let prepared = if args.kind == "oneroster" {
        Prepared::OneRoster(
            imports::oneroster::prepare(&bytes).map_err(|e| anyhow::anyhow!("{e}"))?,
        )
    } else {
        let kind = ImportKind::parse(&args.kind)
            .context("--type must be users, courses, enrollments or oneroster")?;
        Prepared::Csv(imports::prepare(kind, &bytes).map_err(|e| anyhow::anyhow!("{e}"))?)
    };
    let connected = args.db.connect().await?;
    let db = &connected.db;
    let mut sys = db.system().await?;
    let tenant = platform::tenancy::tenant_id_by_slug(&mut sys, &args.tenant)
        .await?
        .with_context(|| format!("no tenant {:?}", args.tenant))?;
    sys.commit().await?;
    let terminal = std::io::stderr().is_terminal();
    let started = std::time::Instant::now();
    let prepared = match prepared {
        Prepared::Csv(p) => p,
        Prepared::OneRoster(archive) => {
            // One transaction for the whole archive: no progress to show.
            let outcome = imports::import_oneroster_now(
                db,
                tenant,
                &archive,
                args.dry_run,
                ImportActor::Cli,
                &RequestMeta::default(),
            )
            .await;
            connected.finish()?;
            return print(outcome, args.json);
        }
    };
    let outcome = imports::import_now(
        db,
        tenant,
        prepared,
        args.dry_run,
        ImportActor::Cli,
        &RequestMeta::default(),
        |r| {
            if terminal {
                let secs = started.elapsed().as_secs_f64().max(0.001);
                eprint!(
                    "\r\x1b[K{} rows, {} errors, {:.0} rows/s",
                    r.rows,
                    r.errors_total,
                    r.rows as f64 / secs
                );
            }
        },
    )
    .await;
    if terminal {
        eprintln!();
    }
    connected.finish()?;
    print(outcome, args.json)
}

/// The report on stdout.
fn print(
    outcome: Result<imports::ImportReport, platform::error::ApiError>,
    json: bool,
) -> anyhow::Result<()> {
    let report = outcome.map_err(|e| anyhow::anyhow!("import failed: {e}"))?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        let verb = if report.dry_run { "would be " } else { "" };
        println!(
            "{} rows: {} {verb}created, {} {verb}updated, {} skipped, {} errors",
            report.rows, report.created, report.updated, report.skipped, report.errors_total
        );
        for e in &report.errors {
            println!("{}:{}: {}: {}", e.file, e.row, e.column, e.message);
        }
    }
    Ok(())
}
