//! Adapters for Emporium's shared-state ports, each in-process or Redis:
//!
//! - [`Cache`]: [`AnyCache`] — in-process (moka, the default), Redis
//!   (shared by every instance), or none;
//! - [`RateLimiter`](emporium_domain::ports::RateLimiter): [`Limiter`] —
//!   in-process, or Redis (atomic, shared) with an in-process fallback;
//! - [`RevocationStore`](emporium_domain::ports::RevocationStore):
//!   [`Revocations`] — an in-process set, optionally backed by Redis.
//!
//! A Redis failure never fails a request: errors are logged, counted
//! (`cache_errors_total`, `rate_limiter_errors_total`,
//! `revocation_errors_total`) and answered from what this instance knows
//! (a cache miss, the in-process limiter, the in-process revocation set);
//! each Redis call is bounded (500 ms), and after a failure Redis is left
//! alone for a second, so an outage does not slow every request down.
//! One [`RedisConn`] (see [`connect_redis`]) can serve all three, whether
//! it reaches a single server or a Redis Cluster.

mod conn;
pub mod limiter;
pub mod revocation;

pub use conn::{connect_redis, RedisConn};
pub use limiter::{Limiter, MemoryLimiter, RedisLimiter};
pub use revocation::Revocations;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use emporium_domain::ports::Cache;
pub use emporium_domain::CacheError;
use moka::future::Cache as Moka;
use moka::Expiry;
use redis::AsyncCommands;

/// The configured cache; a fixed set of backends, so an enum.
#[derive(Clone)]
pub enum AnyCache {
    Memory(MemoryCache),
    Redis(RedisCache),
    None,
}

impl std::fmt::Debug for AnyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind())
    }
}

/// Entries expire after the TTL they were stored with.
struct PerEntryTtl;

impl Expiry<String, (Bytes, Duration)> for PerEntryTtl {
    fn expire_after_create(
        &self,
        _: &String,
        v: &(Bytes, Duration),
        _: std::time::Instant,
    ) -> Option<Duration> {
        Some(v.1)
    }
}

/// An in-process cache bounded by total bytes.
#[derive(Clone)]
pub struct MemoryCache {
    inner: Moka<String, (Bytes, Duration)>,
}

impl MemoryCache {
    pub fn new(max_bytes: u64) -> MemoryCache {
        let inner = Moka::builder()
            .max_capacity(max_bytes)
            .weigher(|k: &String, v: &(Bytes, Duration)| {
                u32::try_from(k.len() + v.0.len()).unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .build();
        MemoryCache { inner }
    }
}

/// A Redis cache; keys are prefixed so that several shops (or test runs)
/// can share one Redis. Each entry is one key (`{prefix}{key}`), so a
/// cluster spreads entries over all its masters.
#[derive(Clone)]
pub struct RedisCache {
    conn: RedisConn,
    prefix: String,
    breaker: Arc<Breaker>,
}

impl RedisCache {
    /// Connects (and checks the connection) to the Redis that `urls` names:
    /// one URL, or several comma-separated seed nodes of a cluster (see
    /// [`connect_redis`]).
    pub async fn connect(urls: &str, prefix: &str) -> Result<RedisCache, CacheError> {
        Ok(RedisCache::new(connect_redis(urls).await?, prefix))
    }

    /// A cache on an existing connection (shared with other adapters).
    pub fn new(conn: RedisConn, prefix: &str) -> RedisCache {
        RedisCache {
            conn,
            prefix: prefix.to_owned(),
            breaker: Arc::default(),
        }
    }

    /// This cache's connection, to share with [`RedisLimiter`] and
    /// [`Revocations`]; clones are cheap and share its connections.
    pub fn connection(&self) -> RedisConn {
        self.conn.clone()
    }

    /// The key prefix this cache was made with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Deletes every key under this cache's prefix (tests and operators),
    /// and with it the limiter's and revocation store's keys under the
    /// same prefix. Scans every master of a cluster; fails while one is
    /// down.
    pub async fn clear(&self) -> Result<(), CacheError> {
        let mut conn = self.conn.clone();
        let pattern = format!("{}*", conn::glob_escape(&self.prefix));
        let keys = conn.keys_matching(&pattern).await.map_err(redis_error)?;
        // One DEL per batch; a cluster splits each by slot.
        for batch in keys.chunks(500) {
            conn.del::<_, ()>(batch).await.map_err(redis_error)?;
        }
        Ok(())
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Redis, unless it failed just now.
    fn available(&self) -> bool {
        self.breaker.closed()
    }

    fn failed(&self, op: &'static str, error: &CacheError) {
        self.breaker.trip();
        metrics::counter!("cache_errors_total", "cache" => "redis").increment(1);
        tracing::warn!(%error, op, "redis cache failed; acting as an empty cache");
    }

    /// The entry for `key`; a miss when Redis fails or failed just now.
    async fn get(&self, key: &str) -> Option<Bytes> {
        if !self.available() {
            return None;
        }
        let mut conn = self.conn.clone();
        match bounded(conn.get::<_, Option<Vec<u8>>>(self.key(key))).await {
            Ok(v) => v.map(Bytes::from),
            Err(e) => {
                self.failed("get", &e);
                None
            }
        }
    }

    /// Stores `value` for `ttl` (at least a second); skipped while Redis
    /// fails.
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) {
        if !self.available() {
            return;
        }
        let mut conn = self.conn.clone();
        let secs = ttl.as_secs().max(1);
        if let Err(e) = bounded(conn.set_ex::<_, _, ()>(self.key(key), value, secs)).await {
            self.failed("put", &e);
        }
    }
}

/// A Redis error as the ports report it.
pub(crate) fn redis_error(e: redis::RedisError) -> CacheError {
    CacheError::Redis(e.to_string())
}

fn record(kind: &'static str, hit: bool) {
    let outcome = if hit { "hit" } else { "miss" };
    metrics::counter!("cache_requests_total", "cache" => kind, "outcome" => outcome).increment(1);
}

impl Cache for AnyCache {
    async fn get(&self, key: &str) -> Option<Bytes> {
        let found = match self {
            AnyCache::Memory(m) => m.inner.get(key).await.map(|(b, _)| b),
            AnyCache::Redis(r) => r.get(key).await,
            AnyCache::None => return None,
        };
        record(self.kind(), found.is_some());
        found
    }

    async fn put(&self, key: &str, value: Bytes, ttl: Duration) {
        match self {
            AnyCache::Memory(m) => m.inner.insert(key.to_owned(), (value, ttl)).await,
            AnyCache::Redis(r) => r.put(key, &value, ttl).await,
            AnyCache::None => {}
        }
    }

    async fn get_or_compute<E, F>(&self, key: &str, ttl: Duration, compute: F) -> Result<Bytes, E>
    where
        E: Clone + Send + Sync + 'static,
        F: std::future::Future<Output = Result<Bytes, E>> + Send,
    {
        match self {
            AnyCache::Memory(m) => {
                let entry = m
                    .inner
                    .entry(key.to_owned())
                    .or_try_insert_with(async move { compute.await.map(|b| (b, ttl)) })
                    .await
                    .map_err(|e| (*e).clone())?;
                record("memory", !entry.is_fresh());
                Ok(entry.into_value().0)
            }
            AnyCache::Redis(_) => {
                if let Some(hit) = self.get(key).await {
                    return Ok(hit);
                }
                let value = compute.await?;
                self.put(key, value.clone(), ttl).await;
                Ok(value)
            }
            AnyCache::None => compute.await,
        }
    }

    async fn ping(&self) -> Result<(), CacheError> {
        match self {
            // Not behind the breaker: readiness reports what Redis says
            // now. A cluster answers only when every master does.
            AnyCache::Redis(r) => {
                let mut conn = r.conn.clone();
                bounded(redis::cmd("PING").query_async::<String>(&mut conn))
                    .await
                    .map(|_| ())
            }
            _ => Ok(()),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            AnyCache::Memory(_) => "memory",
            AnyCache::Redis(_) => "redis",
            AnyCache::None => "none",
        }
    }
}

/// The longest one Redis call may take before an adapter gives up on it
/// and answers from memory, whatever the connection's own timeouts.
pub(crate) const REDIS_CALL_TIMEOUT: Duration = Duration::from_millis(500);

/// How long adapters with an in-process fallback leave Redis alone after
/// it failed, so an outage costs one slow call per second, not every call
/// waiting on the connection's reconnects.
pub(crate) const REDIS_COOLDOWN: Duration = Duration::from_secs(1);

/// A circuit breaker: open (skip Redis) for [`REDIS_COOLDOWN`] after each
/// failure, then closed again (the next call tries Redis).
#[derive(Debug)]
pub(crate) struct Breaker {
    base: std::time::Instant,
    /// Milliseconds after `base` until which Redis is skipped.
    open_until: std::sync::atomic::AtomicU64,
}

impl Default for Breaker {
    fn default() -> Breaker {
        Breaker {
            base: std::time::Instant::now(),
            open_until: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl Breaker {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether Redis may be tried now.
    pub(crate) fn closed(&self) -> bool {
        self.now_ms() >= self.open_until.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Records a failure: Redis is skipped for the cooldown.
    pub(crate) fn trip(&self) {
        let until = self
            .now_ms()
            .saturating_add(u64::try_from(REDIS_COOLDOWN.as_millis()).unwrap_or(u64::MAX));
        self.open_until
            .store(until, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Runs one Redis call within [`REDIS_CALL_TIMEOUT`].
pub(crate) async fn bounded<T>(
    call: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, CacheError> {
    match tokio::time::timeout(REDIS_CALL_TIMEOUT, call).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(redis_error(e)),
        Err(_) => Err(CacheError::TimedOut),
    }
}
