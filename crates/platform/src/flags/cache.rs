//! The in-process flag cache: one [`Snapshot`] of every global row and tenant override,
//! loaded once and replaced whole when a flag changes anywhere. Evaluation reads the
//! snapshot lock-free and issues no SQL.
//!
//! Invalidation across processes: a statement trigger on `feature_flags` sends
//! `NOTIFY feature_flags_changed`; [`FlagCache::spawn_listener`] keeps one `LISTEN`
//! connection per process and reloads on every notification, and after every reconnect
//! (notifications sent while disconnected are lost). LISTEN needs a session of its own,
//! which a transaction-pooling PgBouncer cannot give: [`listen_url`] picks a direct URL.
//!
//! The same connection carries `api_keys_changed` for the process's API key map
//! ([`crate::api_keys::cache`]), which it empties on that notification and on every
//! reconnect, and the same task writes the keys' `last_used_at` every few seconds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use featureflags::{GlobalRule, Snapshot};
use sqlx::postgres::PgListener;

use crate::api_keys::ApiKeyCache;
use crate::config::{DatabaseConfig, PgBouncerMode, Secret};
use crate::db::Db;

/// The channel the `feature_flags_changed` trigger notifies (migration 0014).
pub const CHANNEL: &str = "feature_flags_changed";

/// The channel the `api_keys_changed` trigger notifies (migration 0017).
pub const API_KEYS_CHANNEL: &str = "api_keys_changed";

/// How often the listener task writes the API keys' `last_used_at`.
const LAST_USED_FLUSH: Duration = Duration::from_secs(2);

/// The URL the LISTEN connection uses: `DATABASE_URL`, or with
/// `K12_DB_PGBOUNCER=transaction` (LISTEN needs a session of its own, which transaction
/// pooling does not keep) `DATABASE_OWNER_URL`, which migrations already need direct.
pub fn listen_url(config: &DatabaseConfig) -> &Secret {
    match config.pool.pgbouncer {
        PgBouncerMode::Off => &config.url,
        PgBouncerMode::Transaction => &config.owner_url,
    }
}

/// The process's flag snapshot; cheap to clone (shared).
#[derive(Clone, Debug, Default)]
pub struct FlagCache {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    snapshot: ArcSwapOption<Snapshot>,
    /// Serialises reloads, so a slower, older load never replaces a newer one.
    reload: tokio::sync::Mutex<()>,
    reloads: AtomicU64,
    /// The API key map, invalidated through the same LISTEN connection.
    api_keys: ApiKeyCache,
}

impl FlagCache {
    /// The snapshot loaded last, if any; never touches the database.
    pub fn current(&self) -> Option<Arc<Snapshot>> {
        self.inner.snapshot.load_full()
    }

    /// The snapshot, loading it on first use.
    pub async fn snapshot(&self, db: &Db) -> Result<Arc<Snapshot>, sqlx::Error> {
        match self.current() {
            Some(s) => Ok(s),
            None => self.reload(db).await,
        }
    }

    /// Loads every flag row and replaces the snapshot.
    pub async fn reload(&self, db: &Db) -> Result<Arc<Snapshot>, sqlx::Error> {
        let _one_at_a_time = self.inner.reload.lock().await;
        let snapshot = Arc::new(load(db).await?);
        self.inner.snapshot.store(Some(snapshot.clone()));
        self.inner.reloads.fetch_add(1, Ordering::Relaxed);
        Ok(snapshot)
    }

    /// The process's API key map (OFREP's other way in), kept by the same listener.
    pub fn api_keys(&self) -> &ApiKeyCache {
        &self.inner.api_keys
    }

    /// How many times the snapshot was (re)loaded.
    pub fn reloads(&self) -> u64 {
        self.inner.reloads.load(Ordering::Relaxed)
    }

    /// Whether the flag is on for the tenant, from the cached snapshot (`None` before the
    /// first load). No SQL: the hot path of `enabled?`.
    pub fn is_enabled(&self, tenant: i64, key: &str) -> Option<bool> {
        let guard = self.inner.snapshot.load();
        guard.as_ref().map(|s| s.is_enabled(tenant, key))
    }

    /// Starts the task that reloads the snapshot on every `feature_flags_changed`
    /// notification (and after every reconnect), empties the API key map on every
    /// `api_keys_changed` (and after every reconnect), and writes the keys'
    /// `last_used_at`. Stops when the handle is aborted.
    pub fn spawn_listener(&self, db: Db, url: Secret) -> tokio::task::JoinHandle<()> {
        let cache = self.clone();
        tokio::spawn(async move {
            let listen = async {
                loop {
                    if let Err(e) = cache.listen(&db, url.expose()).await {
                        // sqlx's connection errors name no password.
                        tracing::warn!(error = %e, "feature flag notifications interrupted; retrying");
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            };
            let last_used = async {
                let mut tick = tokio::time::interval(LAST_USED_FLUSH);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    if let Err(e) = cache.api_keys().flush_last_used(&db).await {
                        tracing::warn!(error = %e, "writing API keys' last use failed; retrying");
                    }
                }
            };
            tokio::join!(listen, last_used);
        })
    }

    async fn listen(&self, db: &Db, url: &str) -> Result<(), sqlx::Error> {
        let mut listener = PgListener::connect(url).await?;
        listener.listen_all([CHANNEL, API_KEYS_CHANNEL]).await?;
        // Whatever changed before we listened.
        self.api_keys().invalidate();
        self.reload(db).await?;
        loop {
            match listener.try_recv().await? {
                Some(first) => {
                    // One reload (one invalidation) covers every notification already
                    // received.
                    let (mut flags, mut keys) = (false, false);
                    let mut note = |channel: &str| match channel {
                        API_KEYS_CHANNEL => keys = true,
                        _ => flags = true,
                    };
                    note(first.channel());
                    while let Some(more) = listener.next_buffered() {
                        note(more.channel());
                    }
                    if keys {
                        self.api_keys().invalidate();
                    }
                    if flags {
                        self.reload(db).await?;
                    }
                }
                // The connection was lost and is re-established by the next call; what
                // was sent meanwhile is lost, so load again.
                None => {
                    self.api_keys().invalidate();
                    self.reload(db).await?;
                }
            }
        }
    }
}

type FlagRow = (Option<i64>, String, bool, Option<i32>);

/// Every global row and tenant override (a system transaction sees them all).
async fn load(db: &Db) -> Result<Snapshot, sqlx::Error> {
    let mut sys = db.system().await?;
    let rows: Vec<FlagRow> = sqlx::query_as(
        "SELECT tenant_id, key, enabled, (metadata ->> 'percentage')::int FROM feature_flags",
    )
    .fetch_all(&mut *sys)
    .await?;
    sys.commit().await?;
    Ok(snapshot_of(rows))
}

pub(crate) fn snapshot_of(rows: impl IntoIterator<Item = FlagRow>) -> Snapshot {
    let mut s = Snapshot::default();
    for (tenant, key, enabled, percentage) in rows {
        match tenant {
            None => s.set_global(
                key,
                GlobalRule {
                    enabled,
                    percentage: percentage.and_then(|p| u8::try_from(p).ok()),
                },
            ),
            Some(t) => s.set_override(t, key, enabled),
        }
    }
    s
}
