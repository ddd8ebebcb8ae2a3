//! Where GCRA state lives: in this process, or in Redis so that several API processes
//! enforce one limit together. The Redis store runs the whole step in one Lua script on
//! the server's clock (`TIME`), so it is atomic across replicas and needs no module; when
//! Redis cannot be reached it fails open, warns at most every ten seconds, and reports
//! itself unhealthy until a call succeeds again.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::policy::{gcra, Quota};

/// The Lua twin of [`gcra`]: KEYS[1] the bucket, ARGV[1] the emission interval and
/// ARGV[2] the burst, both in microseconds. Answers `{allowed, reset_us, retry_us}`.
const GCRA_LUA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local ahead = new_tat - now
if ahead > burst then
  return {0, tat - now, ahead - burst}
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil(ahead / 1000) + 1)
return {1, ahead, 0}
";

/// The answer of one step, as [`gcra`] gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub allowed: bool,
    pub reset_us: u64,
    pub retry_us: u64,
}

/// What monitoring can read about the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreHealth {
    /// `memory` or `redis`.
    pub backend: &'static str,
    pub healthy: bool,
    pub last_error: Option<String>,
}

pub(super) enum Store {
    Memory(MemoryStore),
    Redis(RedisStore),
}

impl Store {
    /// `None` when the store could not answer: the caller fails open.
    pub(super) async fn step(&self, key: &str, quota: Quota) -> Option<Outcome> {
        match self {
            Store::Memory(m) => Some(m.step(key, quota)),
            Store::Redis(r) => r.step(key, quota).await,
        }
    }

    pub(super) fn health(&self) -> StoreHealth {
        match self {
            Store::Memory(_) => StoreHealth {
                backend: "memory",
                healthy: true,
                last_error: None,
            },
            Store::Redis(r) => r.health(),
        }
    }

    pub(super) fn redis_connection(&self) -> Option<ConnectionManager> {
        match self {
            Store::Memory(_) => None,
            Store::Redis(r) => Some(r.conn.clone()),
        }
    }

    /// For the health report: `None` without Redis; else Redis's used memory in bytes
    /// (`INFO memory`), or why it could not be read.
    pub(super) async fn redis_used_memory(&self) -> Option<Result<u64, String>> {
        match self {
            Store::Memory(_) => None,
            Store::Redis(r) => Some(r.used_memory().await),
        }
    }
}

const SHARDS: usize = 16;
/// A shard holding more buckets than this drops the ones that are whole again.
const SWEEP_AT: usize = 4096;

/// Buckets in this process: sharded maps of theoretical arrival times.
pub(super) struct MemoryStore {
    start: Instant,
    hasher: RandomState,
    shards: Vec<Mutex<HashMap<String, u64>>>,
}

impl MemoryStore {
    pub(super) fn new() -> Self {
        Self {
            start: Instant::now(),
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn step(&self, key: &str, quota: Quota) -> Outcome {
        let now = u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX);
        let shard = &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS];
        let mut map = shard.lock().unwrap_or_else(|e| e.into_inner());
        let step = gcra(map.get(key).copied(), now, quota);
        if step.allowed {
            if map.len() >= SWEEP_AT && !map.contains_key(key) {
                map.retain(|_, tat| *tat > now);
            }
            map.insert(key.to_string(), step.tat_us);
        }
        Outcome {
            allowed: step.allowed,
            reset_us: step.reset_us,
            retry_us: step.retry_us,
        }
    }
}

/// After a failure, Redis is left alone this long (requests pass unchecked).
const BACKOFF: Duration = Duration::from_secs(1);
/// At most one warning per this interval while Redis is failing.
const WARN_EVERY: Duration = Duration::from_secs(10);

pub(super) struct RedisStore {
    conn: ConnectionManager,
    script: redis::Script,
    timeout: Duration,
    start: Instant,
    /// Milliseconds since `start` before which Redis is not tried again.
    skip_until_ms: AtomicU64,
    /// Milliseconds since `start` of the last warning, plus one (0: never).
    warned_ms: AtomicU64,
    healthy: AtomicBool,
    last_error: Mutex<Option<String>>,
}

impl RedisStore {
    /// Connects lazily: a Redis that is down at start only means failing open until it
    /// is up. Must be called inside the Tokio runtime.
    pub(super) fn new(url: &str, timeout: Duration) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| e.to_string())?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn =
            ConnectionManager::new_lazy_with_config(client, config).map_err(|e| e.to_string())?;
        Ok(Self {
            conn,
            script: redis::Script::new(GCRA_LUA),
            timeout,
            start: Instant::now(),
            skip_until_ms: AtomicU64::new(0),
            warned_ms: AtomicU64::new(0),
            healthy: AtomicBool::new(true),
            last_error: Mutex::new(None),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    async fn step(&self, key: &str, quota: Quota) -> Option<Outcome> {
        if self.now_ms() < self.skip_until_ms.load(Ordering::Relaxed) {
            return None;
        }
        let mut conn = self.conn.clone();
        let mut call = self.script.key(format!("k12:rl:{key}"));
        call.arg(quota.interval_us()).arg(quota.burst_us());
        let answer =
            tokio::time::timeout(self.timeout, call.invoke_async::<(u8, u64, u64)>(&mut conn))
                .await;
        match answer {
            Ok(Ok((allowed, reset_us, retry_us))) => {
                if !self.healthy.swap(true, Ordering::Relaxed) {
                    tracing::info!("rate limiter: Redis answers again");
                }
                Some(Outcome {
                    allowed: allowed == 1,
                    reset_us,
                    retry_us,
                })
            }
            Ok(Err(e)) => {
                self.failed(e.to_string());
                None
            }
            Err(_) => {
                self.failed(format!("no answer within {} ms", self.timeout.as_millis()));
                None
            }
        }
    }

    fn failed(&self, error: String) {
        let now = self.now_ms();
        self.skip_until_ms
            .store(now + BACKOFF.as_millis() as u64, Ordering::Relaxed);
        self.healthy.store(false, Ordering::Relaxed);
        let warned = self.warned_ms.load(Ordering::Relaxed);
        if (warned == 0 || now + 1 >= warned + WARN_EVERY.as_millis() as u64)
            && self
                .warned_ms
                .compare_exchange(warned, now + 1, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(error = %error, "rate limiter: Redis unavailable; requests pass unchecked");
        }
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
    }

    /// `INFO memory`'s `used_memory`, within the health check's own timeout (the
    /// caller's), on the shared connection.
    async fn used_memory(&self) -> Result<u64, String> {
        let mut conn = self.conn.clone();
        let info: String = redis::cmd("INFO")
            .arg("memory")
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        info.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| "INFO memory has no used_memory".to_owned())
    }

    fn health(&self) -> StoreHealth {
        StoreHealth {
            backend: "redis",
            healthy: self.healthy.load(Ordering::Relaxed),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }
}
