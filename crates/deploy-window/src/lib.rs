//! Deploy windows: is it safe to deploy now, and when is the next safe window?
//!
//! Pure logic without I/O. A deploy touches every tenant, so it is safe only when no
//! school anywhere is in its school hours, nor within the runway before they start.
//! Each school's hours are local wall-clock times in its IANA time zone; they are turned
//! into UTC instants day by day with chrono-tz, so daylight-saving changes move the
//! blocked interval as they should. A local time that does not exist (the spring-forward
//! gap) starts at the end of the gap; an ambiguous one (fall-back) takes the earlier
//! instant for a start and the later for an end, so the blocked interval is never shorter
//! than the wall clock says.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// How far ahead [`evaluate`] looks for the end of the next safe window.
pub const HORIZON_DAYS: i64 = 21;

/// School hours: the same for every school of a tenant except the time zone.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Hours {
    pub start: NaiveTime,
    pub end: NaiveTime,
    /// Monday first (`chrono::Weekday::num_days_from_monday`).
    pub days: [bool; 7],
    pub timezone: Tz,
    /// Dates without school.
    pub holidays: Vec<NaiveDate>,
    /// Academic years (inclusive); empty means every date may be a school day.
    pub years: Vec<(NaiveDate, NaiveDate)>,
}

/// The weekday names accepted and produced by [`Hours::day_names`] and [`parse_days`].
pub const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl Hours {
    /// The default: Monday to Friday, 08:00–15:00 in `timezone`.
    pub fn default_in(timezone: Tz) -> Self {
        Hours {
            start: NaiveTime::from_hms_opt(8, 0, 0).expect("valid time"),
            end: NaiveTime::from_hms_opt(15, 0, 0).expect("valid time"),
            days: [true, true, true, true, true, false, false],
            timezone,
            holidays: Vec::new(),
            years: Vec::new(),
        }
    }

    /// The active days as names (`["mon", ...]`).
    pub fn day_names(&self) -> Vec<&'static str> {
        DAY_NAMES
            .iter()
            .zip(self.days)
            .filter(|(_, on)| *on)
            .map(|(n, _)| *n)
            .collect()
    }

    /// Whether `date` (local to the school) is a school day.
    pub fn is_school_day(&self, date: NaiveDate) -> bool {
        self.days[date.weekday().num_days_from_monday() as usize]
            && !self.holidays.contains(&date)
            && (self.years.is_empty() || self.years.iter().any(|(a, b)| *a <= date && date <= *b))
    }

    /// The UTC interval blocked on local `date` (hours minus the runway), if a school day.
    pub fn blocked_on(
        &self,
        date: NaiveDate,
        runway: Duration,
    ) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        if !self.is_school_day(date) {
            return None;
        }
        let start = local_instant(self.timezone, date, self.start, Edge::Start)?;
        let end = local_instant(self.timezone, date, self.end, Edge::End)?;
        (end > start).then(|| (start - runway, end))
    }
}

/// Parses weekday names (`mon`..`sun`, any case) into the `days` array.
pub fn parse_days(names: &[String]) -> Result<[bool; 7], String> {
    let mut days = [false; 7];
    for n in names {
        let lower = n.to_ascii_lowercase();
        let i = DAY_NAMES.iter().position(|d| *d == lower).ok_or_else(|| {
            format!("unknown weekday `{n}` (use mon, tue, wed, thu, fri, sat, sun)")
        })?;
        days[i] = true;
    }
    Ok(days)
}

#[derive(Clone, Copy)]
enum Edge {
    Start,
    End,
}

/// The UTC instant of a local wall-clock time, resolving DST gaps and overlaps.
fn local_instant(tz: Tz, date: NaiveDate, time: NaiveTime, edge: Edge) -> Option<DateTime<Utc>> {
    let naive = date.and_time(time);
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(early, late) => Some(match edge {
            Edge::Start => early.with_timezone(&Utc),
            Edge::End => late.with_timezone(&Utc),
        }),
        LocalResult::None => {
            // In a spring-forward gap: the first existing minute after it (gaps are at
            // most a few hours; look up to a day ahead).
            (1..=24 * 60).find_map(|m| {
                match tz.from_local_datetime(&(naive + Duration::minutes(m))) {
                    LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
                    LocalResult::Ambiguous(early, _) => Some(early.with_timezone(&Utc)),
                    LocalResult::None => None,
                }
            })
        }
    }
}

/// One school and the tenant it belongs to.
#[derive(Debug, Clone)]
pub struct School {
    pub tenant: String,
    pub school: String,
    pub hours: Hours,
}

/// An operator's override: deploys are allowed while it is active.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Override {
    pub id: i64,
    pub reason: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_by: String,
}

/// A school that blocks a deploy at the instant asked about.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Blocking {
    pub tenant: String,
    pub school: String,
    pub timezone: String,
    /// The school's wall-clock time then (RFC 3339 with its offset).
    pub local_time: String,
}

/// The next instant from which deploying is safe, and until when.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Window {
    pub start: DateTime<Utc>,
    /// When the next school's runway begins; `None` if none within [`HORIZON_DAYS`].
    pub end: Option<DateTime<Utc>>,
    /// Whole minutes from the instant asked about to `start`, rounded up.
    pub wait_minutes: i64,
}

/// The answer for one instant.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Verdict {
    pub safe: bool,
    pub at: DateTime<Utc>,
    pub blocking: Vec<Blocking>,
    /// `None` only when every day of the horizon is blocked.
    pub next_safe_window: Option<Window>,
    /// The override active at `at`, if any (it makes a blocked instant safe).
    #[serde(rename = "override")]
    pub active_override: Option<Override>,
}

/// The merged UTC intervals blocked by any school between `from` and `to`.
pub fn blocked_intervals(
    schools: &[School],
    runway: Duration,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    // Schools with identical hours block identically: compute each distinct one once.
    let mut distinct: HashMap<&Hours, ()> = HashMap::new();
    for s in schools {
        distinct.insert(&s.hours, ());
    }
    let mut spans = Vec::new();
    for hours in distinct.keys() {
        // Local dates that can overlap [from, to]: offsets are within ±26 hours.
        let first = (from - Duration::days(2)).date_naive();
        let last = (to + Duration::days(2)).date_naive();
        let mut d = first;
        while d <= last {
            if let Some((a, b)) = hours.blocked_on(d, runway) {
                if b > from && a < to {
                    spans.push((a, b));
                }
            }
            d = d.succ_opt().expect("date in range");
        }
    }
    spans.sort();
    let mut merged: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for (a, b) in spans {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    merged
}

/// Whether `at` is safe and, if not, who blocks it; and the next safe window.
pub fn evaluate(
    schools: &[School],
    at: DateTime<Utc>,
    runway: Duration,
    overrides: &[Override],
) -> Verdict {
    let mut blocking = Vec::new();
    for s in schools {
        let local = at.with_timezone(&s.hours.timezone);
        let date = local.date_naive();
        let hit = [date.pred_opt(), Some(date), date.succ_opt()]
            .into_iter()
            .flatten()
            .filter_map(|d| s.hours.blocked_on(d, runway))
            .any(|(a, b)| a <= at && at < b);
        if hit {
            blocking.push(Blocking {
                tenant: s.tenant.clone(),
                school: s.school.clone(),
                timezone: s.hours.timezone.name().to_string(),
                local_time: local.to_rfc3339(),
            });
        }
    }
    let spans = blocked_intervals(schools, runway, at, at + Duration::days(HORIZON_DAYS));
    let mut start = at;
    let mut end = None;
    let mut found = false;
    for (a, b) in &spans {
        if *b <= start {
            continue;
        }
        if *a <= start {
            start = *b;
            continue;
        }
        end = Some(*a);
        found = true;
        break;
    }
    let horizon = at + Duration::days(HORIZON_DAYS);
    let next_safe_window = (found || start < horizon).then(|| Window {
        start,
        end,
        wait_minutes: ceil_minutes(start - at),
    });
    let active_override = overrides
        .iter()
        .filter(|o| o.starts_at <= at && at < o.ends_at)
        .max_by_key(|o| o.ends_at)
        .cloned();
    Verdict {
        safe: blocking.is_empty() || active_override.is_some(),
        at,
        blocking,
        next_safe_window,
        active_override,
    }
}

fn ceil_minutes(d: Duration) -> i64 {
    let ms = d.num_milliseconds();
    if ms <= 0 {
        0
    } else {
        (ms + 59_999) / 60_000
    }
}

/// Parses an IANA time zone name.
pub fn parse_timezone(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>()
        .map_err(|_| format!("unknown IANA time zone `{name}`"))
}
