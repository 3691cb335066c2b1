//! The revocation contract, run against the in-process store and the
//! Redis-backed one (a single server, and a three-master Redis Cluster of
//! the test's own): a revoked session (and only it) is revoked until its
//! TTL passes; stores sharing a Redis prefix see each other's revocations;
//! `remember` stays in process; a store whose Redis dies still answers
//! from what it knows. Redis tests use a unique key prefix, deleted
//! afterwards.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on what it did not expect"
)]

mod support;

use std::time::Duration;

use emporium_cache::Revocations;
use emporium_domain::ports::RevocationStore;
use support::{clear, connect, redis_url, unique_prefix, Cluster, Throwaway};
use uuid::Uuid;

async fn revoked_until_the_ttl_passes(store: &Revocations) {
    let (a, b, short) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    assert!(!store.is_revoked(a).await);
    store.revoke(a, Duration::from_secs(60)).await;
    store.revoke(short, Duration::from_millis(300)).await;
    assert!(store.is_revoked(a).await);
    assert!(store.is_revoked(short).await);
    assert!(!store.is_revoked(b).await);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!store.is_revoked(short).await);
    assert!(store.is_revoked(a).await);
}

async fn redis_key(urls: &str, prefix: &str, id: Uuid) -> (bool, i64) {
    let mut conn = connect(urls).await;
    let key = format!("{prefix}revoked:{id}");
    redis::pipe()
        .exists(&key)
        .pttl(&key)
        .query_async(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn memory_revocations_honour_the_contract() {
    let store = Revocations::memory();
    assert_eq!(store.kind(), "memory");
    revoked_until_the_ttl_passes(&store).await;
}

#[tokio::test]
async fn redis_revocations_honour_the_contract() {
    redis_contract(&redis_url()).await;
}

async fn redis_contract(urls: &str) {
    let prefix = unique_prefix();
    let store = Revocations::redis(connect(urls).await, &prefix);
    assert_eq!(store.kind(), "redis");
    revoked_until_the_ttl_passes(&store).await;
    clear(urls, &prefix).await;
}

#[tokio::test]
async fn stores_sharing_a_redis_prefix_see_each_others_revocations() {
    sharing_a_prefix_shares_revocations(&redis_url()).await;
}

async fn sharing_a_prefix_shares_revocations(urls: &str) {
    let prefix = unique_prefix();
    let a = Revocations::redis(connect(urls).await, &prefix);
    let b = Revocations::redis(connect(urls).await, &prefix);
    let (id, short, other) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    a.revoke(id, Duration::from_secs(60)).await;
    a.revoke(short, Duration::from_millis(300)).await;
    let (exists, ttl) = redis_key(urls, &prefix, id).await;
    assert!(exists);
    assert!(ttl > 0 && ttl <= 60_000, "{ttl}");
    assert!(b.is_revoked(id).await);
    assert!(b.is_revoked(short).await);
    assert!(!b.is_revoked(other).await);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!b.is_revoked(short).await);
    assert!(!a.is_revoked(short).await);
    assert!(b.is_revoked(id).await);

    let elsewhere = Revocations::redis(connect(urls).await, &unique_prefix());
    assert!(!elsewhere.is_revoked(id).await);
    clear(urls, &prefix).await;
}

#[tokio::test]
async fn remember_is_local_only() {
    remember_stays_in_process(&redis_url()).await;
}

async fn remember_stays_in_process(urls: &str) {
    let prefix = unique_prefix();
    let a = Revocations::redis(connect(urls).await, &prefix);
    let b = Revocations::redis(connect(urls).await, &prefix);
    let id = Uuid::now_v7();
    a.remember(id, Duration::from_secs(60)).await;
    assert!(a.is_revoked(id).await);
    assert!(!b.is_revoked(id).await);
    assert!(!redis_key(urls, &prefix, id).await.0);

    let memory = Revocations::memory();
    memory.remember(id, Duration::from_millis(300)).await;
    assert!(memory.is_revoked(id).await);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!memory.is_revoked(id).await);
    clear(urls, &prefix).await;
}

/// The Redis tests above, on a Redis Cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_revocations_honour_the_contract() {
    let cluster = Cluster::start().await;
    let urls = cluster.urls();
    redis_contract(&urls).await;
    sharing_a_prefix_shares_revocations(&urls).await;
    remember_stays_in_process(&urls).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_whose_redis_is_down_answers_from_memory() {
    let (mut server, conn) = Throwaway::start().await;
    let store = Revocations::redis(conn, "down:");
    let (before, during, learnt, never) = (
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
    );
    store.revoke(before, Duration::from_secs(60)).await;
    server.stop();

    let started = std::time::Instant::now();
    store.revoke(during, Duration::from_secs(60)).await;
    store.remember(learnt, Duration::from_secs(60)).await;
    assert!(store.is_revoked(before).await);
    assert!(store.is_revoked(during).await);
    assert!(store.is_revoked(learnt).await);
    assert!(!store.is_revoked(never).await);
    assert!(!store.is_revoked(never).await);
    assert_eq!(store.kind(), "redis");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "fallbacks are slow"
    );

    // Once Redis is back, revocations are shared again.
    server.restart().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let other = Revocations::redis(server.connect().await, "down:");
    let after = Uuid::now_v7();
    let mut back = false;
    for _ in 0..50 {
        store.revoke(after, Duration::from_secs(60)).await;
        if other.is_revoked(after).await {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "the store never went back to Redis");
}
