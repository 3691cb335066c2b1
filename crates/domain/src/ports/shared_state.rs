//! State every instance shares and that may be lost without losing data:
//! the response cache, revoked sessions and rate-limit counters (in-process,
//! or Redis when several instances run).

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use uuid::Uuid;

use crate::identity::{Decision, Rule};
use crate::CacheError;

/// A shared cache of serialised responses (in-process, Redis or none).
/// Failures never reach callers: a broken cache behaves as an empty one.
pub trait Cache: Send + Sync + 'static {
    fn get(&self, key: &str) -> impl Future<Output = Option<Bytes>> + Send;
    fn put(&self, key: &str, value: Bytes, ttl: Duration) -> impl Future<Output = ()> + Send;
    /// The cached value for `key`, or `compute`'s, stored for `ttl`.
    /// Concurrent callers of one key may share one computation (the
    /// in-process adapter coalesces them), so a hot key that is missing
    /// costs the store one query, not one per waiting request. Errors are
    /// not cached.
    fn get_or_compute<E, F>(
        &self,
        key: &str,
        ttl: Duration,
        compute: F,
    ) -> impl Future<Output = Result<Bytes, E>> + Send
    where
        E: Clone + Send + Sync + 'static,
        F: Future<Output = Result<Bytes, E>> + Send;
    /// Whether the cache answers; for readiness checks.
    fn ping(&self) -> impl Future<Output = Result<(), CacheError>> + Send;
    /// `memory`, `redis` or `none`.
    fn kind(&self) -> &'static str;
}

/// Sessions revoked before their access tokens expire, checked on every
/// authenticated request (in-process, or Redis so that every instance sees
/// a logout at once). Failures never reach callers: when Redis is down
/// the adapter answers from what this instance knows.
pub trait RevocationStore: Send + Sync + 'static {
    /// Remembers `session_id` as revoked for `ttl` (the longest an access
    /// token of it can still be valid).
    fn revoke(&self, session_id: Uuid, ttl: Duration) -> impl Future<Output = ()> + Send;

    fn is_revoked(&self, session_id: Uuid) -> impl Future<Output = bool> + Send;
}

/// Counts events per key in fixed windows (`Rule`): sign-in attempts per
/// account and address, per account and per address, registrations, API
/// requests. The
/// Redis adapter is atomic, so instances share limits; when Redis fails
/// the adapter counts in-process instead.
pub trait RateLimiter: Send + Sync + 'static {
    /// Counts one event for `key` and says whether it is within the rule.
    fn hit(&self, key: &str, rule: Rule) -> impl Future<Output = Decision> + Send;

    /// Says whether one more event would be allowed, without counting one.
    fn peek(&self, key: &str, rule: Rule) -> impl Future<Output = Decision> + Send;

    /// Forgets the count for `key`.
    fn reset(&self, key: &str) -> impl Future<Output = ()> + Send;

    /// Takes back one event counted by `hit` (an attempt counted before it
    /// was known to be harmless, e.g. a sign-in that succeeded), never
    /// below zero; the window keeps its end.
    fn refund(&self, key: &str) -> impl Future<Output = ()> + Send;
}
