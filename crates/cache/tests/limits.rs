//! The rate-limiter contract, run against the in-process limiter and the
//! Redis one (a single server, and a three-master Redis Cluster of the
//! test's own): limits hold exactly (also under 200 concurrent hits),
//! `peek` never counts, `reset` forgets, `refund` takes back one hit,
//! windows end; instances sharing a Redis prefix share counts; a limiter
//! whose Redis dies keeps limiting in process. Redis tests use a unique key
//! prefix, deleted afterwards.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on what it did not expect"
)]

mod support;

use std::time::{Duration, Instant};

use emporium_cache::{Limiter, RedisLimiter};
use emporium_domain::identity::{Decision, Rule};
use emporium_domain::ports::RateLimiter;
use support::{clear, connect, redis_url, unique_prefix, Cluster, Throwaway};

fn rule(limit: u32, window: Duration) -> Rule {
    Rule { limit, window }
}

/// The Redis adapter without the fallback: any Redis error fails the test,
/// so the contract cannot pass by counting in-process.
#[derive(Clone)]
struct Strict(RedisLimiter);

impl RateLimiter for Strict {
    async fn hit(&self, key: &str, rule: Rule) -> Decision {
        self.0.hit(key, rule).await.unwrap()
    }
    async fn peek(&self, key: &str, rule: Rule) -> Decision {
        self.0.peek(key, rule).await.unwrap()
    }
    async fn reset(&self, key: &str) {
        self.0.reset(key).await.unwrap()
    }
    async fn refund(&self, key: &str) {
        self.0.refund(key).await.unwrap()
    }
}

fn assert_window(d: Decision, window: Duration) {
    assert!(d.reset_after > Duration::ZERO, "{d:?}");
    assert!(d.reset_after <= window, "{d:?}");
}

async fn limits_then_denies(l: &impl RateLimiter) {
    let window = Duration::from_secs(60);
    let r = rule(3, window);
    for remaining in [2, 1, 0] {
        let d = l.hit("login:a", r).await;
        assert!(d.allowed, "{d:?}");
        assert_eq!((d.limit, d.remaining), (3, remaining));
        assert_window(d, window);
    }
    for _ in 0..2 {
        let d = l.hit("login:a", r).await;
        assert!(!d.allowed, "{d:?}");
        assert_eq!((d.limit, d.remaining), (3, 0));
        assert_window(d, window);
    }
    let other = l.hit("login:b", r).await;
    assert!(other.allowed);
    assert_eq!(other.remaining, 2);
}

async fn peek_does_not_count(l: &impl RateLimiter) {
    let window = Duration::from_secs(60);
    let r = rule(2, window);
    let fresh = l.peek("peek", r).await;
    assert_eq!(
        fresh,
        Decision {
            allowed: true,
            limit: 2,
            remaining: 2,
            reset_after: Duration::ZERO
        }
    );
    assert_eq!(l.hit("peek", r).await.remaining, 1);
    for _ in 0..5 {
        let d = l.peek("peek", r).await;
        assert!(d.allowed);
        assert_eq!(d.remaining, 1);
        assert_window(d, window);
    }
    assert!(l.hit("peek", r).await.allowed);
    let full = l.peek("peek", r).await;
    assert!(!full.allowed);
    assert_eq!(full.remaining, 0);
    assert_window(full, window);
    assert!(!l.hit("peek", r).await.allowed);
}

async fn reset_clears(l: &impl RateLimiter) {
    let r = rule(2, Duration::from_secs(60));
    for _ in 0..3 {
        l.hit("reset", r).await;
    }
    assert!(!l.peek("reset", r).await.allowed);
    l.reset("reset").await;
    let d = l.peek("reset", r).await;
    assert!(d.allowed);
    assert_eq!((d.remaining, d.reset_after), (2, Duration::ZERO));
    let d = l.hit("reset", r).await;
    assert!(d.allowed);
    assert_eq!(d.remaining, 1);
    l.reset("never-hit").await;
}

async fn refund_takes_back_one_hit(l: &impl RateLimiter) {
    let window = Duration::from_secs(60);
    let r = rule(2, window);
    l.hit("refund", r).await;
    let full = l.hit("refund", r).await;
    assert_eq!(full.remaining, 0);
    l.refund("refund").await;
    let d = l.peek("refund", r).await;
    assert!(d.allowed);
    assert_eq!(d.remaining, 1);
    assert!(
        d.reset_after <= full.reset_after,
        "the window keeps its end: {d:?} after {full:?}"
    );
    assert_window(d, window);
    // Never below zero: more refunds than hits leave the count at zero.
    for _ in 0..3 {
        l.refund("refund").await;
    }
    assert_eq!(l.peek("refund", r).await.remaining, 2);
    assert_eq!(l.hit("refund", r).await.remaining, 1);
    // A key never hit stays absent.
    l.refund("refund-never").await;
    let fresh = l.peek("refund-never", r).await;
    assert_eq!((fresh.remaining, fresh.reset_after), (2, Duration::ZERO));
}

/// 200 concurrent hits with limit 50, spread over `limiters`: exactly 50
/// allowed, each with a different `remaining`.
async fn concurrent_hits_are_exact<L: RateLimiter + Clone>(limiters: &[L]) {
    let r = rule(50, Duration::from_secs(60));
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let l = limiters[i % limiters.len()].clone();
            tokio::spawn(async move { l.hit("burst", r).await })
        })
        .collect();
    let mut remaining = Vec::new();
    for t in tasks {
        let d = t.await.unwrap();
        if d.allowed {
            remaining.push(d.remaining);
        } else {
            assert_eq!(d.remaining, 0);
        }
    }
    remaining.sort_unstable();
    assert_eq!(remaining, (0..50).collect::<Vec<u32>>());
    assert!(!limiters[0].peek("burst", r).await.allowed);
}

async fn contract<L: RateLimiter + Clone>(l: &L) {
    limits_then_denies(l).await;
    peek_does_not_count(l).await;
    reset_clears(l).await;
    refund_takes_back_one_hit(l).await;
    concurrent_hits_are_exact(std::slice::from_ref(l)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_limiter_honours_the_contract() {
    let l = Limiter::memory();
    assert_eq!(l.kind(), "memory");
    contract(&l).await;
}

#[tokio::test(start_paused = true)]
async fn memory_limiter_windows_end() {
    let l = Limiter::memory();
    let r = rule(1, Duration::from_secs(10));
    assert!(l.hit("k", r).await.allowed);
    tokio::time::advance(Duration::from_secs(9)).await;
    let d = l.hit("k", r).await;
    assert!(!d.allowed);
    assert_eq!(d.reset_after, Duration::from_secs(1));
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(l.peek("k", r).await.remaining, 1);
    let d = l.hit("k", r).await;
    assert!(d.allowed);
    assert_eq!((d.remaining, d.reset_after), (0, Duration::from_secs(10)));
}

/// The contract on the Redis at `urls`, without the fallback.
async fn redis_contract(urls: &str) {
    let prefix = unique_prefix();
    let l = Strict(RedisLimiter::new(connect(urls).await, &prefix));
    contract(&l).await;
    clear(urls, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_limiter_honours_the_contract() {
    redis_contract(&redis_url()).await;
}

#[tokio::test]
async fn redis_limiter_windows_end() {
    redis_windows_end(&redis_url()).await;
}

async fn redis_windows_end(urls: &str) {
    let prefix = unique_prefix();
    let l = Strict(RedisLimiter::new(connect(urls).await, &prefix));
    let window = Duration::from_millis(300);
    let r = rule(1, window);
    assert!(l.hit("k", r).await.allowed);
    let d = l.hit("k", r).await;
    assert!(!d.allowed);
    assert_window(d, window);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(l.peek("k", r).await.remaining, 1);
    let d = l.hit("k", r).await;
    assert!(d.allowed);
    assert_window(d, window);
    clear(urls, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn limiters_sharing_a_redis_prefix_share_counts() {
    sharing_a_prefix_shares_counts(&redis_url()).await;
}

async fn sharing_a_prefix_shares_counts(urls: &str) {
    let prefix = unique_prefix();
    let a = Limiter::redis(RedisLimiter::new(connect(urls).await, &prefix));
    let b = Limiter::redis(RedisLimiter::new(connect(urls).await, &prefix));
    assert_eq!(a.kind(), "redis");
    let r = rule(3, Duration::from_secs(60));
    assert_eq!(a.hit("k", r).await.remaining, 2);
    assert_eq!(a.hit("k", r).await.remaining, 1);
    assert_eq!(b.peek("k", r).await.remaining, 1);
    assert_eq!(b.hit("k", r).await.remaining, 0);
    assert!(!a.hit("k", r).await.allowed);
    b.reset("k").await;
    assert_eq!(a.peek("k", r).await.remaining, 3);
    concurrent_hits_are_exact(&[a, b]).await;
    clear(urls, &prefix).await;
}

/// The Redis tests above, on a Redis Cluster: each key's window lives on
/// the master holding its slot, and the scripts run there.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_limiter_honours_the_contract() {
    let cluster = Cluster::start().await;
    let urls = cluster.urls();
    redis_contract(&urls).await;
    redis_windows_end(&urls).await;
    sharing_a_prefix_shares_counts(&urls).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limiter_whose_redis_is_down_limits_in_process() {
    let (mut server, conn) = Throwaway::start().await;
    let l = Limiter::redis(RedisLimiter::new(conn, "down:"));
    let r = rule(3, Duration::from_secs(60));
    assert_eq!(l.hit("up", r).await.remaining, 2);
    server.stop();

    let started = Instant::now();
    for remaining in [2, 1, 0] {
        let d = l.hit("k", r).await;
        assert!(d.allowed);
        assert_eq!(d.remaining, remaining);
    }
    let d = l.hit("k", r).await;
    assert!(!d.allowed);
    assert_window(d, r.window);
    assert!(!l.peek("k", r).await.allowed);
    l.reset("k").await;
    assert_eq!(l.peek("k", r).await.remaining, 3);
    assert_eq!(l.kind(), "redis");
    // One failed call opens the breaker; the rest answer at once.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "fallbacks are slow"
    );

    // Once Redis is back (and the cooldown over), counts are shared again.
    server.restart().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let other = Limiter::redis(RedisLimiter::new(server.connect().await, "down:"));
    let mut back = false;
    for _ in 0..50 {
        l.hit("after", r).await;
        if other.peek("after", r).await.remaining < 3 {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "the limiter never went back to Redis");
}
