//! The HTTP side: concurrent keep-alive clients against the real router on loopback.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::endpoints::{Endpoint, Target};
use crate::pgbench::percentile;

pub struct Settings {
    pub clients: usize,
    pub duration: Duration,
    pub warmup: Duration,
    /// The runtime the clients run on (its own threads, metered apart from the service's).
    pub runtime: tokio::runtime::Handle,
    pub meter: Option<crate::cpu::Meter>,
}

/// What one HTTP run measured.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub requests: u64,
    /// Non-200 answers (except a 503 with `Retry-After`), transport failures and
    /// requests without an answer within the client's timeout (30 s).
    pub errors: u64,
    /// 503 answers with `Retry-After` (the pool's acquire timeout): counted apart.
    pub unavailable: u64,
    pub elapsed: Duration,
    /// Sorted latencies in microseconds.
    latencies: Vec<u64>,
    pub cpu: crate::cpu::PerOp,
}

impl Outcome {
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    pub fn p50_ms(&self) -> f64 {
        percentile(&self.latencies, 0.50) as f64 / 1000.0
    }
    pub fn p99_ms(&self) -> f64 {
        percentile(&self.latencies, 0.99) as f64 / 1000.0
    }
    pub fn max_ms(&self) -> f64 {
        self.latencies.last().copied().unwrap_or(0) as f64 / 1000.0
    }
}

/// One keep-alive connection per client, no proxy, no compression.
pub fn client(clients: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .tcp_nodelay(true)
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// What a single request of an endpoint looks like.
pub struct Check {
    /// SQL statements the request ran (development `Server-Timing`).
    pub statements: u64,
    /// Rows in the answer (`data` of a list, 1 for an object).
    pub rows: usize,
    pub bytes: usize,
}

/// Asks the development twin once, checks the answer, and reads the statement count
/// from `Server-Timing`; fails if it differs from the pgbench script's.
pub async fn verify(
    client: &reqwest::Client,
    dev_url: &str,
    endpoint: &Endpoint,
    targets: &[Target],
) -> anyhow::Result<Check> {
    let target = targets.first().context("no targets")?;
    let response = client
        .get(format!("{dev_url}{}", endpoint.path(target)))
        .bearer_auth(&target.token)
        .send()
        .await?;
    let status = response.status();
    let timing = response
        .headers()
        .get("server-timing")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = response.bytes().await?;
    if status != reqwest::StatusCode::OK {
        bail!("{status}: {}", String::from_utf8_lossy(&body));
    }
    let statements: u64 = timing
        .split("desc=\"")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no statement count in Server-Timing {timing:?}"))?;
    // One transaction: sqlx logs its statements and COMMIT; BEGIN with set_config is a
    // simple query outside the statement log (one round trip).
    let expected = crate::endpoints::session_lookup().len() + endpoint.handler.len() + 1;
    if statements as usize != expected {
        bail!(
            "the request ran {statements} logged statements but the pgbench script has {expected} \
             (the lookup, the handler's statements, COMMIT, in one transaction): the endpoint's \
             SQL or its transactions changed"
        );
    }
    let json: serde_json::Value = serde_json::from_slice(&body)?;
    let rows = match json.get("data") {
        Some(serde_json::Value::Array(rows)) => rows.len(),
        _ => 1,
    };
    if rows == 0 {
        bail!("empty answer for the first target: the seed does not exercise this endpoint");
    }
    Ok(Check {
        statements,
        rows,
        bytes: body.len(),
    })
}

enum Answer {
    Ok,
    Unavailable,
    Error,
}

/// A small, fast, per-client random number generator (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// When a run ends: after its duration, and also when `stop` is set (if given).
pub struct Until {
    pub duration: Duration,
    pub stop: Option<Arc<AtomicBool>>,
}

impl From<Duration> for Until {
    fn from(duration: Duration) -> Self {
        Self {
            duration,
            stop: None,
        }
    }
}

pub async fn drive(
    client: &reqwest::Client,
    base: &str,
    settings: &Settings,
    until: impl Into<Until>,
    request: impl Fn(&mut Rng) -> (String, Option<String>) + Clone + Send + 'static,
) -> Outcome {
    let Until { duration, stop } = until.into();
    let before = settings.meter.as_ref().map(|m| m.sample());
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..settings.clients {
        let client = client.clone();
        let base = base.to_string();
        let request = request.clone();
        let stop = stop.clone();
        tasks.spawn_on(
            async move {
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((i as u64 + 1) << 17));
                let mut latencies = Vec::with_capacity(1 << 14);
                let mut errors = 0u64;
                let mut unavailable = 0u64;
                let stopped = || stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed));
                while Instant::now() < deadline && !stopped() {
                    let (path, token) = request(&mut rng);
                    let mut req = client.get(format!("{base}{path}"));
                    if let Some(token) = token {
                        req = req.bearer_auth(token);
                    }
                    let t0 = Instant::now();
                    let answer = match req.send().await {
                        Ok(r) => {
                            let status = r.status();
                            let retry_after = r.headers().contains_key("retry-after");
                            match (r.bytes().await.is_ok(), status) {
                                (true, reqwest::StatusCode::OK) => Answer::Ok,
                                (true, reqwest::StatusCode::SERVICE_UNAVAILABLE) if retry_after => {
                                    Answer::Unavailable
                                }
                                _ => Answer::Error,
                            }
                        }
                        Err(_) => Answer::Error,
                    };
                    latencies.push(t0.elapsed().as_micros() as u64);
                    match answer {
                        Answer::Ok => {}
                        Answer::Unavailable => unavailable += 1,
                        Answer::Error => errors += 1,
                    }
                }
                (latencies, errors, unavailable)
            },
            &settings.runtime,
        );
    }
    let mut out = Outcome::default();
    while let Some(done) = tasks.join_next().await {
        let (latencies, errors, unavailable) = done.expect("client task");
        out.requests += latencies.len() as u64;
        out.errors += errors;
        out.unavailable += unavailable;
        out.latencies.extend(latencies);
    }
    out.elapsed = start.elapsed();
    if let (Some(meter), Some(before)) = (&settings.meter, before) {
        out.cpu = before.per_op(&meter.sample(), out.requests);
    }
    out.latencies.sort_unstable();
    out
}

/// Warms up, then drives `endpoint` with random targets for the configured duration.
pub async fn run(
    client: &reqwest::Client,
    base: &str,
    endpoint: &Endpoint,
    targets: &[Target],
    settings: &Settings,
) -> Outcome {
    let requests: std::sync::Arc<Vec<(String, String)>> = std::sync::Arc::new(
        targets
            .iter()
            .map(|t| (endpoint.path(t), t.token.clone()))
            .collect(),
    );
    let pick = move |rng: &mut Rng| {
        let (path, token) = &requests[(rng.next() % requests.len() as u64) as usize];
        (path.clone(), Some(token.clone()))
    };
    if !settings.warmup.is_zero() {
        drive(client, base, settings, settings.warmup, pick.clone()).await;
    }
    drive(client, base, settings, settings.duration, pick).await
}

/// `GET /api/v1/health`: the router, the pool and one `SELECT 1`, no session.
pub async fn run_health(client: &reqwest::Client, base: &str, settings: &Settings) -> Outcome {
    let pick = |_: &mut Rng| ("/api/v1/health".to_string(), None);
    if !settings.warmup.is_zero() {
        drive(client, base, settings, settings.warmup, pick).await;
    }
    drive(client, base, settings, settings.duration, pick).await
}
