//! Every job kind and every schedule, in one visible place. A later feature adds its
//! job with one `register` line and its schedule with one entry.

use super::kinds::{CleanupExpired, Probe};
use super::{Registry, Schedule};
use crate::analytics::RefreshAnalytics;
use crate::backups::{BackupRetention, BackupSchedule, BackupVerification, DatabaseBackup};
use crate::flags::schedule::ApplyFlagSchedules;
use crate::imports::ImportFile;
use crate::monitoring::evaluate::{alert_cron, EvaluateAlerts};
use crate::monitoring::notify::DeliverNotification;
use crate::monitoring::uptime::{uptime_cron, CheckUptime};
use crate::webhooks::DeliverWebhook;

/// The kinds every worker runs.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    r.register::<Probe>()
        .register::<CleanupExpired>()
        .register::<DeliverWebhook>()
        .register::<RefreshAnalytics>()
        .register::<EvaluateAlerts>()
        .register::<DeliverNotification>()
        .register::<CheckUptime>()
        .register::<DatabaseBackup>()
        .register::<BackupVerification>()
        .register::<BackupRetention>()
        .register::<ImportFile>()
        .register::<ApplyFlagSchedules>();
    r
}

/// The schedules every worker fires (each tick once across all workers).
pub fn schedules() -> Vec<Schedule> {
    let (backup_cron, backup_tz) = *BackupSchedule::current();
    vec![
        // The daily backup (K12_BACKUP_CRON in K12_BACKUP_TZ, default 02:00 UTC); a missed
        // one runs when a worker comes back; each completed backup enqueues its verification.
        Schedule::new("database-backup", backup_cron, |_| DatabaseBackup {})
            .in_timezone(backup_tz)
            .with_catch_up(),
        // Retention (K12_BACKUP_RETENTION), daily, after the backup's usual hour.
        Schedule::new("backup-retention", "30 4 * * *", |_| BackupRetention {})
            .in_timezone(backup_tz),
        // Expired sessions and setup tokens, hourly; a missed hour runs once on start-up.
        Schedule::new("cleanup-expired", "0 * * * *", |_| CleanupExpired {}).with_catch_up(),
        // The analytics views, hourly (concurrently: reads never wait for it).
        Schedule::new("refresh-analytics", "0 * * * *", |_| RefreshAnalytics {}),
        // The fleet's dead-man's switch: a probe every minute (see `kinds::Probe`).
        Schedule::new("fleet-probe", "* * * * *", |tick| Probe {
            key: format!("fleet-probe:{}", tick.to_rfc3339()),
            ..Probe::new("")
        }),
        // Alert rules against the health report (K12_ALERT_CRON, read once at start-up).
        Schedule::new("evaluate-alerts", alert_cron(), |_| EvaluateAlerts {}),
        // The uptime monitor (K12_UPTIME_CRON, default every 2 minutes).
        Schedule::new("check-uptime", uptime_cron(), |_| CheckUptime {}),
        // Scheduled feature-flag changes whose time has come, every minute.
        Schedule::new("feature-flag-schedules", "* * * * *", |_| {
            ApplyFlagSchedules {}
        }),
    ]
}

/// A schedule by name.
pub fn schedule(name: &str) -> Option<Schedule> {
    schedules().into_iter().find(|s| s.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schedule_builds_a_job_of_a_registered_kind() {
        let registry = registry();
        let schedules = schedules();
        let mut names: Vec<_> = schedules.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(
            names.len(),
            schedules.len(),
            "schedule names must be unique"
        );
        for s in &schedules {
            let job = s.job_for(chrono::Utc::now()).expect("payload serialises");
            assert!(
                registry.contains(job.kind),
                "{}: unknown kind {}",
                s.name,
                job.kind
            );
            assert!(s.next_after(chrono::Utc::now()).is_some());
        }
    }
}
