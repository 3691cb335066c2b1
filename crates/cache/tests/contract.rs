//! The cache contract, run against every adapter: what is put is got back
//! until its TTL passes; keys do not leak between caches with different
//! prefixes. Redis tests use `EMPORIUM_TEST_REDIS_URL` (default
//! `redis://127.0.0.1:6379`) and a unique key prefix, deleted afterwards.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on what it did not expect"
)]

use std::time::Duration;

use bytes::Bytes;
use emporium_cache::{AnyCache, MemoryCache, RedisCache};
use emporium_domain::ports::Cache;

fn redis_url() -> String {
    std::env::var("EMPORIUM_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

async fn redis(prefix: &str) -> RedisCache {
    RedisCache::connect(&redis_url(), prefix)
        .await
        .expect("Redis must be running for the cache contract tests")
}

async fn put_then_get_round_trips(cache: &AnyCache) {
    assert_eq!(cache.get("k1").await, None);
    cache
        .put("k1", Bytes::from_static(b"hello"), Duration::from_secs(60))
        .await;
    assert_eq!(cache.get("k1").await, Some(Bytes::from_static(b"hello")));
    cache
        .put("k1", Bytes::from_static(b"again"), Duration::from_secs(60))
        .await;
    assert_eq!(cache.get("k1").await, Some(Bytes::from_static(b"again")));
    assert_eq!(cache.get("k2").await, None);
    assert!(cache.ping().await.is_ok());
}

async fn entries_expire_after_their_ttl(cache: &AnyCache) {
    cache
        .put("short", Bytes::from_static(b"x"), Duration::from_secs(1))
        .await;
    cache
        .put("long", Bytes::from_static(b"y"), Duration::from_secs(60))
        .await;
    assert!(cache.get("short").await.is_some());
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(cache.get("short").await, None);
    assert!(cache.get("long").await.is_some());
}

#[tokio::test]
async fn memory_cache_honours_the_contract() {
    let cache = AnyCache::Memory(MemoryCache::new(1 << 20));
    put_then_get_round_trips(&cache).await;
    entries_expire_after_their_ttl(&cache).await;
}

#[tokio::test]
async fn redis_cache_honours_the_contract() {
    let prefix = format!("emporium-test:{}:", uuid::Uuid::now_v7());
    let r = redis(&prefix).await;
    let cache = AnyCache::Redis(r.clone());
    put_then_get_round_trips(&cache).await;
    entries_expire_after_their_ttl(&cache).await;
    r.clear().await.unwrap();
    assert_eq!(cache.get("long").await, None);
}

#[tokio::test]
async fn redis_prefixes_keep_caches_apart() {
    let a = redis(&format!("emporium-test:{}:", uuid::Uuid::now_v7())).await;
    let b = redis(&format!("emporium-test:{}:", uuid::Uuid::now_v7())).await;
    AnyCache::Redis(a.clone())
        .put("k", Bytes::from_static(b"a"), Duration::from_secs(60))
        .await;
    assert_eq!(AnyCache::Redis(b.clone()).get("k").await, None);
    a.clear().await.unwrap();
    b.clear().await.unwrap();
}

#[tokio::test]
async fn none_cache_never_hits() {
    let cache = AnyCache::None;
    cache
        .put("k", Bytes::from_static(b"v"), Duration::from_secs(60))
        .await;
    assert_eq!(cache.get("k").await, None);
}

#[tokio::test]
async fn an_unreachable_redis_is_reported_not_panicked() {
    // Port 1 on loopback refuses connections.
    assert!(RedisCache::connect("redis://127.0.0.1:1", "x:")
        .await
        .is_err());
}
