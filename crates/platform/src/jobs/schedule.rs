//! Cron schedules declared in code, with a timezone, fired once per tick by whichever
//! worker gets there first.
//!
//! Each worker, at each tick, locks the schedule's row with `FOR UPDATE SKIP LOCKED`,
//! decides from `last_tick_at` which tick is due, records it in `job_schedule_ticks`
//! (unique per schedule and tick time) and enqueues the job, in one transaction. A worker
//! that finds the row locked skips it; one that comes later sees the tick already
//! recorded. No leader: any worker can disappear at any moment.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;

use super::{enqueue_new, Clock, Enqueued, Job, NewJob};
use crate::db::{Db, SystemTx};

/// A tick more than this late is "missed": fired only by schedules that catch up.
pub const GRACE: chrono::Duration = chrono::Duration::minutes(5);

type MakeJob = dyn Fn(DateTime<Utc>) -> Result<NewJob, serde_json::Error> + Send + Sync;

/// A cron schedule and the job each tick enqueues.
#[derive(Clone)]
pub struct Schedule {
    pub name: &'static str,
    pub cron_expr: &'static str,
    cron: Cron,
    pub timezone: Tz,
    pub catch_up: bool,
    make: Arc<MakeJob>,
}

impl std::fmt::Debug for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schedule")
            .field("name", &self.name)
            .field("cron", &self.cron_expr)
            .field("timezone", &self.timezone)
            .field("catch_up", &self.catch_up)
            .finish()
    }
}

/// What a schedule should do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TickDecision {
    /// No tick since the last one.
    Nothing,
    /// Enqueue for `tick`; `missed` earlier ticks are folded into it.
    Fire {
        tick: DateTime<Utc>,
        catch_up: bool,
        missed: u32,
    },
    /// Every due tick was missed and the schedule does not catch up.
    Skip { tick: DateTime<Utc>, missed: u32 },
}

impl Schedule {
    /// A schedule in UTC without catch-up. Panics on an invalid cron expression:
    /// schedules are declared in code and a unit test builds every one.
    pub fn new<J: Job>(
        name: &'static str,
        cron: &'static str,
        make: impl Fn(DateTime<Utc>) -> J + Send + Sync + 'static,
    ) -> Self {
        let parsed = Cron::from_str(cron)
            .unwrap_or_else(|e| panic!("schedule {name}: invalid cron {cron:?}: {e}"));
        Self {
            name,
            cron_expr: cron,
            cron: parsed,
            timezone: Tz::UTC,
            catch_up: false,
            make: Arc::new(move |tick| NewJob::of(&make(tick))),
        }
    }

    /// Evaluates the cron expression in `tz` (wall-clock times, DST included).
    pub fn in_timezone(mut self, tz: Tz) -> Self {
        self.timezone = tz;
        self
    }

    /// A tick missed while every worker was down fires once when one comes back.
    pub fn with_catch_up(mut self) -> Self {
        self.catch_up = true;
        self
    }

    /// The first tick strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&t.with_timezone(&self.timezone), false)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }

    /// The last tick at or before `t`.
    pub fn latest_at_or_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_previous_occurrence(&t.with_timezone(&self.timezone), true)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }

    /// The job of the tick at `tick` (or of a manual run at that time).
    pub fn job_for(&self, tick: DateTime<Utc>) -> Result<NewJob, serde_json::Error> {
        let mut job = (self.make)(tick)?;
        job.schedule = Some(self.name);
        Ok(job)
    }

    /// Decides what to do at `now` given the last tick handled.
    pub fn decide(&self, last_tick: DateTime<Utc>, now: DateTime<Utc>) -> TickDecision {
        let Some(latest) = self.latest_at_or_before(now).filter(|t| *t > last_tick) else {
            return TickDecision::Nothing;
        };
        let mut missed = 0u32;
        let mut t = last_tick;
        while let Some(next) = self.next_after(t).filter(|n| *n < latest) {
            missed += 1;
            if missed >= 10_000 {
                break;
            }
            t = next;
        }
        if now - latest <= GRACE {
            TickDecision::Fire {
                tick: latest,
                catch_up: false,
                missed,
            }
        } else if self.catch_up {
            TickDecision::Fire {
                tick: latest,
                catch_up: true,
                missed,
            }
        } else {
            TickDecision::Skip {
                tick: latest,
                missed: missed + 1,
            }
        }
    }
}

/// Declares the schedules in the database (inserting new ones with "now" as their last
/// tick, so a new schedule starts with its next tick) and refreshes their definitions.
pub async fn sync_schedules(
    tx: &mut SystemTx,
    schedules: &[Schedule],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    for s in schedules {
        sqlx::query(
            "INSERT INTO job_schedules (name, cron, timezone, catch_up, last_tick_at, next_run_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (name) DO UPDATE
                SET cron = EXCLUDED.cron, timezone = EXCLUDED.timezone,
                    catch_up = EXCLUDED.catch_up
              WHERE (job_schedules.cron, job_schedules.timezone, job_schedules.catch_up)
                    IS DISTINCT FROM (EXCLUDED.cron, EXCLUDED.timezone, EXCLUDED.catch_up)",
        )
        .bind(s.name)
        .bind(s.cron_expr)
        .bind(s.timezone.name())
        .bind(s.catch_up)
        .bind(now)
        .bind(s.next_after(now))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// One pass over the schedules at the clock's time: fires what is due. Answers the
/// earliest next tick, for the caller to sleep until.
pub async fn tick_schedules(
    db: &Db,
    schedules: &[Schedule],
    clock: &dyn Clock,
) -> anyhow::Result<Option<DateTime<Utc>>> {
    let mut earliest: Option<DateTime<Utc>> = None;
    for s in schedules {
        let now = clock.now();
        tick_one(db, s, now).await?;
        if let Some(next) = s.next_after(now) {
            earliest = Some(earliest.map_or(next, |e| e.min(next)));
        }
    }
    Ok(earliest)
}

async fn tick_one(db: &Db, s: &Schedule, now: DateTime<Utc>) -> anyhow::Result<()> {
    let mut tx = db.system().await?;
    let row: Option<(Option<DateTime<Utc>>,)> = sqlx::query_as(
        "SELECT last_tick_at FROM job_schedules WHERE name = $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(s.name)
    .fetch_optional(&mut *tx)
    .await?;
    // Locked by another worker deciding this very tick, or not declared yet.
    let Some((last_tick,)) = row else {
        return Ok(());
    };
    let decision = s.decide(last_tick.unwrap_or(now), now);
    let (tick, fired, missed) = match decision {
        TickDecision::Nothing => return Ok(()),
        TickDecision::Fire {
            tick,
            catch_up,
            missed,
        } => {
            let job = fire(&mut tx, s, tick, catch_up).await?;
            tracing::info!(schedule = s.name, %tick, catch_up, missed, job = ?job, "schedule fired");
            (tick, job, missed)
        }
        TickDecision::Skip { tick, missed } => {
            tracing::warn!(schedule = s.name, %tick, missed, "missed ticks skipped (no catch-up)");
            (tick, None, missed)
        }
    };
    sqlx::query(
        "UPDATE job_schedules
            SET last_tick_at = $2, next_run_at = $3, last_job_id = coalesce($4, last_job_id),
                skipped_ticks = skipped_ticks + $5
          WHERE name = $1",
    )
    .bind(s.name)
    .bind(tick)
    .bind(s.next_after(now))
    .bind(fired)
    .bind(i64::from(missed))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Records the tick and enqueues its job; `None` if the tick was already recorded.
async fn fire(
    tx: &mut SystemTx,
    s: &Schedule,
    tick: DateTime<Utc>,
    catch_up: bool,
) -> anyhow::Result<Option<i64>> {
    let recorded: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO job_schedule_ticks (schedule_name, tick_at, catch_up) VALUES ($1, $2, $3)
         ON CONFLICT (schedule_name, tick_at) DO NOTHING RETURNING id",
    )
    .bind(s.name)
    .bind(tick)
    .bind(catch_up)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((tick_id,)) = recorded else {
        return Ok(None);
    };
    let job = enqueue_new(tx, &s.job_for(tick)?).await?;
    sqlx::query("UPDATE job_schedule_ticks SET job_id = $2 WHERE id = $1")
        .bind(tick_id)
        .bind(job.id)
        .execute(&mut **tx)
        .await?;
    Ok(Some(job.id))
}

/// Enqueues a schedule's job now, outside its cron (operator "run now"), and records it as
/// the schedule's last run. The caller commits.
pub async fn run_schedule_now(
    tx: &mut SystemTx,
    s: &Schedule,
    now: DateTime<Utc>,
) -> anyhow::Result<Enqueued> {
    sync_schedules(tx, std::slice::from_ref(s), now).await?;
    let job = enqueue_new(tx, &s.job_for(now)?).await?;
    sqlx::query("UPDATE job_schedules SET last_job_id = $2 WHERE name = $1")
        .bind(s.name)
        .bind(job.id)
        .execute(&mut **tx)
        .await?;
    Ok(job)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::kinds::Probe;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn every_minute() -> Schedule {
        Schedule::new("t", "* * * * *", |_| Probe::new("t"))
    }

    #[test]
    fn a_due_tick_fires_once_and_then_nothing() {
        let s = every_minute();
        let last = at("2030-01-01T00:00:30Z");
        assert_eq!(
            s.decide(last, at("2030-01-01T00:00:59Z")),
            TickDecision::Nothing
        );
        let now = at("2030-01-01T00:01:02Z");
        assert_eq!(
            s.decide(last, now),
            TickDecision::Fire {
                tick: at("2030-01-01T00:01:00Z"),
                catch_up: false,
                missed: 0
            }
        );
        assert_eq!(
            s.decide(at("2030-01-01T00:01:00Z"), now),
            TickDecision::Nothing
        );
    }

    #[test]
    fn missed_ticks_are_skipped_or_caught_up_once() {
        let hourly = Schedule::new("h", "0 * * * *", |_| Probe::new("h"));
        let last = at("2030-01-01T00:00:00Z");
        let now = at("2030-01-01T05:30:00Z");
        assert_eq!(
            hourly.decide(last, now),
            TickDecision::Skip {
                tick: at("2030-01-01T05:00:00Z"),
                missed: 5
            }
        );
        assert_eq!(
            hourly.with_catch_up().decide(last, now),
            TickDecision::Fire {
                tick: at("2030-01-01T05:00:00Z"),
                catch_up: true,
                missed: 4
            }
        );
    }

    #[test]
    fn timezones_follow_the_wall_clock_across_dst() {
        let s = Schedule::new("b", "0 2 * * *", |_| Probe::new("b"))
            .in_timezone(chrono_tz::America::New_York);
        // 02:00 EST is 07:00 UTC in winter, 02:00 EDT is 06:00 UTC in summer.
        assert_eq!(
            s.next_after(at("2030-01-10T12:00:00Z")),
            Some(at("2030-01-11T07:00:00Z"))
        );
        assert_eq!(
            s.next_after(at("2030-07-10T12:00:00Z")),
            Some(at("2030-07-11T06:00:00Z"))
        );
        let utc = Schedule::new("u", "0 2 * * *", |_| Probe::new("u"));
        assert_eq!(
            utc.next_after(at("2030-07-10T12:00:00Z")),
            Some(at("2030-07-11T02:00:00Z"))
        );
    }

    #[test]
    fn the_scheduled_job_names_its_schedule() {
        let job = every_minute().job_for(at("2030-01-01T00:01:00Z")).unwrap();
        assert_eq!(job.schedule, Some("t"));
        assert_eq!(job.kind, "probe");
    }
}
