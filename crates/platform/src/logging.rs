//! The process's logging: one configuration for `k12` and for `k12-bench`, so the
//! benchmark pays exactly what production pays for its access log.
//!
//! * An INFO line per request (tower-http's `TraceLayer` in `app.rs`) plus warnings and
//!   errors; `RUST_LOG` replaces the default filter.
//! * JSON lines with `K12_LOG_FORMAT=json` (production), human text otherwise; colours only
//!   when the destination is a terminal.
//! * Written by a background thread ([`tracing_appender::non_blocking`]): a request
//!   formats its line and hands it to a bounded queue, never waits for stderr or a slow
//!   log collector. When the queue (128,000 lines) is full, lines are dropped and
//!   counted rather than slowing requests down; the count is reported at exit.

use std::io::Write;

use tracing_appender::non_blocking::{ErrorCounter, NonBlocking, WorkerGuard};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The filter when `RUST_LOG` is unset: the access log and the service's own INFO lines.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn,tower_http=info";

/// How log lines are written (`K12_LOG_FORMAT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    Text,
    /// One JSON object per line (`K12_LOG_FORMAT=json`; production).
    Json,
}

impl LogFormat {
    /// `json` for [`LogFormat::Json`]; anything else, or unset, is text.
    pub fn parse(value: Option<&str>) -> Self {
        match value {
            Some(v) if v.trim().eq_ignore_ascii_case("json") => Self::Json,
            _ => Self::Text,
        }
    }

    /// From `K12_LOG_FORMAT`.
    pub fn from_env() -> Self {
        Self::parse(std::env::var("K12_LOG_FORMAT").ok().as_deref())
    }
}

/// Keeps the log writer thread alive; dropping it flushes the queued lines. Hold it for
/// the life of the process (in `main`).
pub struct LogGuard {
    _worker: WorkerGuard,
    dropped: ErrorCounter,
}

impl LogGuard {
    /// Lines dropped so far because the writer's queue was full.
    pub fn dropped_lines(&self) -> usize {
        self.dropped.dropped_lines()
    }
}

/// The log layer's writer: `writer` behind the non-blocking queue.
pub fn non_blocking<W: Write + Send + 'static>(writer: W) -> (NonBlocking, LogGuard) {
    let (writer, worker) = tracing_appender::non_blocking(writer);
    let dropped = writer.error_counter();
    (
        writer,
        LogGuard {
            _worker: worker,
            dropped,
        },
    )
}

/// Installs the process's subscriber: the log lines (see the module docs) written to
/// `writer` through the non-blocking queue, and the statement counter behind
/// `Server-Timing`. `ansi`: colours (text only; pass whether `writer` is a terminal).
pub fn init<W: Write + Send + 'static>(writer: W, format: LogFormat, ansi: bool) -> LogGuard {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let (writer, guard) = non_blocking(writer);
    let fmt = tracing_subscriber::fmt::layer().with_writer(writer);
    let fmt = match format {
        LogFormat::Json => fmt.json().with_filter(filter).boxed(),
        LogFormat::Text => fmt.with_ansi(ansi).with_filter(filter).boxed(),
    };
    tracing_subscriber::registry()
        .with(fmt)
        .with(crate::http::statements::layer())
        .init();
    guard
}

/// [`init`] on stderr, as `k12` runs: the format from `K12_LOG_FORMAT`, colours only when
/// stderr is a terminal.
pub fn init_stderr() -> LogGuard {
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    init(std::io::stderr(), LogFormat::from_env(), ansi)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn only_json_selects_json() {
        assert_eq!(LogFormat::parse(Some("json")), LogFormat::Json);
        assert_eq!(LogFormat::parse(Some(" JSON ")), LogFormat::Json);
        assert_eq!(LogFormat::parse(Some("text")), LogFormat::Text);
        assert_eq!(LogFormat::parse(Some("")), LogFormat::Text);
        assert_eq!(LogFormat::parse(None), LogFormat::Text);
    }

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_reach_the_writer_through_the_queue_and_are_flushed_on_drop() {
        let sink = Sink::default();
        let (writer, guard) = non_blocking(sink.clone());
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_writer(writer)
                .with_filter(EnvFilter::new("info")),
        );
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(status = 200, "finished processing request");
            tracing::debug!("filtered out");
        });
        assert_eq!(guard.dropped_lines(), 0);
        drop(guard);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        let line: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["fields"]["status"], 200);
        assert!(!text.contains('\u{1b}'), "no escape codes in JSON: {text}");
    }
}
