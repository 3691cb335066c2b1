//! Where carts, checkouts, orders and stock live (SQLite or PostgreSQL),
//! one trait per feature so that each service asks only for what it uses.
//! Every method that changes stock or an order's state does so in one
//! transaction with conditional updates (`… WHERE on_hand - reserved >= $n`,
//! `… WHERE status = $from`), never read-then-write, so concurrent callers
//! cannot oversell or skip a state.

use std::future::Future;

use uuid::Uuid;

use crate::cart::{AddOutcome, CartLimits, CartLineRecord, CartOwner};
use crate::identity::UnixMillis;
use crate::inventory::{Sellable, StockChange, StockChangeOutcome, StockLevel, StockMovement};
use crate::orders::{
    NewOrder, Order, OrderFilter, OrderStatus, OrderSummary, PlaceOutcome, TransitionOutcome,
};
use crate::StoreError;

/// Carts and their lines.
pub trait CartStore: Send + Sync + 'static {
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

    /// Deletes guest carts untouched since `carts_before` (with their
    /// lines) and Idempotency-Keys claimed before `keys_before` (their
    /// orders stay); returns how many of each.
    fn purge_stale(
        &self,
        carts_before: UnixMillis,
        keys_before: UnixMillis,
    ) -> impl Future<Output = Result<(u64, u64), StoreError>> + Send;
}

/// The checkout transaction and the Idempotency-Keys it claims.
pub trait CheckoutStore: Send + Sync + 'static {
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
}

/// Orders after checkout: reading them and moving them through their
/// states.
pub trait OrderStore: Send + Sync + 'static {
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
}

/// Stock on hand and its movements.
pub trait StockStore: Send + Sync + 'static {
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

    /// Gives every product without an inventory row `on_hand` units
    /// (seeding a demo or a fresh import); returns how many rows it added.
    fn stock_unstocked(
        &self,
        on_hand: u32,
        now: UnixMillis,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}
