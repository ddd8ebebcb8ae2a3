//! Deploy windows across time zones and daylight-saving changes: worked examples, then
//! property loops over every IANA zone on its 2026 transition days, checked against an
//! independent oracle (the school's wall clock read minute by minute).

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Offset, TimeZone, Timelike, Utc};
use std::collections::HashMap;

use chrono_tz::Tz;
use deploy_window::{evaluate, parse_days, Hours, Override, School};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn school(tenant: &str, name: &str, tz: Tz) -> School {
    School {
        tenant: tenant.into(),
        school: name.into(),
        hours: Hours::default_in(tz),
    }
}

fn runway() -> Duration {
    Duration::minutes(15)
}

#[test]
fn default_hours_block_monday_to_friday_eight_to_three_with_the_runway() {
    let ny = [school("t1", "Lincoln High", chrono_tz::America::New_York)];
    // Monday 2026-12-07, EST (UTC-5).
    let v = evaluate(&ny, utc("2026-12-07T15:00:00Z"), runway(), &[]);
    assert!(!v.safe);
    assert_eq!(v.blocking.len(), 1);
    assert_eq!(v.blocking[0].school, "Lincoln High");
    assert_eq!(v.blocking[0].timezone, "America/New_York");
    assert_eq!(v.blocking[0].local_time, "2026-12-07T10:00:00-05:00");
    let w = v.next_safe_window.unwrap();
    assert_eq!(w.start, utc("2026-12-07T20:00:00Z")); // 15:00 local
    assert_eq!(w.end, Some(utc("2026-12-08T12:45:00Z"))); // Tuesday 07:45 local
    assert_eq!(w.wait_minutes, 300);
    // 07:44 is safe, 07:45 is inside the runway, 15:00 is safe again.
    assert!(evaluate(&ny, utc("2026-12-07T12:44:00Z"), runway(), &[]).safe);
    assert!(!evaluate(&ny, utc("2026-12-07T12:45:00Z"), runway(), &[]).safe);
    assert!(evaluate(&ny, utc("2026-12-07T20:00:00Z"), runway(), &[]).safe);
    // Saturday is safe all day; the window ends at Monday's runway.
    let sat = evaluate(&ny, utc("2026-12-12T15:00:00Z"), runway(), &[]);
    assert!(sat.safe);
    let w = sat.next_safe_window.unwrap();
    assert_eq!((w.start, w.wait_minutes), (utc("2026-12-12T15:00:00Z"), 0));
    assert_eq!(w.end, Some(utc("2026-12-14T12:45:00Z")));
}

#[test]
fn the_school_day_moves_in_utc_when_the_clocks_change() {
    let ny = [school("t1", "Lincoln High", chrono_tz::America::New_York)];
    // Friday 2026-03-06 (EST) and Monday 2026-03-09 (EDT, after Sunday's change).
    let fri = evaluate(&ny, utc("2026-03-06T20:00:00Z"), runway(), &[]);
    assert!(fri.safe);
    assert_eq!(
        fri.next_safe_window.unwrap().end,
        Some(utc("2026-03-09T11:45:00Z"))
    );
    assert!(!evaluate(&ny, utc("2026-03-09T11:45:00Z"), runway(), &[]).safe);
    assert!(evaluate(&ny, utc("2026-03-09T19:00:00Z"), runway(), &[]).safe);
}

#[test]
fn a_start_in_the_spring_forward_gap_starts_when_the_clock_jumps() {
    let mut s = school("t1", "Night School", chrono_tz::America::New_York);
    s.hours.start = NaiveTime::from_hms_opt(2, 30, 0).unwrap();
    s.hours.end = NaiveTime::from_hms_opt(5, 0, 0).unwrap();
    s.hours.days = [true; 7];
    let (a, b) = s
        .hours
        .blocked_on(
            NaiveDate::from_ymd_opt(2026, 3, 8).unwrap(),
            Duration::zero(),
        )
        .unwrap();
    assert_eq!(a, utc("2026-03-08T07:00:00Z")); // 03:00 EDT, the instant of the jump
    assert_eq!(b, utc("2026-03-08T09:00:00Z"));
}

#[test]
fn an_ambiguous_end_in_the_fall_back_hour_takes_the_later_instant() {
    let mut s = school("t1", "Night School", chrono_tz::America::New_York);
    s.hours.start = NaiveTime::from_hms_opt(0, 0, 0).unwrap();
    s.hours.end = NaiveTime::from_hms_opt(1, 30, 0).unwrap();
    s.hours.days = [true; 7];
    let (a, b) = s
        .hours
        .blocked_on(
            NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            Duration::zero(),
        )
        .unwrap();
    assert_eq!(a, utc("2026-11-01T04:00:00Z"));
    assert_eq!(b, utc("2026-11-01T06:30:00Z")); // 01:30 EST, the second 01:30
}

#[test]
fn every_school_in_every_zone_must_be_out() {
    let schools = [
        school(
            "district-a",
            "Auckland Grammar",
            chrono_tz::Pacific::Auckland,
        ),
        school("district-b", "Berlin Schule", chrono_tz::Europe::Berlin),
        school("district-c", "Lincoln High", chrono_tz::America::New_York),
        school(
            "district-d",
            "Honolulu Elementary",
            chrono_tz::Pacific::Honolulu,
        ),
    ];
    // Tuesday 2026-12-08 09:00 UTC: Berlin 10:00 (in school).
    let v = evaluate(&schools, utc("2026-12-08T09:00:00Z"), runway(), &[]);
    assert!(!v.safe);
    let names: Vec<&str> = v.blocking.iter().map(|b| b.school.as_str()).collect();
    assert_eq!(names, ["Berlin Schule"]);
    let w = v.next_safe_window.unwrap();
    assert!(evaluate(&schools, w.start, runway(), &[]).safe);
    assert!(!evaluate(&schools, w.start - Duration::minutes(1), runway(), &[]).safe);
    let end = w.end.unwrap();
    assert!(!evaluate(&schools, end, runway(), &[]).safe);
    assert!(evaluate(&schools, end - Duration::minutes(1), runway(), &[]).safe);
}

#[test]
fn holidays_and_the_academic_year_free_a_day() {
    let mut s = school("t1", "Lincoln High", chrono_tz::America::New_York);
    let monday = utc("2026-12-07T15:00:00Z");
    s.hours.holidays = vec![NaiveDate::from_ymd_opt(2026, 12, 7).unwrap()];
    assert!(evaluate(std::slice::from_ref(&s), monday, runway(), &[]).safe);
    s.hours.holidays.clear();
    s.hours.years = vec![(
        NaiveDate::from_ymd_opt(2025, 9, 1).unwrap(),
        NaiveDate::from_ymd_opt(2026, 6, 30).unwrap(),
    )];
    assert!(evaluate(std::slice::from_ref(&s), monday, runway(), &[]).safe);
    s.hours.years.push((
        NaiveDate::from_ymd_opt(2026, 9, 1).unwrap(),
        NaiveDate::from_ymd_opt(2027, 6, 30).unwrap(),
    ));
    assert!(!evaluate(std::slice::from_ref(&s), monday, runway(), &[]).safe);
}

#[test]
fn an_active_override_makes_a_blocked_instant_safe_and_is_reported() {
    let ny = [school("t1", "Lincoln High", chrono_tz::America::New_York)];
    let at = utc("2026-12-07T15:00:00Z");
    let o = Override {
        id: 7,
        reason: "security fix".into(),
        starts_at: at - Duration::minutes(5),
        ends_at: at + Duration::minutes(55),
        created_by: "ops@example.org".into(),
    };
    let v = evaluate(&ny, at, runway(), std::slice::from_ref(&o));
    assert!(v.safe);
    assert_eq!(v.blocking.len(), 1);
    assert_eq!(v.active_override, Some(o.clone()));
    // Expired or future overrides do nothing.
    let later = evaluate(
        &ny,
        at + Duration::hours(1),
        runway(),
        std::slice::from_ref(&o),
    );
    assert!(!later.safe && later.active_override.is_none());
}

#[test]
fn weekday_names_parse() {
    let days = parse_days(&["mon".into(), "WED".into(), "sun".into()]).unwrap();
    assert_eq!(days, [true, false, true, false, false, false, true]);
    assert!(parse_days(&["funday".into()]).is_err());
}

/// The oracle, independent of the crate's conversion of local times: scan the school's
/// wall clock minute by minute. On a school day `d`, school starts at the first minute
/// whose local reading is on `d` and at or after `start` (so a start in a spring-forward
/// gap begins at the jump, and an ambiguous one at its first occurrence), and ends after
/// the last minute whose local reading is on `d` and before `end`.
type Span = (DateTime<Utc>, DateTime<Utc>);

struct Oracle<'h> {
    hours: &'h Hours,
    runway: Duration,
    days: HashMap<NaiveDate, Option<Span>>,
}

impl<'h> Oracle<'h> {
    fn new(hours: &'h Hours, runway_min: i64) -> Self {
        Oracle {
            hours,
            runway: Duration::minutes(runway_min),
            days: HashMap::new(),
        }
    }

    fn day(&mut self, d: NaiveDate) -> Option<Span> {
        let h = self.hours;
        *self.days.entry(d).or_insert_with(|| {
            if !h.is_school_day(d) {
                return None;
            }
            let from = Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap()) - Duration::days(1);
            let mut first = None;
            let mut last = None;
            for m in 0..(3 * 24 * 60) {
                let t = from + Duration::minutes(m);
                let local = t.with_timezone(&h.timezone);
                if local.date_naive() != d {
                    continue;
                }
                if first.is_none() && local.time() >= h.start {
                    first = Some(t);
                }
                if local.time() < h.end {
                    last = Some(t);
                }
            }
            let (a, b) = (first?, last? + Duration::minutes(1));
            (b > a).then_some((a, b))
        })
    }

    fn blocked(&mut self, at: DateTime<Utc>) -> bool {
        let date = at.with_timezone(&self.hours.timezone).date_naive();
        let runway = self.runway;
        [date.pred_opt().unwrap(), date, date.succ_opt().unwrap()]
            .into_iter()
            .filter_map(|d| self.day(d))
            .any(|(a, b)| a - runway <= at && at < b)
    }
}

/// Days of 2026 on which `tz` changes its UTC offset.
fn transition_days(tz: Tz) -> Vec<NaiveDate> {
    let mut days = Vec::new();
    let mut d = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let offset_at = |d: NaiveDate| {
        tz.offset_from_utc_datetime(&d.and_hms_opt(12, 0, 0).unwrap())
            .fix()
            .local_minus_utc()
    };
    while d.year() == 2026 {
        let next = d.succ_opt().unwrap();
        if offset_at(d) != offset_at(next) {
            days.push(next.pred_opt().unwrap());
            days.push(next);
        }
        d = next;
    }
    days
}

#[test]
fn every_zone_agrees_with_the_wall_clock_on_its_transition_days() {
    let mut checked = 0;
    for tz in chrono_tz::TZ_VARIANTS {
        let days = transition_days(tz);
        if days.is_empty() {
            continue;
        }
        // Every day a school day, hours chosen to straddle typical 01:00-03:00 changes.
        let mut hours = Hours::default_in(tz);
        hours.days = [true; 7];
        hours.start = NaiveTime::from_hms_opt(2, 30, 0).unwrap();
        hours.end = NaiveTime::from_hms_opt(9, 0, 0).unwrap();
        for normal in [false, true] {
            if normal {
                hours = Hours::default_in(tz);
            }
            let schools = [School {
                tenant: "t".into(),
                school: "s".into(),
                hours: hours.clone(),
            }];
            let mut oracle = Oracle::new(&hours, 15);
            for day in &days {
                let midnight = Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap());
                // Every 37 minutes over 36 hours from UTC midnight of the day.
                for step in 0..(36 * 60 / 37) {
                    let at = midnight + Duration::minutes(37 * step);
                    let v = evaluate(&schools, at, runway(), &[]);
                    let expect = !oracle.blocked(at);
                    assert_eq!(
                        v.safe,
                        expect,
                        "{} at {at} (local {}): crate says safe={}, wall clock says {}",
                        tz.name(),
                        at.with_timezone(&tz),
                        v.safe,
                        expect
                    );
                    let w = v.next_safe_window.expect("a window within the horizon");
                    assert!(w.start >= at);
                    assert!(
                        !oracle.blocked(w.start),
                        "{} {at}: window start {} is blocked",
                        tz.name(),
                        w.start
                    );
                    if w.start > at {
                        assert!(oracle.blocked(w.start - Duration::minutes(1)));
                    }
                    assert_eq!(w.wait_minutes, (w.start - at).num_minutes());
                    if let Some(end) = w.end {
                        assert!(
                            oracle.blocked(end),
                            "{} {at}: window end {end} is not blocked",
                            tz.name()
                        );
                        assert!(!oracle.blocked(end - Duration::minutes(1)));
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 50_000, "only {checked} instants checked");
}

#[test]
fn half_and_quarter_hour_zones_and_the_date_line() {
    for (tz, local_start_utc) in [
        (chrono_tz::Asia::Kolkata, "2026-12-07T02:30:00Z"), // +05:30
        (chrono_tz::Asia::Kathmandu, "2026-12-07T02:15:00Z"), // +05:45
        (chrono_tz::Pacific::Chatham, "2026-12-06T18:15:00Z"), // +13:45 (summer)
        (chrono_tz::Pacific::Kiritimati, "2026-12-06T18:00:00Z"), // +14:00
        (chrono_tz::Pacific::Pago_Pago, "2026-12-07T19:00:00Z"), // -11:00
    ] {
        let s = [school("t", "s", tz)];
        let start = utc(local_start_utc);
        assert!(
            !evaluate(&s, start, Duration::zero(), &[]).safe,
            "{}",
            tz.name()
        );
        let v = evaluate(&s, start - Duration::minutes(1), Duration::zero(), &[]);
        assert!(v.safe, "{}", tz.name());
        assert_eq!(
            v.next_safe_window.unwrap().end,
            Some(start),
            "{}",
            tz.name()
        );
        let local = start.with_timezone(&tz);
        assert_eq!(
            (
                local.hour(),
                local.minute(),
                local.weekday().num_days_from_monday()
            ),
            (8, 0, 0)
        );
    }
}
