//! `k12 jobs list` and `k12 jobs run NAME`: the queue and the schedules from the command
//! line, with the database from the environment or a `k12 dev` data directory.

use std::time::Duration;

use anyhow::Context;
use platform::jobs::admin::{self, JobState};
use platform::jobs::{catalog, run_schedule_now};

use crate::dbargs::DbArgs;

#[derive(clap::Subcommand, Debug)]
pub enum JobsCommand {
    /// The schedules (next run, last run and outcome) and the queues' figures.
    List {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Enqueue a schedule's job now; prints the job id on the last line.
    Run {
        /// The schedule's name (see `k12 jobs list`).
        name: String,
        /// Wait up to this many seconds for the job to finish and report its outcome
        /// (needs a running worker).
        #[arg(long, value_name = "SECS")]
        wait: Option<u64>,
        #[command(flatten)]
        db: DbArgs,
    },
}

pub async fn run(command: JobsCommand) -> anyhow::Result<()> {
    match command {
        JobsCommand::List { db } => list(&db).await,
        JobsCommand::Run { name, wait, db } => run_now(&name, wait, &db).await,
    }
}

fn time(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
        .unwrap_or_else(|| "-".into())
}

async fn list(db: &DbArgs) -> anyhow::Result<()> {
    let conn = db.connect().await?;
    let mut tx = conn.db.system().await?;
    let schedules = admin::schedules(&mut tx).await?;
    let queues = admin::queue_stats(&mut tx).await?;
    tx.commit().await?;
    conn.finish()?;
    println!(
        "{:<18} {:<12} {:<8} {:<21} {:<21} LAST RUN",
        "SCHEDULE", "CRON", "TZ", "NEXT RUN", "LAST TICK"
    );
    for s in &schedules {
        let last = s
            .last_run
            .as_ref()
            .map(|r| format!("job {} {}", r.job_id, r.state.as_str()))
            .unwrap_or_else(|| "-".into());
        println!(
            "{:<18} {:<12} {:<8} {:<21} {:<21} {last}",
            s.name,
            s.cron,
            s.timezone,
            time(s.next_run_at),
            time(s.last_tick_at)
        );
    }
    println!();
    println!(
        "{:<9} {:>6} {:>9} {:>7} {:>11} {:>12} {:>10} {:>8} {:>7}",
        "QUEUE",
        "DEPTH",
        "SCHEDULED",
        "RUNNING",
        "OLDEST (s)",
        "FAILED (1h)",
        "COMPLETED",
        "RETRIED",
        "FAILED"
    );
    for q in &queues {
        println!(
            "{:<9} {:>6} {:>9} {:>7} {:>11} {:>12} {:>10} {:>8} {:>7}",
            q.queue,
            q.depth,
            q.scheduled,
            q.running,
            q.oldest_ready_age_secs
                .map(|s| format!("{s:.1}"))
                .unwrap_or_else(|| "-".into()),
            q.failed_last_hour,
            q.completed_total,
            q.retried_total,
            q.failed_total
        );
    }
    Ok(())
}

async fn run_now(name: &str, wait: Option<u64>, db: &DbArgs) -> anyhow::Result<()> {
    let schedule = catalog::schedule(name).with_context(|| {
        let names: Vec<_> = catalog::schedules().iter().map(|s| s.name).collect();
        format!(
            "no schedule named {name:?}; schedules: {}",
            names.join(", ")
        )
    })?;
    let conn = db.connect().await?;
    let mut tx = conn.db.system().await?;
    let job = run_schedule_now(&mut tx, &schedule, chrono::Utc::now()).await?;
    tx.commit().await?;
    println!("schedule {} enqueued as job:", schedule.name);
    println!("{}", job.id);
    let result = match wait {
        None => Ok(()),
        Some(secs) => wait_for(&conn.db, job.id, Duration::from_secs(secs)).await,
    };
    conn.finish()?;
    result
}

async fn wait_for(db: &platform::db::Db, id: i64, limit: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let mut tx = db.system().await?;
        let job = admin::job(&mut tx, id).await?;
        tx.commit().await?;
        let job = job.context("the job was deleted")?;
        match job.state {
            JobState::Completed => {
                eprintln!("job {id} completed (attempt {})", job.attempts);
                return Ok(());
            }
            JobState::Failed => {
                anyhow::bail!("job {id} failed: {}", job.last_error.unwrap_or_default())
            }
            _ if tokio::time::Instant::now() >= deadline => anyhow::bail!(
                "job {id} is still {} after {limit:?}; is a worker running?",
                job.state.as_str()
            ),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}
