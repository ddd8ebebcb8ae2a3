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
                if !in_window(slot.second, now_secs) {
                    continue;
                }
                requests += slot.requests;
                errors += slot.errors;
                for (sum, n) in buckets.iter_mut().zip(slot.buckets.iter()) {
                    *sum += u64::from(*n);
                }
            }
        }
        summarize(requests, errors, &buckets)
    }

    /// The window as [`Segment`]s of `width` seconds (aligned to multiples of `width`),
    /// for another process to merge with its own: the histogram counts, not a p95.
    pub fn segments(&self, now_secs: u64, width: u64) -> Vec<Segment> {
        let width = width.max(1);
        let mut by_start: std::collections::BTreeMap<u64, (u64, u64, [u64; BUCKETS])> =
            std::collections::BTreeMap::new();
        {
            let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            for slot in slots.iter() {
                if !in_window(slot.second, now_secs) || slot.requests == 0 {
                    continue;
                }
                let entry =
                    by_start
                        .entry(slot.second / width * width)
                        .or_insert((0, 0, [0; BUCKETS]));
                entry.0 += slot.requests;
                entry.1 += slot.errors;
                for (sum, n) in entry.2.iter_mut().zip(slot.buckets.iter()) {
                    *sum += u64::from(*n);
                }
            }
        }
        by_start
            .into_iter()
            .map(|(start, (requests, errors, buckets))| Segment {
                start,
                width,
                requests,
                errors,
                buckets: buckets
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| **n > 0)
                    .map(|(i, n)| (i as u16, *n))
                    .collect(),
            })
            .collect()
    }
}

/// Part of a window: the requests of `width` seconds from `start` (seconds since the
/// epoch), with their latency histogram as `(bucket, count)` pairs (empty buckets left
/// out). What a process publishes for the others ([`merge`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Segment {
    pub start: u64,
    pub width: u64,
    pub requests: u64,
    pub errors: u64,
    pub buckets: Vec<(u16, u64)>,
}

/// The summary of every segment (of any number of processes) whose seconds fall in the
/// window ending at `now_secs`: counts and histograms are added, then the p95 is read
/// from the merged histogram (never an average of p95s). A segment that straddles the
/// window's start counts whole (at most `width` seconds of slack).
pub fn merge<'a>(segments: impl IntoIterator<Item = &'a Segment>, now_secs: u64) -> WindowSummary {
    let mut requests = 0u64;
    let mut errors = 0u64;
    let mut buckets = [0u64; BUCKETS];
    for s in segments {
        let last_second = s.start + s.width.max(1) - 1;
        if s.start > now_secs || !in_window(last_second.min(now_secs), now_secs) {
            continue;
        }
        requests += s.requests;
        errors += s.errors;
        for (i, n) in &s.buckets {
            if let Some(b) = buckets.get_mut(usize::from(*i)) {
                *b += n;
            }
        }
    }
    summarize(requests, errors, &buckets)
}

/// Whether second `second` lies in the window ending at `now_secs`.
fn in_window(second: u64, now_secs: u64) -> bool {
    second <= now_secs && now_secs - second < WINDOW_SECS
}

/// Figures from counts and a histogram.
fn summarize(requests: u64, errors: u64, buckets: &[u64; BUCKETS]) -> WindowSummary {
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
    fn merged_segments_equal_one_window_with_all_the_traffic() {
        // Two processes share the traffic; a third window sees all of it.
        let (a, b, all) = (
            RequestWindow::new(),
            RequestWindow::new(),
            RequestWindow::new(),
        );
        let now = 10_000;
        for i in 0..90u64 {
            let (second, latency) = (now - (i % 200), ms(2 + i % 5));
            a.record(second, latency, false);
            all.record(second, latency, false);
        }
        for i in 0..10u64 {
            let (second, latency) = (now - i * 7, ms(700));
            b.record(second, latency, i < 6);
            all.record(second, latency, i < 6);
        }
        let segments: Vec<Segment> = [a.segments(now, 10), b.segments(now, 10)].concat();
        let merged = merge(&segments, now);
        assert_eq!(merged, all.summary(now));
        assert_eq!((merged.requests, merged.errors), (100, 6));
        assert_eq!(merged.error_rate_percent, Some(6.0));
        // 10% are slow: the merged p95 is a slow one, though neither process's own
        // p95 alone says so for the whole (a's is fast, b's is all slow).
        let p95 = merged.p95_ms.unwrap();
        assert!((700.0..=770.0).contains(&p95), "{p95}");
        assert!(a.summary(now).p95_ms.unwrap() < 10.0);

        // Segments age out with the window; ones from the future are ignored.
        assert_eq!(merge(&segments, now + WINDOW_SECS + 10).requests, 0);
        assert_eq!(merge(&segments, now - 400).requests, 0);
        // Serialised as a process publishes them.
        let json = serde_json::to_string(&segments).unwrap();
        let back: Vec<Segment> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, segments);
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
