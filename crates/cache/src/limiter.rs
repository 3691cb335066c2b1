//! Rate limiting ([`RateLimiter`]) in fixed windows.
//!
//! Guarantees, for every adapter: a key's window starts at its first
//! counted event and lasts `rule.window`; within it at most `rule.limit`
//! hits are allowed, however many callers race (the in-process count is
//! behind one mutex, the Redis count is one atomic Lua script); `peek`
//! never counts; `refund` takes back one hit without moving the window's
//! end; once the window has passed the count starts again.
//! [`Limiter`], the type the app uses, never fails and never panics: when
//! Redis fails it logs, counts `rate_limiter_errors_total` and answers from
//! an in-process limiter, so limits still hold per instance; for a second
//! after a failure it does not try Redis at all, so an outage does not slow
//! every request down by a timeout.
//!
//! In Redis each key's window is one key, `{prefix}limit:{key}`, and every
//! script and transaction here touches that one key only, so they run
//! unchanged on a Redis Cluster (one node holds the whole window).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::Duration;

use emporium_domain::identity::{Decision, Rule};
use emporium_domain::ports::RateLimiter;
use tokio::time::Instant;

use crate::conn::OneKeyScript;
use crate::{bounded, Breaker, CacheError, RedisConn};

/// Below this many keys the in-process map is never pruned.
const PRUNE_FLOOR: usize = 1024;

/// The answer for a key that has been hit `count` times in a window with
/// `reset_after` left. `counted` says whether the current event is among
/// them (a hit) or would come next (a peek).
fn decide(rule: Rule, count: u64, reset_after: Duration, counted: bool) -> Decision {
    let limit = u64::from(rule.limit);
    let allowed = if counted {
        count <= limit
    } else {
        count < limit
    };
    Decision {
        allowed,
        limit: rule.limit,
        remaining: u32::try_from(limit.saturating_sub(count)).unwrap_or(u32::MAX),
        reset_after,
    }
}

struct Windows {
    /// key → (events counted, end of the window).
    counts: HashMap<String, (u32, Instant)>,
    /// Expired entries are pruned when the map reaches this size.
    prune_at: usize,
}

/// An in-process limiter: one instance's counts, bounded in memory (expired
/// windows are pruned whenever the map has doubled since the last prune).
#[derive(Clone)]
pub struct MemoryLimiter {
    inner: Arc<Mutex<Windows>>,
}

impl Default for MemoryLimiter {
    fn default() -> MemoryLimiter {
        MemoryLimiter::new()
    }
}

impl MemoryLimiter {
    /// An empty limiter.
    pub fn new() -> MemoryLimiter {
        MemoryLimiter {
            inner: Arc::new(Mutex::new(Windows {
                counts: HashMap::new(),
                prune_at: PRUNE_FLOOR,
            })),
        }
    }

    /// The map; a poisoned lock is recovered (the counts stay consistent
    /// because every update is a single assignment).
    fn lock(&self) -> MutexGuard<'_, Windows> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one event for `key` (see [`RateLimiter::hit`]).
    pub fn hit(&self, key: &str, rule: Rule) -> Decision {
        let now = Instant::now();
        let mut w = self.lock();
        if w.counts.len() >= w.prune_at {
            w.counts.retain(|_, (_, end)| *end > now);
            w.prune_at = (w.counts.len() * 2).max(PRUNE_FLOOR);
        }
        let entry = w
            .counts
            .entry(key.to_owned())
            .or_insert((0, now + rule.window));
        if entry.1 <= now {
            *entry = (0, now + rule.window);
        }
        entry.0 = entry.0.saturating_add(1);
        let (count, end) = *entry;
        drop(w);
        decide(rule, u64::from(count), end - now, true)
    }

    /// Whether one more event would be allowed (see [`RateLimiter::peek`]);
    /// `reset_after` is zero when no window is running.
    pub fn peek(&self, key: &str, rule: Rule) -> Decision {
        let now = Instant::now();
        let current = self.lock().counts.get(key).copied();
        match current {
            Some((count, end)) if end > now => decide(rule, u64::from(count), end - now, false),
            _ => decide(rule, 0, Duration::ZERO, false),
        }
    }

    /// Forgets `key`.
    pub fn reset(&self, key: &str) {
        self.lock().counts.remove(key);
    }

    /// Takes back one hit of `key` in its current window (see
    /// [`RateLimiter::refund`]).
    pub fn refund(&self, key: &str) {
        let now = Instant::now();
        if let Some((count, end)) = self.lock().counts.get_mut(key) {
            if *end > now {
                *count = count.saturating_sub(1);
            }
        }
    }

    /// Number of keys held, expired or not (for tests of the pruning).
    pub fn len(&self) -> usize {
        self.lock().counts.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Counts one event and starts the window on the first; returns the count
/// and the window's remaining milliseconds. A key left without expiry
/// (written by something else) is given one, so it cannot block forever.
static HIT: LazyLock<OneKeyScript> = LazyLock::new(|| {
    OneKeyScript::new(
        r"
local count = redis.call('INCR', KEYS[1])
if count == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
",
    )
});

/// Takes back one hit: decrements a live count above zero, keeping its
/// expiry (a missing or expired key stays missing).
static REFUND: LazyLock<OneKeyScript> = LazyLock::new(|| {
    OneKeyScript::new(
        r"
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count and count > 0 then
  redis.call('DECR', KEYS[1])
end
return 0
",
    )
});

/// A Redis limiter shared by every instance using the same prefix. Its
/// methods report Redis failures; [`Limiter`] turns them into fallbacks.
#[derive(Clone)]
pub struct RedisLimiter {
    conn: RedisConn,
    prefix: String,
}

impl RedisLimiter {
    /// A limiter on an existing connection (see [`crate::connect_redis`]
    /// and [`crate::RedisCache::connection`]); keys are
    /// `{prefix}limit:{key}`.
    pub fn new(conn: RedisConn, prefix: &str) -> RedisLimiter {
        RedisLimiter {
            conn,
            prefix: prefix.to_owned(),
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}limit:{key}", self.prefix)
    }

    /// Counts one event for `key`, atomically (one Lua script).
    pub async fn hit(&self, key: &str, rule: Rule) -> Result<Decision, CacheError> {
        let window_ms = u64::try_from(rule.window.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let mut conn = self.conn.clone();
        let (count, ttl): (i64, i64) =
            bounded(HIT.run(&mut conn, &self.key(key), &[window_ms])).await?;
        Ok(decide(
            rule,
            u64::try_from(count).unwrap_or(0),
            millis(ttl),
            true,
        ))
    }

    /// Whether one more event would be allowed, without counting one.
    pub async fn peek(&self, key: &str, rule: Rule) -> Result<Decision, CacheError> {
        let key = self.key(key);
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.atomic().get(&key).pttl(&key);
        let (count, ttl): (Option<i64>, i64) = bounded(pipe.query_async(&mut conn)).await?;
        Ok(match count {
            Some(count) if ttl > 0 => {
                decide(rule, u64::try_from(count).unwrap_or(0), millis(ttl), false)
            }
            _ => decide(rule, 0, Duration::ZERO, false),
        })
    }

    /// Forgets `key`.
    pub async fn reset(&self, key: &str) -> Result<(), CacheError> {
        let mut conn = self.conn.clone();
        bounded(
            redis::cmd("DEL")
                .arg(self.key(key))
                .query_async::<()>(&mut conn),
        )
        .await
    }

    /// Takes back one hit of `key`, atomically (one Lua script).
    pub async fn refund(&self, key: &str) -> Result<(), CacheError> {
        let mut conn = self.conn.clone();
        bounded(REFUND.run::<i64>(&mut conn, &self.key(key), &[]))
            .await
            .map(|_| ())
    }
}

/// A PTTL answer as a duration (negative answers mean none).
fn millis(ttl: i64) -> Duration {
    Duration::from_millis(u64::try_from(ttl).unwrap_or(0))
}

/// The rate limiter the app uses: in-process, or Redis with an in-process
/// fallback for when Redis fails. Clones share their counts.
#[derive(Clone, Default)]
pub struct Limiter {
    local: MemoryLimiter,
    redis: Option<RedisLimiter>,
    breaker: Arc<Breaker>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind())
    }
}

impl Limiter {
    /// Counts in this process only.
    pub fn memory() -> Limiter {
        Limiter::default()
    }

    /// Counts in Redis (shared by instances), in-process while Redis fails.
    pub fn redis(redis: RedisLimiter) -> Limiter {
        Limiter {
            redis: Some(redis),
            ..Limiter::default()
        }
    }

    /// The Redis limiter, unless there is none or it failed just now.
    fn shared(&self) -> Option<&RedisLimiter> {
        self.redis.as_ref().filter(|_| self.breaker.closed())
    }

    fn fell_back(&self, op: &'static str, error: &CacheError) {
        self.breaker.trip();
        metrics::counter!("rate_limiter_errors_total", "op" => op).increment(1);
        tracing::warn!(%error, op, "redis rate limiter failed; counting in-process");
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

impl RateLimiter for Limiter {
    async fn hit(&self, key: &str, rule: Rule) -> Decision {
        if let Some(redis) = self.shared() {
            match redis.hit(key, rule).await {
                Ok(d) => return d,
                Err(e) => self.fell_back("hit", &e),
            }
        }
        self.local.hit(key, rule)
    }

    async fn peek(&self, key: &str, rule: Rule) -> Decision {
        if let Some(redis) = self.shared() {
            match redis.peek(key, rule).await {
                Ok(d) => return d,
                Err(e) => self.fell_back("peek", &e),
            }
        }
        self.local.peek(key, rule)
    }

    async fn reset(&self, key: &str) {
        // The local count may hold hits made while Redis was down. Resets
        // are rare (a successful sign-in): Redis is always tried.
        self.local.reset(key);
        if let Some(redis) = &self.redis {
            if let Err(e) = redis.reset(key).await {
                self.fell_back("reset", &e);
            }
        }
    }

    async fn refund(&self, key: &str) {
        // Refunded where it would be counted now, as `hit` does.
        if let Some(redis) = self.shared() {
            match redis.refund(key).await {
                Ok(()) => return,
                Err(e) => self.fell_back("refund", &e),
            }
        }
        self.local.refund(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn expired_windows_are_pruned() {
        let limiter = MemoryLimiter::new();
        let rule = Rule {
            limit: 1,
            window: Duration::from_secs(1),
        };
        for i in 0..PRUNE_FLOOR {
            limiter.hit(&format!("old{i}"), rule);
        }
        assert_eq!(limiter.len(), PRUNE_FLOOR);
        tokio::time::advance(Duration::from_secs(2)).await;
        limiter.hit("new", rule);
        assert_eq!(limiter.len(), 1);
    }

    #[test]
    fn a_poisoned_lock_is_recovered() {
        let limiter = MemoryLimiter::new();
        let rule = Rule {
            limit: 2,
            window: Duration::from_secs(60),
        };
        limiter.hit("k", rule);
        let l = limiter.clone();
        let _ = std::thread::spawn(move || {
            let _guard = l.inner.lock();
            panic!("poison the lock");
        })
        .join();
        assert!(limiter.inner.is_poisoned());
        assert_eq!(limiter.hit("k", rule).remaining, 0);
    }
}
