//! The scheduler's clock, injectable so tests can run many cron ticks quickly.
//!
//! Only the scheduler reads it (which ticks are due). The queue itself uses the
//! database's `now()` for `run_at` and leases, so every machine agrees on those.

use std::fmt::Debug;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// A source of "now" for schedules.
pub trait Clock: Send + Sync + Debug {
    fn now(&self) -> DateTime<Utc>;

    /// How long to sleep in real time until the clock shows `at` (zero if it already does).
    fn real_until(&self, at: DateTime<Utc>) -> Duration;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn real_until(&self, at: DateTime<Utc>) -> Duration {
        (at - Utc::now()).to_std().unwrap_or_default()
    }
}

/// A clock that shows `start` at the real instant `anchor` and runs `rate` times faster
/// than real time. Processes given the same three values agree on the time, which is
/// how the tests drive several worker processes through cron ticks in seconds.
#[derive(Clone, Copy, Debug)]
pub struct ScaledClock {
    pub start: DateTime<Utc>,
    pub anchor: DateTime<Utc>,
    pub rate: f64,
}

impl Clock for ScaledClock {
    fn now(&self) -> DateTime<Utc> {
        let real = (Utc::now() - self.anchor).num_microseconds().unwrap_or(0) as f64;
        self.start + chrono::Duration::microseconds((real * self.rate) as i64)
    }

    fn real_until(&self, at: DateTime<Utc>) -> Duration {
        (at - self.now())
            .to_std()
            .unwrap_or_default()
            .div_f64(self.rate)
    }
}

/// A clock that moves only when told to (unit and in-process tests).
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Mutex::new(at))
    }

    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }

    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Polls: the time moves only when a test moves it.
    fn real_until(&self, _at: DateTime<Utc>) -> Duration {
        Duration::from_millis(20)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_clock_runs_faster_from_its_anchor() {
        let start: DateTime<Utc> = "2030-01-01T00:00:00Z".parse().unwrap();
        let clock = ScaledClock {
            start,
            anchor: Utc::now() - chrono::Duration::seconds(2),
            rate: 60.0,
        };
        let shown = clock.now() - start;
        assert!(
            (120..130).contains(&shown.num_seconds()),
            "shows {shown} after 2 real seconds at 60x"
        );
        let wait = clock.real_until(clock.now() + chrono::Duration::seconds(60));
        assert!(wait <= Duration::from_secs(1) && wait >= Duration::from_millis(900));
    }
}
