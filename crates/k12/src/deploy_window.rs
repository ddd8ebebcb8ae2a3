//! `k12 deploy-window`: whether a deploy may start now (or `--at`), for scripts and CI.
//! Exit 0 safe, 3 blocked, 2 on a usage or configuration error.

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::Args;
use platform::config::ProcessEnv;

use crate::dbargs::DbArgs;

#[derive(Args, Debug)]
pub struct DeployWindowArgs {
    /// The instant to judge (RFC 3339); default now.
    #[arg(long, value_parser = parse_at)]
    at: Option<DateTime<Utc>>,
    /// Print the verdict as JSON:
    /// {"safe","at","blocking":[{"tenant","school","timezone","local_time"}],"next_safe_window":{"start","end","wait_minutes"},"override"}.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    db: DbArgs,
}

fn parse_at(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("not an RFC 3339 time: {e}"))
}

pub async fn run(args: DeployWindowArgs) -> ExitCode {
    match verdict(&args).await {
        Ok(v) => {
            if args.json {
                match serde_json::to_string_pretty(&platform::deploy::DeployWindowView::from(
                    v.clone(),
                )) {
                    Ok(text) => println!("{text}"),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(2);
                    }
                }
            } else {
                print_text(&v);
            }
            if v.safe {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            }
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn verdict(args: &DeployWindowArgs) -> anyhow::Result<deploy_window::Verdict> {
    let runway = platform::deploy::runway(&ProcessEnv)?;
    let conn = args.db.connect().await?;
    let at = args.at.unwrap_or_else(Utc::now);
    let v = platform::deploy::verdict(&conn.db, at, runway).await?;
    conn.finish()?;
    Ok(v)
}

fn print_text(v: &deploy_window::Verdict) {
    let at = v.at.to_rfc3339();
    match (&v.active_override, v.blocking.is_empty()) {
        (_, true) => println!("safe to deploy at {at}: no school is in its hours or runway"),
        (Some(o), false) => println!(
            "safe to deploy at {at} by override {} until {} ({}): {}",
            o.id,
            o.ends_at.to_rfc3339(),
            o.created_by,
            o.reason
        ),
        (None, false) => println!("blocked at {at}:"),
    }
    for b in &v.blocking {
        println!(
            "  {} / {} ({}, local {})",
            b.tenant, b.school, b.timezone, b.local_time
        );
    }
    match &v.next_safe_window {
        Some(w) => println!(
            "next safe window: {} to {} (wait {} min)",
            w.start.to_rfc3339(),
            w.end
                .map(|e| e.to_rfc3339())
                .unwrap_or_else(|| "beyond 21 days".into()),
            w.wait_minutes
        ),
        None => println!("no safe window in the next 21 days"),
    }
}
