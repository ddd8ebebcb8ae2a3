//! Retention (`K12_BACKUP_RETENTION` = `daily/weekly/monthly`, default `7/4/12`): which
//! stored backups to keep.
//!
//! * daily: the newest good backup of each of the last `daily` days (today included);
//! * weekly: the newest good backup of each of the last `weekly` ISO weeks (Monday first);
//! * monthly: the newest good backup of each of the last `monthly` calendar months;
//! * the newest verified backup, always, however old;
//! * a backup that failed verification is kept for the daily window (for inspection),
//!   never chosen to represent a day, week or month.
//!
//! Days, weeks and months are UTC. Everything else is deleted.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

/// How many days, weeks and months of backups to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            daily: 7,
            weekly: 4,
            monthly: 12,
        }
    }
}

impl Policy {
    /// Parses `daily/weekly/monthly`, e.g. `7/4/12`; each between 0 and 10000, and at
    /// least one day (the newest backups are never pruned at once).
    pub fn parse(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.trim().split('/').collect();
        let [d, w, m] = parts.as_slice() else {
            return Err(format!(
                "{text:?} is not daily/weekly/monthly counts like 7/4/12"
            ));
        };
        let num = |s: &str| {
            s.trim()
                .parse::<u32>()
                .ok()
                .filter(|n| *n <= 10_000)
                .ok_or_else(|| format!("{text:?}: {s:?} is not a count between 0 and 10000"))
        };
        let policy = Self {
            daily: num(d)?,
            weekly: num(w)?,
            monthly: num(m)?,
        };
        if policy.daily == 0 {
            return Err(format!("{text:?}: keep at least 1 daily backup"));
        }
        Ok(policy)
    }
}

impl std::fmt::Display for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.daily, self.weekly, self.monthly)
    }
}

/// A stored backup retention may delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    /// Status `verified`.
    pub verified: bool,
    /// Status `verification_failed`: never represents a period.
    pub failed_verification: bool,
}

/// Why a backup is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    LatestVerified,
    Daily,
    Weekly,
    Monthly,
    /// Failed verification less than `daily` days ago.
    Inspect,
    /// Dated after `now` (a clock difference): never deleted.
    Future,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LatestVerified => "latest_verified",
            Self::Daily => "daily",
            Self::Weekly => "weekly",
            Self::Monthly => "monthly",
            Self::Inspect => "failed_verification_recent",
            Self::Future => "future",
        }
    }
}

/// The decision for every candidate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Kept backups, newest first, with every reason that keeps them.
    pub keep: Vec<(i64, Vec<Reason>)>,
    /// Backups to delete, newest first.
    pub delete: Vec<i64>,
}

fn monday(d: NaiveDate) -> NaiveDate {
    d - Duration::days(i64::from(d.weekday().num_days_from_monday()))
}

fn month_index(d: NaiveDate) -> i64 {
    i64::from(d.year()) * 12 + i64::from(d.month0())
}

/// Decides which candidates `policy` keeps at `now`.
pub fn plan(policy: Policy, candidates: &[Candidate], now: DateTime<Utc>) -> Plan {
    let mut sorted: Vec<&Candidate> = candidates.iter().collect();
    sorted.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    let today = now.date_naive();
    let latest_verified = sorted.iter().find(|c| c.verified).map(|c| c.id);

    let mut seen_day = std::collections::HashSet::new();
    let mut seen_week = std::collections::HashSet::new();
    let mut seen_month = std::collections::HashSet::new();
    let mut out = Plan::default();
    for c in sorted {
        let mut reasons = Vec::new();
        let day = c.created_at.date_naive();
        if c.created_at > now {
            reasons.push(Reason::Future);
        }
        if Some(c.id) == latest_verified {
            reasons.push(Reason::LatestVerified);
        }
        let days_ago = (today - day).num_days();
        if c.failed_verification {
            if days_ago < i64::from(policy.daily) {
                reasons.push(Reason::Inspect);
            }
        } else {
            if days_ago < i64::from(policy.daily) && seen_day.insert(day) {
                reasons.push(Reason::Daily);
            }
            let weeks_ago = (monday(today) - monday(day)).num_days() / 7;
            if weeks_ago < i64::from(policy.weekly) && seen_week.insert(monday(day)) {
                reasons.push(Reason::Weekly);
            }
            let months_ago = month_index(today) - month_index(day);
            if months_ago < i64::from(policy.monthly) && seen_month.insert(month_index(day)) {
                reasons.push(Reason::Monthly);
            }
        }
        if reasons.is_empty() {
            out.delete.push(c.id);
        } else {
            out.keep.push((c.id, reasons));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    fn good(id: i64, t: DateTime<Utc>) -> Candidate {
        Candidate {
            id,
            created_at: t,
            verified: true,
            failed_verification: false,
        }
    }

    fn kept(p: &Plan) -> Vec<i64> {
        let mut k: Vec<i64> = p.keep.iter().map(|(id, _)| *id).collect();
        k.sort_unstable();
        k
    }

    #[test]
    fn parses_the_policy() {
        assert_eq!(Policy::parse("7/4/12").unwrap(), Policy::default());
        assert_eq!(
            Policy::parse(" 1/0/0 ").unwrap(),
            Policy {
                daily: 1,
                weekly: 0,
                monthly: 0
            }
        );
        for bad in [
            "",
            "7/4",
            "7/4/12/1",
            "a/4/12",
            "-1/4/12",
            "0/4/12",
            "7/4/99999",
        ] {
            assert!(Policy::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Policy::default().to_string(), "7/4/12");
    }

    #[test]
    fn a_year_of_daily_backups_keeps_days_weeks_and_months() {
        let now = at(2026, 12, 3, 12); // a Thursday
        let candidates: Vec<Candidate> = (0..400)
            .map(|i| good(i, now - Duration::days(i) - Duration::hours(10)))
            .collect();
        let p = plan(Policy::default(), &candidates, now);
        let keep = kept(&p);
        // Days 0..7: 7 dailies (ids 0..=6).
        for id in 0..7 {
            assert!(keep.contains(&id), "{id}");
        }
        // Newest of each of 12 months, of each of 4 weeks; nothing beyond a year.
        assert!(keep.iter().all(|id| *id < 366));
        assert!(keep.len() <= 7 + 4 + 12, "{}", keep.len());
        assert!(keep.len() >= 12 + 4);
        assert_eq!(keep.len() + p.delete.len(), 400);
        // The first of each of the last 12 months is the newest of its month... except the
        // current month, whose newest is today.
        let nov_30 = (now - at(2026, 11, 30, 2)).num_days();
        assert!(keep.contains(&nov_30));
    }

    #[test]
    fn the_latest_verified_backup_is_never_deleted() {
        let now = at(2026, 12, 3, 12);
        let old = Candidate {
            id: 1,
            created_at: at(2020, 1, 1, 0),
            verified: true,
            failed_verification: false,
        };
        let unverified = Candidate {
            id: 2,
            created_at: at(2026, 12, 3, 2),
            verified: false,
            failed_verification: false,
        };
        let p = plan(
            Policy::parse("1/0/0").unwrap(),
            &[old.clone(), unverified],
            now,
        );
        assert_eq!(kept(&p), vec![1, 2]);
        assert_eq!(p.keep[1], (1, vec![Reason::LatestVerified]));
        // Even with nothing else to keep it.
        let p = plan(Policy::parse("1/0/0").unwrap(), &[old], now);
        assert_eq!(kept(&p), vec![1]);
    }

    #[test]
    fn only_the_newest_of_a_day_represents_it_and_failed_ones_do_not() {
        let now = at(2026, 12, 3, 12);
        let failed = Candidate {
            id: 3,
            created_at: at(2026, 12, 3, 11),
            verified: false,
            failed_verification: true,
        };
        let cands = vec![
            good(1, at(2026, 12, 3, 1)),
            good(2, at(2026, 12, 3, 2)),
            failed,
            Candidate {
                id: 4,
                created_at: at(2026, 11, 1, 1),
                verified: false,
                failed_verification: true,
            },
        ];
        let p = plan(Policy::parse("2/0/0").unwrap(), &cands, now);
        assert_eq!(kept(&p), vec![2, 3]);
        assert_eq!(p.delete, vec![1, 4]);
        assert!(p.keep.contains(&(3, vec![Reason::Inspect])));
    }

    #[test]
    fn future_dated_backups_are_kept() {
        let now = at(2026, 12, 3, 12);
        let p = plan(
            Policy::parse("1/0/0").unwrap(),
            &[Candidate {
                id: 9,
                created_at: at(2027, 1, 1, 0),
                verified: false,
                failed_verification: true,
            }],
            now,
        );
        assert_eq!(p.keep.len(), 1);
        assert_eq!(p.keep[0].1[0], Reason::Future);
        assert!(p.delete.is_empty());
    }
}
