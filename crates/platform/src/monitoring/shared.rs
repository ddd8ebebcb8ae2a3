//! The request window of every API process, combined through Redis (spec 07: "with
//! several API processes, each reports its own and the alert evaluator combines them").
//!
//! Each process publishes its window as ten-second [`Segment`]s (request and error counts
//! and the latency histogram, not a p95) under a key of its own with a TTL of the window
//! plus a minute, at most every [`PUBLISH_EVERY`] while it serves requests and whenever it
//! builds a health report. The report reads every process's key and merges the
//! histograms ([`window::merge`]), so `response_time_p95` is the p95 of all requests
//! and `error_rate_5m` their error share. A process that stopped drops out with its TTL.

use std::time::Duration;

use redis::aio::ConnectionManager;

use super::window::{self, RequestWindow, Segment, WindowSummary, WINDOW_SECS};

/// Keys: `k12:metrics:window:<instance>`.
const KEY_PREFIX: &str = "k12:metrics:window:";
/// The width of a published segment, in seconds.
pub const SEGMENT_SECS: u64 = 10;
/// How often a serving process publishes (when it has new requests).
pub const PUBLISH_EVERY: Duration = Duration::from_secs(2);

/// This process's handle on the shared windows.
#[derive(Clone)]
pub struct SharedWindows {
    conn: ConnectionManager,
    key: String,
}

impl SharedWindows {
    /// `conn`: the Redis connection the rate limiter already holds.
    pub fn new(conn: ConnectionManager) -> Self {
        let instance = format!(
            "{}-{}",
            std::process::id(),
            &crate::auth::token::random_password()[..12]
        );
        Self {
            conn,
            key: format!("{KEY_PREFIX}{instance}"),
        }
    }

    /// Writes this process's window (replacing its previous one).
    pub async fn publish(&self, window: &RequestWindow, now_secs: u64) -> Result<(), String> {
        let segments = window.segments(now_secs, SEGMENT_SECS);
        let body = serde_json::to_string(&segments).map_err(|e| e.to_string())?;
        let mut conn = self.conn.clone();
        redis::cmd("SET")
            .arg(&self.key)
            .arg(body)
            .arg("EX")
            .arg(WINDOW_SECS + 60)
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| e.to_string())
    }

    /// Every process's published window, merged; and how many processes published one.
    pub async fn combined(&self, now_secs: u64) -> Result<(WindowSummary, usize), String> {
        let mut conn = self.conn.clone();
        let mut keys: Vec<String> = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{KEY_PREFIX}*"))
                .arg("COUNT")
                .arg(500)
                .query_async(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
            keys.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        keys.sort_unstable();
        keys.dedup();
        if keys.is_empty() {
            return Ok((window::merge(&[], now_secs), 0));
        }
        let values: Vec<Option<String>> = redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        let mut segments: Vec<Segment> = Vec::new();
        let mut processes = 0;
        for v in values.into_iter().flatten() {
            match serde_json::from_str::<Vec<Segment>>(&v) {
                Ok(s) => {
                    processes += 1;
                    segments.extend(s);
                }
                // Another version's format, or garbage: not ours to judge; skipped.
                Err(e) => tracing::warn!(error = %e, "unreadable shared request window skipped"),
            }
        }
        Ok((window::merge(&segments, now_secs), processes))
    }
}
