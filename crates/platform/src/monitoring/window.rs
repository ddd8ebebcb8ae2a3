//! The rolling five-minute window of API requests this process served: the source of
//! `response_time_p95` and `error_rate_5m`. One slot per second in a ring; a slot older
//! than the window is cleared by the first request that reuses it. Latencies go into
//! logarithmic buckets (about 10% wide), so the p95 is read to within one bucket without
//! keeping every sample, and memory stays fixed whatever the traffic.

use std::sync::Mutex;
use std::time::Duration;

/// The window's length.
pub const WINDOW_SECS: u64 = 300;

/// Bucket `i` holds latencies below `FIRST_BOUND_US * GROWTH^i`; the last one is open.
const BUCKETS: usize = 150;
const FIRST_BOUND_US: f64 = 100.0;
const GROWTH: f64 = 1.1;

#[derive(Clone)]
struct Slot {
    /// The second (since the Unix epoch) this slot counts, or `u64::MAX` when unused.
    second: u64,
    requests: u64,
    errors: u64,
    buckets: [u32; BUCKETS],
}

impl Slot {
    const EMPTY: Slot = Slot {
        second: u64::MAX,
        requests: 0,
        errors: 0,
        buckets: [0; BUCKETS],
    };
}

/// What the window holds right now.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WindowSummary {
    pub requests: u64,
    pub errors: u64,
    /// p95 latency in milliseconds (the upper bound of its bucket); `None` with no requests.
    pub p95_ms: Option<f64>,
    /// Percentage of responses with status >= 500; `None` with no requests.
    pub error_rate_percent: Option<f64>,
}

/// The window. Recording takes one uncontended lock and a few additions.
pub struct RequestWindow {
    slots: Mutex<Vec<Slot>>,
}

impl Default for RequestWindow {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestWindow {
    pub fn new() -> Self {
        Self {
            slots: Mutex::new(vec![Slot::EMPTY; WINDOW_SECS as usize]),
        }
    }

    /// Records one response at `now_secs` (seconds since the Unix epoch).
    pub fn record(&self, now_secs: u64, latency: Duration, server_error: bool) {
        let bucket = bucket_of(latency);
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let slot = &mut slots[(now_secs % WINDOW_SECS) as usize];
        if slot.second != now_secs {
            *slot = Slot::EMPTY;
            slot.second = now_secs;
        }
        slot.requests += 1;
        slot.errors += u64::from(server_error);
        slot.buckets[bucket] = slot.buckets[bucket].saturating_add(1);
    }

    /// The requests of the last [`WINDOW_SECS`] seconds up to `now_secs`.
    pub fn summary(&self, now_secs: u64) -> WindowSummary {
        let mut requests = 0u64;
        let mut errors = 0u64;
        let mut buckets = [0u64; BUCKETS];
        {
            let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            for slot in slots.iter() {
                if slot.second > now_secs || now_secs - slot.second >= WINDOW_SECS {
                    continue;
                }
                requests += slot.requests;
                errors += slot.errors;
                for (sum, n) in buckets.iter_mut().zip(slot.buckets.iter()) {
                    *sum += u64::from(*n);
                }
            }
        }
        if requests == 0 {
            return WindowSummary {
                requests,
                errors,
                p95_ms: None,
                error_rate_percent: None,
            };
        }
        // The smallest bucket bound below which at least 95% of the requests fall.
        let rank = (requests * 95).div_ceil(100);
        let mut seen = 0u64;
        let mut p95_us = upper_bound_us(BUCKETS - 1);
        for (i, n) in buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                p95_us = upper_bound_us(i);
                break;
            }
        }
        WindowSummary {
            requests,
            errors,
            p95_ms: Some(p95_us / 1000.0),
            error_rate_percent: Some(errors as f64 * 100.0 / requests as f64),
        }
    }
}

fn bucket_of(latency: Duration) -> usize {
    let us = latency.as_secs_f64() * 1e6;
    if us < FIRST_BOUND_US {
        return 0;
    }
    let i = ((us / FIRST_BOUND_US).ln() / GROWTH.ln()).floor() as usize + 1;
    i.min(BUCKETS - 1)
}

/// The upper bound of bucket `i` in microseconds (the last bucket reports its lower bound
/// times the growth: it is open-ended, about 160 s).
fn upper_bound_us(i: usize) -> f64 {
    FIRST_BOUND_US * GROWTH.powi(i as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn empty_window_has_no_figures() {
        let w = RequestWindow::new();
        let s = w.summary(1_000);
        assert_eq!(s.requests, 0);
        assert_eq!(s.p95_ms, None);
        assert_eq!(s.error_rate_percent, None);
    }

    #[test]
    fn p95_and_error_rate_of_a_known_mix() {
        let w = RequestWindow::new();
        // 95 fast requests at 2 ms, 5 slow ones at 900 ms, 4 of which failed.
        for _ in 0..95 {
            w.record(1_000, ms(2), false);
        }
        for i in 0..5 {
            w.record(1_001, ms(900), i < 4);
        }
        let s = w.summary(1_001);
        assert_eq!(s.requests, 100);
        assert_eq!(s.errors, 4);
        assert_eq!(s.error_rate_percent, Some(4.0));
        let p95 = s.p95_ms.unwrap();
        // The 95th request is a 2 ms one; its bucket bound is within 10% above it.
        assert!((2.0..=2.2).contains(&p95), "p95 {p95}");
        // One more slow request moves the p95 into the slow bucket.
        w.record(1_001, ms(900), false);
        let p95 = w.summary(1_001).p95_ms.unwrap();
        assert!((900.0..=990.0).contains(&p95), "p95 {p95}");
    }

    #[test]
    fn requests_leave_the_window_after_five_minutes() {
        let w = RequestWindow::new();
        w.record(1_000, ms(5), true);
        assert_eq!(w.summary(1_000 + WINDOW_SECS - 1).requests, 1);
        assert_eq!(w.summary(1_000 + WINDOW_SECS).requests, 0);
        // A slot reused a window later starts from zero.
        w.record(1_000 + WINDOW_SECS, ms(5), false);
        let s = w.summary(1_000 + WINDOW_SECS);
        assert_eq!((s.requests, s.errors), (1, 0));
    }

    #[test]
    fn bucket_bounds_are_within_ten_percent() {
        for us in [150u64, 1_000, 7_777, 123_456, 5_000_000] {
            let d = Duration::from_micros(us);
            let bound = upper_bound_us(bucket_of(d));
            assert!(
                bound >= us as f64 && bound <= us as f64 * 1.1 + 1.0,
                "{us}: {bound}"
            );
        }
        assert_eq!(bucket_of(Duration::from_secs(100_000)), BUCKETS - 1);
    }
}
