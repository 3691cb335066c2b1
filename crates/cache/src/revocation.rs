//! Revoked sessions ([`RevocationStore`]).
//!
//! Guarantees: a session revoked here is reported revoked by this
//! instance until its TTL passes (an in-process set with per-entry expiry
//! that Redis failures cannot touch); with Redis, every instance sharing
//! the key prefix sees it too. A Redis failure never fails a call: it is
//! logged, counted (`revocation_errors_total`) and answered from the
//! in-process set, which [`Revocations::remember`] also fills from other
//! sources (the binary polls the database), so logouts elsewhere still
//! reach an instance while Redis is down or absent. For a second after a
//! failure Redis is not tried at all, so an outage does not slow every
//! request down by a timeout.
//!
//! Each revocation is one key (`SET … PX`, `EXISTS`), with no pub/sub or
//! streams, so a Redis Cluster needs nothing special: each key lives on
//! the master that holds its slot.

use std::time::Duration;

use emporium_domain::ports::RevocationStore;
use moka::future::Cache as Moka;
use moka::Expiry;
use uuid::Uuid;

use std::sync::Arc;

use crate::{bounded, Breaker, CacheError, RedisConn};

/// How many revoked sessions one instance keeps in memory. Entries live
/// only as long as an access token, so this is far above any real load.
const MAX_LOCAL: u64 = 1 << 20;

/// Each entry lives for the TTL it was stored with; storing it again keeps
/// the later of the two expiries.
struct RevocationTtl;

impl Expiry<Uuid, Duration> for RevocationTtl {
    fn expire_after_create(
        &self,
        _: &Uuid,
        ttl: &Duration,
        _: std::time::Instant,
    ) -> Option<Duration> {
        Some(*ttl)
    }

    fn expire_after_update(
        &self,
        _: &Uuid,
        ttl: &Duration,
        _: std::time::Instant,
        left: Option<Duration>,
    ) -> Option<Duration> {
        Some(left.map_or(*ttl, |left| left.max(*ttl)))
    }
}

#[derive(Clone)]
struct Shared {
    conn: RedisConn,
    prefix: String,
    breaker: Arc<Breaker>,
}

impl Shared {
    fn key(&self, session_id: Uuid) -> String {
        format!("{}revoked:{session_id}", self.prefix)
    }

    fn failed(&self, op: &'static str, error: &CacheError) {
        self.breaker.trip();
        metrics::counter!("revocation_errors_total", "op" => op).increment(1);
        tracing::warn!(
            %error,
            op,
            "redis revocation store failed; answering from memory"
        );
    }
}

/// The revocation store the app uses: an in-process set, optionally
/// backed by Redis (keys `{prefix}revoked:{uuid}`). Clones share the set.
#[derive(Clone)]
pub struct Revocations {
    local: Moka<Uuid, Duration>,
    redis: Option<Shared>,
}

impl std::fmt::Debug for Revocations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind())
    }
}

impl Revocations {
    /// Revocations known to this process only.
    pub fn memory() -> Revocations {
        Revocations {
            local: Moka::builder()
                .max_capacity(MAX_LOCAL)
                .expire_after(RevocationTtl)
                .build(),
            redis: None,
        }
    }

    /// Revocations shared through Redis (see [`crate::connect_redis`] and
    /// [`crate::RedisCache::connection`]), remembered in-process too.
    pub fn redis(conn: RedisConn, prefix: &str) -> Revocations {
        Revocations {
            redis: Some(Shared {
                conn,
                prefix: prefix.to_owned(),
                breaker: Arc::default(),
            }),
            ..Revocations::memory()
        }
    }

    /// Remembers `session_id` as revoked for `ttl` in this process only,
    /// for revocations learnt elsewhere (e.g. polled from the database).
    pub async fn remember(&self, session_id: Uuid, ttl: Duration) {
        if !ttl.is_zero() {
            self.local.insert(session_id, ttl).await;
        }
    }

    /// The Redis store, unless there is none or it failed just now.
    fn shared(&self) -> Option<&Shared> {
        self.redis.as_ref().filter(|r| r.breaker.closed())
    }

    /// `memory` or `redis`.
    pub fn kind(&self) -> &'static str {
        if self.redis.is_some() {
            "redis"
        } else {
            "memory"
        }
    }
}

impl RevocationStore for Revocations {
    async fn revoke(&self, session_id: Uuid, ttl: Duration) {
        self.remember(session_id, ttl).await;
        // Revocations are rare and matter to every instance: always tried.
        let Some(redis) = &self.redis else { return };
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        if ttl_ms == 0 {
            return;
        }
        let mut conn = redis.conn.clone();
        let mut set = redis::cmd("SET");
        set.arg(redis.key(session_id)).arg(1).arg("PX").arg(ttl_ms);
        if let Err(e) = bounded(set.query_async::<()>(&mut conn)).await {
            redis.failed("revoke", &e);
        }
    }

    async fn is_revoked(&self, session_id: Uuid) -> bool {
        if self.local.contains_key(&session_id) {
            return true;
        }
        let Some(redis) = self.shared() else {
            return false;
        };
        let mut conn = redis.conn.clone();
        let mut exists = redis::cmd("EXISTS");
        exists.arg(redis.key(session_id));
        match bounded(exists.query_async::<bool>(&mut conn)).await {
            Ok(found) => found,
            Err(e) => {
                redis.failed("is_revoked", &e);
                false
            }
        }
    }
}
