//! Cache adapters for Emporium's [`Cache`] port: in-process (moka, the
//! default), Redis (shared by every instance), or none.
//!
//! A cache failure never fails a request: Redis errors are logged, counted
//! (`cache_errors_total`) and answered as a miss.

use std::time::Duration;

use bytes::Bytes;
use emporium_domain::ports::Cache;
use moka::future::Cache as Moka;
use moka::Expiry;
use redis::aio::ConnectionManager;
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
/// can share one Redis.
#[derive(Clone)]
pub struct RedisCache {
    conn: ConnectionManager,
    prefix: String,
}

impl RedisCache {
    /// Connects (and checks the connection) to `url`.
    pub async fn connect(url: &str, prefix: &str) -> Result<RedisCache, String> {
        let client = redis::Client::open(url).map_err(|e| format!("REDIS_URL: {e}"))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(2))
            .set_response_timeout(Duration::from_millis(500))
            .set_number_of_retries(1);
        let conn = tokio::time::timeout(
            Duration::from_secs(5),
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| "connecting to Redis timed out".to_string())?
        .map_err(|e| format!("connecting to Redis: {e}"))?;
        Ok(RedisCache {
            conn,
            prefix: prefix.to_owned(),
        })
    }

    /// Deletes every key under this cache's prefix (tests and operators).
    pub async fn clear(&self) -> Result<(), String> {
        let mut conn = self.conn.clone();
        let keys: Vec<String> = conn
            .keys(format!("{}*", self.prefix))
            .await
            .map_err(|e| e.to_string())?;
        if !keys.is_empty() {
            conn.del::<_, ()>(keys).await.map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

fn record(kind: &'static str, hit: bool) {
    let outcome = if hit { "hit" } else { "miss" };
    metrics::counter!("cache_requests_total", "cache" => kind, "outcome" => outcome).increment(1);
}

impl Cache for AnyCache {
    async fn get(&self, key: &str) -> Option<Bytes> {
        let found = match self {
            AnyCache::Memory(m) => m.inner.get(key).await.map(|(b, _)| b),
            AnyCache::Redis(r) => {
                let mut conn = r.conn.clone();
                match conn
                    .get::<_, Option<Vec<u8>>>(format!("{}{key}", r.prefix))
                    .await
                {
                    Ok(v) => v.map(Bytes::from),
                    Err(e) => {
                        metrics::counter!("cache_errors_total", "cache" => "redis").increment(1);
                        tracing::warn!(error = %e, "redis cache read failed; treating as a miss");
                        None
                    }
                }
            }
            AnyCache::None => return None,
        };
        record(self.kind(), found.is_some());
        found
    }

    async fn put(&self, key: &str, value: Bytes, ttl: Duration) {
        match self {
            AnyCache::Memory(m) => m.inner.insert(key.to_owned(), (value, ttl)).await,
            AnyCache::Redis(r) => {
                let mut conn = r.conn.clone();
                let secs = ttl.as_secs().max(1);
                if let Err(e) = conn
                    .set_ex::<_, _, ()>(format!("{}{key}", r.prefix), value.as_ref(), secs)
                    .await
                {
                    metrics::counter!("cache_errors_total", "cache" => "redis").increment(1);
                    tracing::warn!(error = %e, "redis cache write failed");
                }
            }
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

    async fn ping(&self) -> Result<(), String> {
        match self {
            AnyCache::Redis(r) => {
                let mut conn = r.conn.clone();
                redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("redis: {e}"))
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
