//! Losing Redis Cluster nodes: with one master killed (SIGKILL), with all
//! of them, and with one hung (SIGSTOP), every call of the cache, the
//! limiter and the revocation store still answers within [`BOUND`]; the
//! cache acts as empty for keys it cannot reach, the limiter keeps
//! limiting in process, and the revocation store answers from what this
//! instance knows. Each test runs a three-master cluster of its own.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on what it did not expect"
)]

mod support;

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use emporium_cache::{AnyCache, Limiter, RedisCache, RedisLimiter, Revocations};
use emporium_domain::identity::Rule;
use emporium_domain::ports::{Cache, RateLimiter, RevocationStore};
use support::{connect, unique_prefix, Cluster};
use uuid::Uuid;

/// The longest any one call may take. The adapters give up on Redis after
/// 500 ms; the rest is slack for a loaded machine.
const BOUND: Duration = Duration::from_secs(2);

/// `call`'s answer, failing the test if it takes longer than [`BOUND`].
async fn prompt<T>(what: &str, call: impl Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, call)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than {BOUND:?}"))
}

/// The three adapters on one cluster connection, as the app wires them.
struct Adapters {
    prefix: String,
    cache: AnyCache,
    limiter: Limiter,
    revocations: Revocations,
}

impl Adapters {
    async fn on(cluster: &Cluster) -> Adapters {
        let prefix = unique_prefix();
        let conn = connect(&cluster.urls()).await;
        assert!(conn.is_cluster());
        Adapters {
            cache: AnyCache::Redis(RedisCache::new(conn.clone(), &prefix)),
            limiter: Limiter::redis(RedisLimiter::new(conn.clone(), &prefix)),
            revocations: Revocations::redis(conn, &prefix),
            prefix,
        }
    }
}

/// Names (`{tag}{i}`) whose Redis keys, as `redis_key` makes them, are
/// held by node `node` and by another node: (on it, off it).
fn names_on(
    cluster: &Cluster,
    node: usize,
    tag: &str,
    redis_key: impl Fn(&str) -> String,
) -> (String, String) {
    let (mut on, mut off) = (None, None);
    for i in 0.. {
        let name = format!("{tag}{i}");
        if cluster.node_of(&redis_key(&name)) == node {
            on.get_or_insert(name);
        } else {
            off.get_or_insert(name);
        }
        if let (Some(on), Some(off)) = (&on, &off) {
            return (on.clone(), off.clone());
        }
    }
    unreachable!()
}

/// Cache and limiter names held by the node to be killed, and by another,
/// chosen while the cluster is whole.
struct Names {
    cache_dead: String,
    cache_live: String,
    limit_dead: String,
    limit_live: String,
}

impl Names {
    fn pick(cluster: &Cluster, dead: usize, prefix: &str, round: &str) -> Names {
        let (cache_dead, cache_live) = names_on(cluster, dead, &format!("k{round}"), |n| {
            format!("{prefix}{n}")
        });
        let (limit_dead, limit_live) = names_on(cluster, dead, &format!("l{round}"), |n| {
            format!("{prefix}limit:{n}")
        });
        Names {
            cache_dead,
            cache_live,
            limit_dead,
            limit_live,
        }
    }
}

/// Calls every operation once and checks what must hold whatever Redis
/// does: the cache never returns what it could not have stored on the
/// dead node, the limiter allows exactly `limit` hits of a key on the dead
/// node (counted in process), revocations made here are seen here.
async fn every_call_answers(a: &Adapters, n: &Names) {
    let ttl = Duration::from_secs(60);
    for key in [&n.cache_dead, &n.cache_live] {
        prompt("cache put", a.cache.put(key, Bytes::from_static(b"v"), ttl)).await;
        prompt("cache get", a.cache.get(key)).await;
    }
    assert_eq!(prompt("cache get", a.cache.get(&n.cache_dead)).await, None);
    let computed = a
        .cache
        .get_or_compute::<(), _>(&n.cache_dead, ttl, async { Ok(Bytes::from_static(b"c")) });
    assert_eq!(prompt("cache get_or_compute", computed).await.unwrap(), "c");
    let _ = prompt("cache ping", a.cache.ping()).await;

    let rule = Rule {
        limit: 3,
        window: Duration::from_secs(60),
    };
    for remaining in [2, 1, 0] {
        let d = prompt("limiter hit", a.limiter.hit(&n.limit_dead, rule)).await;
        assert!(d.allowed, "{d:?}");
        assert_eq!(d.remaining, remaining);
    }
    let d = prompt("limiter hit", a.limiter.hit(&n.limit_dead, rule)).await;
    assert!(!d.allowed, "{d:?}");
    let d = prompt("limiter peek", a.limiter.peek(&n.limit_dead, rule)).await;
    assert!(!d.allowed, "{d:?}");
    prompt("limiter hit", a.limiter.hit(&n.limit_live, rule)).await;
    prompt("limiter refund", a.limiter.refund(&n.limit_live)).await;
    prompt("limiter reset", a.limiter.reset(&n.limit_live)).await;

    let (revoked, never) = (Uuid::now_v7(), Uuid::now_v7());
    prompt("revoke", a.revocations.revoke(revoked, ttl)).await;
    assert!(prompt("is_revoked", a.revocations.is_revoked(revoked)).await);
    assert!(!prompt("is_revoked", a.revocations.is_revoked(never)).await);
}

/// How a node is lost.
#[derive(Clone, Copy)]
enum Loss {
    /// SIGKILL: connections are refused at once.
    Killed,
    /// SIGSTOP: connections are accepted, nothing is answered.
    Frozen,
}

/// Loses `victims` (indices into the cluster) and checks every call twice:
/// at once, and after the adapters' one-second cooldown, when they try
/// Redis again.
async fn answers_while_nodes_are_down(victims: &[usize], loss: Loss) {
    let mut cluster = Cluster::start().await;
    let a = Adapters::on(&cluster).await;
    let now = Names::pick(&cluster, victims[0], &a.prefix, "now");
    let later = Names::pick(&cluster, victims[0], &a.prefix, "later");

    // Up: everything goes through the cluster.
    let revoked = Uuid::now_v7();
    a.revocations.revoke(revoked, Duration::from_secs(60)).await;
    let ttl = Duration::from_secs(60);
    for key in [&now.cache_dead, &now.cache_live] {
        a.cache.put(key, Bytes::from_static(b"up"), ttl).await;
        assert_eq!(a.cache.get(key).await.as_deref(), Some(&b"up"[..]));
    }
    assert!(a.cache.ping().await.is_ok());

    for &n in victims {
        match loss {
            Loss::Killed => cluster.kill(n),
            Loss::Frozen => cluster.freeze(n),
        }
    }
    every_call_answers(&a, &now).await;
    assert!(prompt("is_revoked", a.revocations.is_revoked(revoked)).await);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    every_call_answers(&a, &later).await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_answers_promptly_when_a_cluster_node_dies() {
    answers_while_nodes_are_down(&[1], Loss::Killed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_answers_promptly_when_the_whole_cluster_dies() {
    answers_while_nodes_are_down(&[0, 1, 2], Loss::Killed).await;
}

/// The slow case: a node that accepts connections but never answers costs
/// each call at most the adapters' 500 ms bound, never the client's
/// retries and reconnects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_answers_promptly_when_a_cluster_node_hangs() {
    answers_while_nodes_are_down(&[2], Loss::Frozen).await;
}
