//! Ports: the traits the domain needs from the outside world. Each has one
//! contract test suite that every adapter passes.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use uuid::Uuid;

use crate::cart::{AddOutcome, CartLimits, CartLineRecord, CartOwner};
use crate::catalog::search::{StorePage, StoreSearch};
use crate::catalog::{Category, ImportCounts, ProductDetail, ProductDraft};
use crate::identity::{
    Decision, DisplayName, Email, FeedPosition, NewSession, RefreshOutcome, RevokeReason, Revoked,
    Rule, StoredKey, UnixMillis, User, UserRecord,
};
use crate::inventory::{Sellable, StockChange, StockChangeOutcome, StockLevel, StockMovement};
use crate::orders::{
    NewOrder, Order, OrderFilter, OrderStatus, OrderSummary, PlaceOutcome, TransitionOutcome,
};
use crate::payments::{
    NewPayment, NewRefund, Payment, PaymentAnomaly, PaymentJob, QueueStats, Refund, RefundJob,
    RefundSettlement, RefundStart, Settled, Settlement, StartOutcome,
};
use crate::{CacheError, StoreError};

/// A category as a store lists it: with its parent and subtree size.
#[derive(Debug, Clone)]
pub struct CategoryRow {
    pub category: Category,
    pub parent_key: Option<i64>,
    /// Products in this category and all its descendants.
    pub product_count: u64,
}

/// Where the catalog lives (SQLite or PostgreSQL).
pub trait CatalogStore: Send + Sync + 'static {
    /// Runs one search: a page of hits (one more than `limit` when another
    /// page follows) and, when asked, the total and facets of the whole
    /// result set (ignoring `after`).
    fn search(&self, q: &StoreSearch)
        -> impl Future<Output = Result<StorePage, StoreError>> + Send;

    fn product(
        &self,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<ProductDetail>, StoreError>> + Send;

    /// Every category, parents before children.
    fn categories(&self) -> impl Future<Output = Result<Vec<CategoryRow>, StoreError>> + Send;

    /// Indexed words that may be what a mistyped `word` meant, with the
    /// number of products containing each. The domain picks among them.
    fn similar_terms(
        &self,
        word: &str,
    ) -> impl Future<Output = Result<Vec<(String, u64)>, StoreError>> + Send;

    /// Brands starting with `prefix` (case-insensitive), most products first.
    fn brands_with_prefix(
        &self,
        prefix: &str,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// Upserts products by SKU in one transaction (all or nothing) and
    /// bumps the catalog version. `progress` is called with the number of
    /// products written so far.
    fn import(
        &self,
        drafts: &[ProductDraft],
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> impl Future<Output = Result<ImportCounts, StoreError>> + Send;

    /// Archives (`archived_at = now`) or restores (`archived_at = NULL`) a
    /// product. An archived product stays in the store (carts and order
    /// history refer to it) but leaves everything customers browse: search
    /// results, totals and facets, `product`, `categories` counts and
    /// `brands_with_prefix`. Bumps the catalog version in the same
    /// transaction, so cached searches are invalidated. `false` if there is
    /// no such product or nothing changed (already archived / on sale).
    fn set_archived(
        &self,
        id: Uuid,
        archived: bool,
        now: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// A number that changes whenever the catalog changes.
    fn catalog_version(&self) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// The id of the product with this SKU (archived ones included).
    fn product_id_by_sku(
        &self,
        sku: &str,
    ) -> impl Future<Output = Result<Option<Uuid>, StoreError>> + Send;

    /// Number of products.
    fn product_count(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Cheap liveness check of the store.
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

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

/// Where accounts, sessions and token-signing keys live (SQLite or
/// PostgreSQL). Emails are stored as [`Email`] normalised them, so
/// uniqueness is case- and width-insensitive.
pub trait IdentityStore: Send + Sync + 'static {
    /// Creates an account. A taken email is `StoreError::Conflict`.
    fn create_user(
        &self,
        user: &User,
        password_hash: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn user_by_email(
        &self,
        email: &Email,
    ) -> impl Future<Output = Result<Option<UserRecord>, StoreError>> + Send;

    fn user_by_id(
        &self,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<UserRecord>, StoreError>> + Send;

    /// Changes the name and/or the password hash (`None` leaves a field
    /// alone). Returns the updated account, or `None` if there is none.
    fn update_user(
        &self,
        id: Uuid,
        name: Option<&DisplayName>,
        password_hash: Option<&str>,
        now: UnixMillis,
    ) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;

    /// Starts a session with its first refresh token (stored hashed).
    fn create_session(
        &self,
        session: &NewSession,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Rotates a refresh token in one transaction, atomically: if
    /// `presented_hash` is the current token of a live session it is marked
    /// used and `new_hash` becomes current ([`RefreshOutcome::Rotated`]);
    /// if it was already used, the session is revoked
    /// ([`RefreshOutcome::Reused`]). Of concurrent callers presenting one
    /// token, exactly one gets `Rotated`.
    fn rotate_refresh_token(
        &self,
        presented_hash: &str,
        new_hash: &str,
        now: UnixMillis,
    ) -> impl Future<Output = Result<RefreshOutcome, StoreError>> + Send;

    /// Revokes one session. `false` if it does not exist or already ended.
    fn revoke_session(
        &self,
        session_id: Uuid,
        reason: RevokeReason,
        now: UnixMillis,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Revokes every live session of a user except `keep`; returns the ids
    /// it revoked.
    fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        keep: Option<Uuid>,
        reason: RevokeReason,
        now: UnixMillis,
    ) -> impl Future<Output = Result<Vec<Uuid>, StoreError>> + Send;

    /// A page of the revocation feed: sessions revoked strictly after
    /// `after` in `(revoked_at, session_id)` order, at most `limit`. Paging
    /// from the last row of each page reads every revocation once, however
    /// many share one `revoked_at`.
    fn revoked_after(
        &self,
        after: FeedPosition,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Revoked>, StoreError>> + Send;

    /// Deletes sessions (with their refresh tokens) that expired or were
    /// revoked before `before`; returns how many.
    fn purge_sessions(
        &self,
        before: UnixMillis,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Every signing key, oldest first.
    fn signing_keys(&self) -> impl Future<Output = Result<Vec<StoredKey>, StoreError>> + Send;

    /// Adds a signing key. A duplicate `kid` is `StoreError::Conflict`.
    fn add_signing_key(
        &self,
        key: &StoredKey,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes a signing key; `false` if there was none.
    fn remove_signing_key(
        &self,
        kid: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
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

/// Where carts, stock and orders live (SQLite or PostgreSQL). Every method
/// that changes stock or an order's state does so in one transaction with
/// conditional updates (`… WHERE on_hand - reserved >= $n`,
/// `… WHERE status = $from`), never read-then-write, so concurrent
/// callers cannot oversell or skip a state.
pub trait CommerceStore: Send + Sync + 'static {
    /// Creates an empty cart for `owner`. A user who already has a cart
    /// keeps it: the call returns that cart's id instead (race-safe).
    fn create_cart(
        &self,
        id: Uuid,
        owner: &CartOwner,
        now: UnixMillis,
    ) -> impl Future<Output = Result<Uuid, StoreError>> + Send;

    /// The cart of `owner`, if it has one.
    fn find_cart(
        &self,
        owner: &CartOwner,
    ) -> impl Future<Output = Result<Option<Uuid>, StoreError>> + Send;

    /// The cart's lines with their products' current state, oldest first.
    fn cart_lines(
        &self,
        cart_id: Uuid,
    ) -> impl Future<Output = Result<Vec<CartLineRecord>, StoreError>> + Send;

    /// Adds `quantity` of a product (a new line takes `unit_price`), the
    /// line capped at `limits.max_per_line`; a new line beyond
    /// `limits.max_lines` is refused. One atomic statement per line, so
    /// concurrent adds from two devices neither lose nor duplicate lines.
    fn add_to_cart(
        &self,
        cart_id: Uuid,
        product_id: Uuid,
        quantity: u32,
        unit_price: i64,
        limits: CartLimits,
        now: UnixMillis,
    ) -> impl Future<Output = Result<AddOutcome, StoreError>> + Send;

    /// Sets a line's quantity; 0 removes it. `false` if there is no such line.
    fn set_cart_line(
        &self,
        cart_id: Uuid,
        product_id: Uuid,
        quantity: u32,
        now: UnixMillis,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Removes every line.
    fn clear_cart(&self, cart_id: Uuid) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Moves `from`'s lines into `into` (quantities added, capped at the
    /// per-line limit; lines beyond `max_lines` dropped) and deletes `from`.
    fn merge_carts(
        &self,
        from: Uuid,
        into: Uuid,
        limits: CartLimits,
        now: UnixMillis,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A product as carts see it (archived ones included; stock 0 when it
    /// has no inventory row).
    fn sellable(
        &self,
        product_id: Uuid,
    ) -> impl Future<Output = Result<Option<Sellable>, StoreError>> + Send;

    /// The checkout transaction. In order, all or nothing:
    /// 1. claim `(idempotency.scope, idempotency.key)`; if it was claimed
    ///    before, answer `Replayed` (same `request_hash`) or `KeyReused`
    ///    (different) — a concurrent claim of the same key waits for the
    ///    first and then replays it;
    /// 2. check that the cart holds exactly `order.lines` (product,
    ///    quantity, unit price) → else `CartChanged`;
    /// 3. check every product's current price equals the line's → else set
    ///    the cart lines to the current prices, commit only that, and
    ///    answer `PriceChanged`; archived → `Unavailable`;
    /// 4. reserve stock per line with `reserved = reserved + q WHERE
    ///    on_hand - reserved >= q` → else `OutOfStock`;
    /// 5. insert the order, its lines and its first event
    ///    (`None → pending_payment`), and remove the cart's lines.
    fn place_order(
        &self,
        order: &NewOrder,
    ) -> impl Future<Output = Result<PlaceOutcome, StoreError>> + Send;

    /// The checkout that claimed an Idempotency-Key: its request hash and
    /// the order it created (a retry after the cart was emptied replays it).
    fn order_for_key(
        &self,
        scope: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<(String, Uuid)>, StoreError>> + Send;

    /// An order with its lines and history.
    fn order(&self, id: Uuid) -> impl Future<Output = Result<Option<Order>, StoreError>> + Send;

    /// Orders newest first, filtered.
    fn list_orders(
        &self,
        filter: &OrderFilter,
    ) -> impl Future<Output = Result<Vec<OrderSummary>, StoreError>> + Send;

    /// Moves an order `from → to` if it is still in `from`, recording the
    /// event; leaving `pending_payment` releases its reservations
    /// (`→ cancelled`: reserved −= q; `→ paid`: on_hand −= q and reserved −= q).
    fn transition_order(
        &self,
        id: Uuid,
        from: OrderStatus,
        to: OrderStatus,
        actor: &str,
        reason: Option<&str>,
        now: UnixMillis,
    ) -> impl Future<Output = Result<TransitionOutcome, StoreError>> + Send;

    /// Ids of unpaid orders whose `expires_at` is before `now`, oldest first.
    fn expired_orders(
        &self,
        now: UnixMillis,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Uuid>, StoreError>> + Send;

    /// A product's stock (none without an inventory row).
    fn stock(
        &self,
        product_id: Uuid,
    ) -> impl Future<Output = Result<Option<StockLevel>, StoreError>> + Send;

    /// Sets or adjusts stock on hand, never below what is reserved nor
    /// below 0, recording a movement with `reason` and `actor`.
    fn change_stock(
        &self,
        product_id: Uuid,
        change: StockChange,
        reason: &str,
        actor: &str,
        now: UnixMillis,
    ) -> impl Future<Output = Result<StockChangeOutcome, StoreError>> + Send;

    /// A product's stock movements, newest first.
    fn stock_movements(
        &self,
        product_id: Uuid,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<StockMovement>, StoreError>> + Send;

    /// Deletes guest carts untouched since `carts_before` (with their
    /// lines) and Idempotency-Keys claimed before `keys_before` (their
    /// orders stay); returns how many of each.
    fn purge_stale(
        &self,
        carts_before: UnixMillis,
        keys_before: UnixMillis,
    ) -> impl Future<Output = Result<(u64, u64), StoreError>> + Send;

    /// Gives every product without an inventory row `on_hand` units
    /// (seeding a demo or a fresh import); returns how many rows it added.
    fn stock_unstocked(
        &self,
        on_hand: u32,
        now: UnixMillis,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// Where payments, refunds and the provider's webhook events are recorded
/// (the same database as orders: a payment's state and its order's change
/// in one transaction). Like [`CommerceStore`], every change is a
/// conditional update, so concurrent requests, workers on several
/// instances and webhooks settle each payment once.
pub trait PaymentStore: Send + Sync + 'static {
    /// In one transaction: if the order is `pending_payment`, has no
    /// payment in flight and fewer than `max_per_order` payments, records
    /// `payment` as `processing` (leased until `lease_until`) and marks it
    /// as the order's payment in flight.
    fn start_payment(
        &self,
        payment: &NewPayment,
    ) -> impl Future<Output = Result<StartOutcome, StoreError>> + Send;

    /// Settles an in-flight payment, in one transaction with its order:
    /// success → the payment `succeeded` and the order `paid` (stock
    /// consumed, event recorded); declined/failed → the order no longer has
    /// a payment in flight and its expiry is at least `now + grace_ms`;
    /// retry → `queued` until `next_attempt_at`. A success also settles a
    /// payment already declined or failed (the provider's word wins). None
    /// for an unknown payment.
    fn settle_payment(
        &self,
        id: Uuid,
        settlement: &Settlement,
        grace_ms: i64,
        now: UnixMillis,
    ) -> impl Future<Output = Result<Option<Settled>, StoreError>> + Send;

    /// Claims up to `limit` in-flight payments due at `now` (queued ones
    /// whose backoff passed, processing ones whose lease ran out): each
    /// becomes `processing`, leased until `lease_until`, its attempts + 1.
    /// Concurrent claims never hand out one payment twice.
    fn claim_payments(
        &self,
        now: UnixMillis,
        lease_until: UnixMillis,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<PaymentJob>, StoreError>> + Send;

    fn payment(&self, id: Uuid)
        -> impl Future<Output = Result<Option<Payment>, StoreError>> + Send;

    /// The payment the provider knows as `reference`.
    fn payment_by_reference(
        &self,
        reference: &str,
    ) -> impl Future<Output = Result<Option<Payment>, StoreError>> + Send;

    fn queue_stats(&self) -> impl Future<Output = Result<QueueStats, StoreError>> + Send;

    /// Whether a provider event id was recorded.
    fn event_recorded(
        &self,
        event_id: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Records a provider event id; false if it was recorded before.
    fn record_event(
        &self,
        event_id: &str,
        kind: &str,
        now: UnixMillis,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Records a provider event the shop refused to act on.
    fn record_anomaly(
        &self,
        anomaly: &PaymentAnomaly,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// An order's payment anomalies, oldest first.
    fn anomalies(
        &self,
        order_id: Uuid,
    ) -> impl Future<Output = Result<Vec<PaymentAnomaly>, StoreError>> + Send;

    /// In one transaction with the order locked: if it is `paid`,
    /// `fulfilled` or (in part) refunded by card, and the amount (default:
    /// all that is left) is at most what was paid minus refunds succeeded
    /// or pending, records the refund as `pending`.
    fn start_refund(
        &self,
        refund: &NewRefund,
    ) -> impl Future<Output = Result<RefundStart, StoreError>> + Send;

    /// Settles a pending refund; when succeeded refunds reach the amount
    /// paid, the order becomes `refunded` (event recorded, on the word of
    /// the refund's actor). None for an unknown refund.
    fn settle_refund(
        &self,
        id: Uuid,
        settlement: &RefundSettlement,
        now: UnixMillis,
    ) -> impl Future<Output = Result<Option<Refund>, StoreError>> + Send;

    /// Claims pending refunds due at `now`, as [`PaymentStore::claim_payments`].
    fn claim_refunds(
        &self,
        now: UnixMillis,
        lease_until: UnixMillis,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<RefundJob>, StoreError>> + Send;
}
