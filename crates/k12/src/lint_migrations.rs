//! `k12 lint-migrations`: the migration linter on the command line (no database, no
//! configuration), so scripts and CI can gate a deploy on it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

#[derive(Args, Debug)]
pub struct LintMigrationsArgs {
    /// Migration files or directories (every `*.sql` in a directory, in version order,
    /// honouring its `lint-baseline.txt`).
    #[arg(value_name = "PATH", default_value = "migrations/")]
    paths: Vec<PathBuf>,
    /// `text` for people, `json` for a list of
    /// {"file","line","column","rule","message","suggestion"}.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

/// Exit 0 when clean, 1 with findings, 2 when a path cannot be read or a file does not
/// parse (clap exits 2 on a usage error too).
pub fn run(args: LintMigrationsArgs) -> ExitCode {
    let report = match migration_lint::lint_paths(&args.paths) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match args.format {
        Format::Text => print!("{}", migration_lint::render_text(&report)),
        Format::Json => println!("{}", migration_lint::render_json(&report)),
    }
    if report.findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
