//! The port impls of [`Store`]: each method hands the call to the adapter
//! that was configured.

use emporium_domain::cart::{AddOutcome, CartLimits, CartLineRecord, CartOwner};
use emporium_domain::catalog::{ImportCounts, ProductDetail, ProductDraft, StorePage, StoreSearch};
use emporium_domain::identity::{
    DisplayName, Email, FeedPosition, NewSession, RefreshOutcome, RevokeReason, Revoked, StoredKey,
    UnixMillis, User, UserRecord,
};
use emporium_domain::inventory::{
    Sellable, StockChange, StockChangeOutcome, StockLevel, StockMovement,
};
use emporium_domain::orders::{
    NewOrder, Order, OrderFilter, OrderStatus, OrderSummary, PlaceOutcome, TransitionOutcome,
};
use emporium_domain::payments::{
    NewPayment, NewRefund, Payment, PaymentAnomaly, PaymentJob, QueueStats, Refund, RefundJob,
    RefundSettlement, RefundStart, Settled, Settlement, StartOutcome,
};
use emporium_domain::ports::{
    CartStore, CatalogStore, CategoryRow, CheckoutStore, IdentityStore, OrderStore, PaymentStore,
    RefundStore, StockStore,
};
use emporium_domain::StoreError;
use uuid::Uuid;

use crate::Store;

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Store::Sqlite($s) => $e.await,
            Store::Postgres($s) => $e.await,
        }
    };
}

impl CatalogStore for Store {
    async fn search(&self, q: &StoreSearch) -> Result<StorePage, StoreError> {
        delegate!(self, s => s.search(q))
    }

    async fn product(&self, id: Uuid) -> Result<Option<ProductDetail>, StoreError> {
        delegate!(self, s => s.product(id))
    }

    async fn categories(&self) -> Result<Vec<CategoryRow>, StoreError> {
        delegate!(self, s => s.categories())
    }

    async fn similar_terms(&self, word: &str) -> Result<Vec<(String, u64)>, StoreError> {
        delegate!(self, s => s.similar_terms(word))
    }

    async fn brands_with_prefix(
        &self,
        prefix: &str,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        delegate!(self, s => s.brands_with_prefix(prefix, limit))
    }

    async fn import(
        &self,
        drafts: &[ProductDraft],
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<ImportCounts, StoreError> {
        delegate!(self, s => s.import(drafts, progress))
    }

    async fn set_archived(&self, id: Uuid, archived: bool, now: i64) -> Result<bool, StoreError> {
        delegate!(self, s => s.set_archived(id, archived, now))
    }

    async fn catalog_version(&self) -> Result<i64, StoreError> {
        delegate!(self, s => s.catalog_version())
    }

    async fn product_count(&self) -> Result<u64, StoreError> {
        delegate!(self, s => s.product_count())
    }

    async fn product_id_by_sku(&self, sku: &str) -> Result<Option<Uuid>, StoreError> {
        delegate!(self, s => s.product_id_by_sku(sku))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        delegate!(self, s => s.ping())
    }
}

impl IdentityStore for Store {
    async fn create_user(&self, user: &User, password_hash: &str) -> Result<(), StoreError> {
        delegate!(self, s => s.create_user(user, password_hash))
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StoreError> {
        delegate!(self, s => s.user_by_email(email))
    }

    async fn user_by_id(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError> {
        delegate!(self, s => s.user_by_id(id))
    }

    async fn update_user(
        &self,
        id: Uuid,
        name: Option<&DisplayName>,
        password_hash: Option<&str>,
        now: UnixMillis,
    ) -> Result<Option<User>, StoreError> {
        delegate!(self, s => s.update_user(id, name, password_hash, now))
    }

    async fn create_session(&self, session: &NewSession) -> Result<(), StoreError> {
        delegate!(self, s => s.create_session(session))
    }

    async fn rotate_refresh_token(
        &self,
        presented_hash: &str,
        new_hash: &str,
        now: UnixMillis,
    ) -> Result<RefreshOutcome, StoreError> {
        delegate!(self, s => s.rotate_refresh_token(presented_hash, new_hash, now))
    }

    async fn revoke_session(
        &self,
        session_id: Uuid,
        reason: RevokeReason,
        now: UnixMillis,
    ) -> Result<bool, StoreError> {
        delegate!(self, s => s.revoke_session(session_id, reason, now))
    }

    async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        keep: Option<Uuid>,
        reason: RevokeReason,
        now: UnixMillis,
    ) -> Result<Vec<Uuid>, StoreError> {
        delegate!(self, s => s.revoke_user_sessions(user_id, keep, reason, now))
    }

    async fn purge_sessions(&self, before: UnixMillis) -> Result<u64, StoreError> {
        delegate!(self, s => s.purge_sessions(before))
    }

    async fn revoked_after(
        &self,
        after: FeedPosition,
        limit: u32,
    ) -> Result<Vec<Revoked>, StoreError> {
        delegate!(self, s => s.revoked_after(after, limit))
    }

    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        delegate!(self, s => s.signing_keys())
    }

    async fn add_signing_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        delegate!(self, s => s.add_signing_key(key))
    }

    async fn remove_signing_key(&self, kid: &str) -> Result<bool, StoreError> {
        delegate!(self, s => s.remove_signing_key(kid))
    }
}

impl CartStore for Store {
    async fn create_cart(
        &self,
        id: Uuid,
        owner: &CartOwner,
        now: UnixMillis,
    ) -> Result<Uuid, StoreError> {
        delegate!(self, s => s.create_cart(id, owner, now))
    }

    async fn find_cart(&self, owner: &CartOwner) -> Result<Option<Uuid>, StoreError> {
        delegate!(self, s => s.find_cart(owner))
    }

    async fn cart_lines(&self, cart_id: Uuid) -> Result<Vec<CartLineRecord>, StoreError> {
        delegate!(self, s => s.cart_lines(cart_id))
    }

    async fn add_to_cart(
        &self,
        cart_id: Uuid,
        product_id: Uuid,
        quantity: u32,
        unit_price: i64,
        limits: CartLimits,
        now: UnixMillis,
    ) -> Result<AddOutcome, StoreError> {
        delegate!(self, s => s.add_to_cart(cart_id, product_id, quantity, unit_price, limits, now))
    }

    async fn set_cart_line(
        &self,
        cart_id: Uuid,
        product_id: Uuid,
        quantity: u32,
        now: UnixMillis,
    ) -> Result<bool, StoreError> {
        delegate!(self, s => s.set_cart_line(cart_id, product_id, quantity, now))
    }

    async fn clear_cart(&self, cart_id: Uuid) -> Result<(), StoreError> {
        delegate!(self, s => s.clear_cart(cart_id))
    }

    async fn merge_carts(
        &self,
        from: Uuid,
        into: Uuid,
        limits: CartLimits,
        now: UnixMillis,
    ) -> Result<(), StoreError> {
        delegate!(self, s => s.merge_carts(from, into, limits, now))
    }

    async fn sellable(&self, product_id: Uuid) -> Result<Option<Sellable>, StoreError> {
        delegate!(self, s => s.sellable(product_id))
    }

    async fn purge_stale(
        &self,
        carts_before: UnixMillis,
        keys_before: UnixMillis,
    ) -> Result<(u64, u64), StoreError> {
        delegate!(self, s => s.purge_stale(carts_before, keys_before))
    }
}

impl CheckoutStore for Store {
    async fn place_order(&self, order: &NewOrder) -> Result<PlaceOutcome, StoreError> {
        delegate!(self, s => s.place_order(order))
    }

    async fn order_for_key(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<Option<(String, Uuid)>, StoreError> {
        delegate!(self, s => s.order_for_key(scope, key))
    }
}

impl OrderStore for Store {
    async fn order(&self, id: Uuid) -> Result<Option<Order>, StoreError> {
        delegate!(self, s => s.order(id))
    }

    async fn list_orders(&self, filter: &OrderFilter) -> Result<Vec<OrderSummary>, StoreError> {
        delegate!(self, s => s.list_orders(filter))
    }

    async fn transition_order(
        &self,
        id: Uuid,
        from: OrderStatus,
        to: OrderStatus,
        actor: &str,
        reason: Option<&str>,
        now: UnixMillis,
    ) -> Result<TransitionOutcome, StoreError> {
        delegate!(self, s => s.transition_order(id, from, to, actor, reason, now))
    }

    async fn expired_orders(&self, now: UnixMillis, limit: u32) -> Result<Vec<Uuid>, StoreError> {
        delegate!(self, s => s.expired_orders(now, limit))
    }
}

impl StockStore for Store {
    async fn stock(&self, product_id: Uuid) -> Result<Option<StockLevel>, StoreError> {
        delegate!(self, s => s.stock(product_id))
    }

    async fn change_stock(
        &self,
        product_id: Uuid,
        change: StockChange,
        reason: &str,
        actor: &str,
        now: UnixMillis,
    ) -> Result<StockChangeOutcome, StoreError> {
        delegate!(self, s => s.change_stock(product_id, change, reason, actor, now))
    }

    async fn stock_movements(
        &self,
        product_id: Uuid,
        limit: u32,
    ) -> Result<Vec<StockMovement>, StoreError> {
        delegate!(self, s => s.stock_movements(product_id, limit))
    }

    async fn stock_unstocked(&self, on_hand: u32, now: UnixMillis) -> Result<u64, StoreError> {
        delegate!(self, s => s.stock_unstocked(on_hand, now))
    }
}

impl PaymentStore for Store {
    async fn start_payment(&self, payment: &NewPayment) -> Result<StartOutcome, StoreError> {
        delegate!(self, s => s.start_payment(payment))
    }

    async fn settle_payment(
        &self,
        id: Uuid,
        settlement: &Settlement,
        grace_ms: i64,
        now: UnixMillis,
    ) -> Result<Option<Settled>, StoreError> {
        delegate!(self, s => s.settle_payment(id, settlement, grace_ms, now))
    }

    async fn claim_payments(
        &self,
        now: UnixMillis,
        lease_until: UnixMillis,
        limit: u32,
    ) -> Result<Vec<PaymentJob>, StoreError> {
        delegate!(self, s => s.claim_payments(now, lease_until, limit))
    }

    async fn payment(&self, id: Uuid) -> Result<Option<Payment>, StoreError> {
        delegate!(self, s => s.payment(id))
    }

    async fn payment_by_reference(&self, reference: &str) -> Result<Option<Payment>, StoreError> {
        delegate!(self, s => s.payment_by_reference(reference))
    }

    async fn queue_stats(&self) -> Result<QueueStats, StoreError> {
        delegate!(self, s => s.queue_stats())
    }

    async fn event_recorded(&self, event_id: &str) -> Result<bool, StoreError> {
        delegate!(self, s => s.event_recorded(event_id))
    }

    async fn record_event(
        &self,
        event_id: &str,
        kind: &str,
        now: UnixMillis,
    ) -> Result<bool, StoreError> {
        delegate!(self, s => s.record_event(event_id, kind, now))
    }

    async fn record_anomaly(&self, anomaly: &PaymentAnomaly) -> Result<(), StoreError> {
        delegate!(self, s => s.record_anomaly(anomaly))
    }

    async fn anomalies(&self, order_id: Uuid) -> Result<Vec<PaymentAnomaly>, StoreError> {
        delegate!(self, s => s.anomalies(order_id))
    }
}

impl RefundStore for Store {
    async fn start_refund(&self, refund: &NewRefund) -> Result<RefundStart, StoreError> {
        delegate!(self, s => s.start_refund(refund))
    }

    async fn settle_refund(
        &self,
        id: Uuid,
        settlement: &RefundSettlement,
        now: UnixMillis,
    ) -> Result<Option<Refund>, StoreError> {
        delegate!(self, s => s.settle_refund(id, settlement, now))
    }

    async fn claim_refunds(
        &self,
        now: UnixMillis,
        lease_until: UnixMillis,
        limit: u32,
    ) -> Result<Vec<RefundJob>, StoreError> {
        delegate!(self, s => s.claim_refunds(now, lease_until, limit))
    }
}
