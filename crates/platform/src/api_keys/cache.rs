//! The per-process map from a presented key's SHA-256 to what it opens (tenant, key id,
//! scopes, expiry), so authenticating an OFREP call with a key runs no SQL once the key
//! was seen.
//!
//! * A miss looks the one row up by its exact hash in the system context (the path the
//!   flag cache loads through); nothing else about other tenants' keys is read.
//! * Unknown (or revoked) hashes are remembered too, so a client retrying a bad key does
//!   not reach the database every time; that set holds at most [`MAX_UNKNOWN`] hashes
//!   and is emptied when full, so made-up keys cannot grow memory without bound. Known
//!   keys are bounded by the rows of the table.
//! * Invalidation: `api_keys_changed` (migration 0017), heard on the flag cache's LISTEN
//!   connection ([`crate::flags::FlagCache::spawn_listener`]), empties the map in every
//!   process; so does every reconnect, since notifications sent meanwhile are lost.
//!   A lookup that raced an invalidation is answered but not cached (a generation check
//!   under the map's lock).
//! * Expiry is checked against the clock on every call, so an expired key is refused at
//!   once everywhere.
//! * `last_used_at` is written off the request path: a call marks its key at most once a
//!   minute, and [`ApiKeyCache::flush_last_used`] (run every few seconds beside the
//!   listener) writes the marked keys in one statement, which itself skips keys written
//!   in the last minute (several processes mark the same key).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};

use super::key;
use crate::db::{Db, TenantId};
use crate::error::ApiError;

/// At most this many unknown hashes are remembered.
pub const MAX_UNKNOWN: usize = 10_000;

/// `last_used_at` is written at most this often per key.
pub const LAST_USED_EVERY_SECS: i64 = 60;

type Hash = [u8; 32];

/// What a valid key opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyActor {
    pub tenant_id: TenantId,
    pub key_id: i64,
}

#[derive(Debug)]
struct Entry {
    id: i64,
    tenant_id: i64,
    scopes: Vec<String>,
    expires_at: Option<DateTime<Utc>>,
    /// Unix seconds of the last `last_used_at` mark (0: never).
    marked_at: AtomicI64,
}

#[derive(Debug, Default)]
struct Maps {
    /// Bumped by every invalidation; a lookup caches its answer only if unchanged.
    generation: u64,
    known: HashMap<Hash, Arc<Entry>>,
    unknown: HashSet<Hash>,
}

/// The process's API key map; cheap to clone (shared).
#[derive(Clone, Debug, Default)]
pub struct ApiKeyCache {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    maps: RwLock<Maps>,
    /// Key ids to write `last_used_at` for.
    used: Mutex<HashSet<i64>>,
}

/// Why a key was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Malformed, unknown, revoked or expired: 401.
    Unauthenticated,
    /// Valid, without the scope the route needs: 403.
    MissingScope,
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Unauthenticated => ApiError::Unauthenticated,
            Refusal::MissingScope => ApiError::Forbidden,
        }
    }
}

type Row = (i64, i64, Vec<String>, Option<DateTime<Utc>>);

impl ApiKeyCache {
    /// The tenant and key behind `token` if it is a live key holding `scope`. No SQL when
    /// the key's hash is in the map (known or unknown).
    pub async fn authenticate(
        &self,
        db: &Db,
        token: &str,
        scope: &str,
    ) -> Result<ApiKeyActor, ApiError> {
        if !key::well_formed(token) {
            return Err(ApiError::Unauthenticated);
        }
        let hash = key::hash(token);
        let (cached, generation) = {
            let maps = self.inner.maps.read().expect("api key map lock");
            if maps.unknown.contains(&hash) {
                return Err(ApiError::Unauthenticated);
            }
            (maps.known.get(&hash).cloned(), maps.generation)
        };
        let entry = match cached {
            Some(entry) => entry,
            None => {
                let row = lookup(db, &hash).await?;
                self.remember(hash, generation, row)
                    .ok_or(ApiError::Unauthenticated)?
            }
        };
        self.admit(&entry, scope, Utc::now()).map_err(Into::into)
    }

    /// Caches a lookup's answer unless the map was invalidated meanwhile; the entry (if
    /// the key exists) either way.
    fn remember(&self, hash: Hash, generation: u64, row: Option<Row>) -> Option<Arc<Entry>> {
        let entry = row.map(|(id, tenant_id, scopes, expires_at)| {
            Arc::new(Entry {
                id,
                tenant_id,
                scopes,
                expires_at,
                marked_at: AtomicI64::new(0),
            })
        });
        let mut maps = self.inner.maps.write().expect("api key map lock");
        if maps.generation == generation {
            match &entry {
                Some(e) => {
                    maps.known.insert(hash, e.clone());
                }
                None => {
                    if maps.unknown.len() >= MAX_UNKNOWN {
                        maps.unknown.clear();
                    }
                    maps.unknown.insert(hash);
                }
            }
        }
        entry
    }

    /// The verdict on a cached key at `now`; marks it used (at most once a minute).
    fn admit(
        &self,
        entry: &Entry,
        scope: &str,
        now: DateTime<Utc>,
    ) -> Result<ApiKeyActor, Refusal> {
        if entry.expires_at.is_some_and(|at| at <= now) {
            return Err(Refusal::Unauthenticated);
        }
        if !entry.scopes.iter().any(|s| s == scope) {
            return Err(Refusal::MissingScope);
        }
        let secs = now.timestamp();
        let last = entry.marked_at.load(Ordering::Relaxed);
        if secs - last >= LAST_USED_EVERY_SECS
            && entry
                .marked_at
                .compare_exchange(last, secs, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.inner
                .used
                .lock()
                .expect("api key usage lock")
                .insert(entry.id);
        }
        Ok(ApiKeyActor {
            tenant_id: TenantId(entry.tenant_id),
            key_id: entry.id,
        })
    }

    /// Forgets every key (a key changed somewhere, or notifications may have been lost).
    pub fn invalidate(&self) {
        let mut maps = self.inner.maps.write().expect("api key map lock");
        maps.generation += 1;
        maps.known.clear();
        maps.unknown.clear();
    }

    /// How many hashes the map holds: (known keys, unknown hashes).
    pub fn sizes(&self) -> (usize, usize) {
        let maps = self.inner.maps.read().expect("api key map lock");
        (maps.known.len(), maps.unknown.len())
    }

    /// Writes `last_used_at` for the keys used since the last flush (one statement;
    /// skips keys another process wrote within the minute). On failure the ids are
    /// marked again for the next flush.
    pub async fn flush_last_used(&self, db: &Db) -> Result<u64, sqlx::Error> {
        let ids: Vec<i64> = {
            let mut used = self.inner.used.lock().expect("api key usage lock");
            used.drain().collect()
        };
        if ids.is_empty() {
            return Ok(0);
        }
        let result = async {
            let mut sys = db.system().await?;
            let n = sqlx::query(
                "UPDATE api_keys SET last_used_at = now()
                  WHERE id = ANY($1)
                    AND (last_used_at IS NULL OR last_used_at <= now() - make_interval(secs => $2))",
            )
            .bind(&ids)
            .bind(LAST_USED_EVERY_SECS as f64)
            .execute(&mut *sys)
            .await?
            .rows_affected();
            sys.commit().await?;
            Ok(n)
        }
        .await;
        if result.is_err() {
            self.inner
                .used
                .lock()
                .expect("api key usage lock")
                .extend(ids);
        }
        result
    }
}

/// The live (not revoked) key of this exact hash, in the system context: one row or none.
async fn lookup(db: &Db, hash: &Hash) -> Result<Option<Row>, sqlx::Error> {
    let mut sys = db.system().await?;
    let row = sqlx::query_as(
        "SELECT id, tenant_id, scopes, expires_at FROM api_keys
          WHERE secret_sha256 = $1 AND revoked_at IS NULL",
    )
    .bind(&hash[..])
    .fetch_optional(&mut *sys)
    .await?;
    sys.commit().await?;
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(scopes: &[&str], expires_at: Option<DateTime<Utc>>) -> Row {
        (
            7,
            3,
            scopes.iter().map(|s| s.to_string()).collect(),
            expires_at,
        )
    }

    #[test]
    fn scopes_expiry_and_the_usage_mark() {
        let cache = ApiKeyCache::default();
        let now = Utc::now();
        let e = cache
            .remember([1; 32], 0, Some(entry(&["flags:evaluate"], None)))
            .unwrap();
        assert_eq!(
            cache.admit(&e, "flags:evaluate", now),
            Ok(ApiKeyActor {
                tenant_id: TenantId(3),
                key_id: 7
            })
        );
        assert_eq!(
            cache.admit(&e, "roster:read", now),
            Err(Refusal::MissingScope)
        );
        // Marked once, not again within the minute, again after it.
        assert_eq!(cache.inner.used.lock().unwrap().len(), 1);
        cache.inner.used.lock().unwrap().clear();
        cache
            .admit(&e, "flags:evaluate", now + chrono::Duration::seconds(59))
            .unwrap();
        assert!(cache.inner.used.lock().unwrap().is_empty());
        cache
            .admit(&e, "flags:evaluate", now + chrono::Duration::seconds(60))
            .unwrap();
        assert_eq!(cache.inner.used.lock().unwrap().len(), 1);

        let expiring = cache
            .remember(
                [2; 32],
                0,
                Some(entry(
                    &["flags:evaluate"],
                    Some(now + chrono::Duration::seconds(1)),
                )),
            )
            .unwrap();
        assert!(cache.admit(&expiring, "flags:evaluate", now).is_ok());
        assert_eq!(
            cache.admit(
                &expiring,
                "flags:evaluate",
                now + chrono::Duration::seconds(1)
            ),
            Err(Refusal::Unauthenticated)
        );
    }

    #[test]
    fn a_lookup_that_raced_an_invalidation_is_not_cached() {
        let cache = ApiKeyCache::default();
        cache.remember([1; 32], 0, Some(entry(&["flags:evaluate"], None)));
        cache.remember([2; 32], 0, None);
        assert_eq!(cache.sizes(), (1, 1));
        cache.invalidate();
        assert_eq!(cache.sizes(), (0, 0));
        // Read generation 0 before the invalidation, answered after it.
        let e = cache.remember([3; 32], 0, Some(entry(&["flags:evaluate"], None)));
        assert!(e.is_some(), "the caller still gets its answer");
        cache.remember([4; 32], 0, None);
        assert_eq!(cache.sizes(), (0, 0));
        cache.remember([3; 32], 1, Some(entry(&["flags:evaluate"], None)));
        assert_eq!(cache.sizes(), (1, 0));
    }

    #[test]
    fn unknown_hashes_never_exceed_the_bound() {
        let cache = ApiKeyCache::default();
        for i in 0..(MAX_UNKNOWN + 10) {
            let mut h = [0u8; 32];
            h[..8].copy_from_slice(&(i as u64).to_le_bytes());
            cache.remember(h, 0, None);
            assert!(cache.sizes().1 <= MAX_UNKNOWN);
        }
        assert_eq!(cache.sizes().1, 10);
    }
}
