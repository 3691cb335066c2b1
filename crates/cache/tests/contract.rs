//! The cache contract, run against every adapter: what is put is got back
//! until its TTL passes; keys do not leak between caches with different
//! prefixes; `clear` removes a prefix's keys and no others. Redis tests
//! use `EMPORIUM_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`), then
//! a three-master Redis Cluster of the test's own, with a unique key
//! prefix, deleted afterwards.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on what it did not expect"
)]

mod support;

use std::time::Duration;

use bytes::Bytes;
use emporium_cache::{AnyCache, CacheError, MemoryCache, RedisCache};
use emporium_domain::ports::Cache;
use support::{redis_url, unique_prefix, Cluster};

async fn redis(urls: &str, prefix: &str) -> RedisCache {
    RedisCache::connect(urls, prefix)
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

async fn redis_contract(urls: &str) {
    let r = redis(urls, &unique_prefix()).await;
    let cache = AnyCache::Redis(r.clone());
    put_then_get_round_trips(&cache).await;
    entries_expire_after_their_ttl(&cache).await;
    r.clear().await.unwrap();
    assert_eq!(cache.get("long").await, None);
}

async fn prefixes_keep_caches_apart(urls: &str) {
    let a = redis(urls, &unique_prefix()).await;
    let b = redis(urls, &unique_prefix()).await;
    AnyCache::Redis(a.clone())
        .put("k", Bytes::from_static(b"a"), Duration::from_secs(60))
        .await;
    assert_eq!(AnyCache::Redis(b.clone()).get("k").await, None);
    a.clear().await.unwrap();
    b.clear().await.unwrap();
}

/// Many keys (on a cluster, spread over every master) are all cleared;
/// another prefix's keys, and a prefix with glob characters, are left.
async fn clear_takes_the_prefix_and_only_it(urls: &str) {
    let base = unique_prefix();
    let a = redis(urls, &format!("{base}a*:")).await;
    let other = redis(urls, &format!("{base}ab:")).await;
    let ttl = Duration::from_secs(60);
    for i in 0..50 {
        let key = format!("k{i}");
        AnyCache::Redis(a.clone())
            .put(&key, Bytes::from_static(b"x"), ttl)
            .await;
    }
    AnyCache::Redis(other.clone())
        .put("k0", Bytes::from_static(b"y"), ttl)
        .await;
    a.clear().await.unwrap();
    for i in 0..50 {
        assert_eq!(AnyCache::Redis(a.clone()).get(&format!("k{i}")).await, None);
    }
    assert!(AnyCache::Redis(other.clone()).get("k0").await.is_some());
    other.clear().await.unwrap();
}

#[tokio::test]
async fn redis_cache_honours_the_contract() {
    redis_contract(&redis_url()).await;
}

#[tokio::test]
async fn redis_prefixes_keep_caches_apart() {
    prefixes_keep_caches_apart(&redis_url()).await;
}

#[tokio::test]
async fn redis_clear_takes_the_prefix_and_only_it() {
    clear_takes_the_prefix_and_only_it(&redis_url()).await;
}

/// The Redis tests above, on a Redis Cluster; and one URL naming a
/// cluster node is refused rather than half working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_cache_honours_the_contract() {
    let cluster = Cluster::start().await;
    let urls = cluster.urls();
    redis_contract(&urls).await;
    prefixes_keep_caches_apart(&urls).await;
    clear_takes_the_prefix_and_only_it(&urls).await;
    let one_node = urls.split(',').next().unwrap();
    assert!(matches!(
        RedisCache::connect(one_node, "x:").await,
        Err(CacheError::BadUrl(_))
    ));
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
