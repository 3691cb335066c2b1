//! `impl CommerceStore` for an adapter (see `crate::commerce` for the
//! guarantees): each method hands the adapter's pool to the function with
//! its SQL in the `carts`, `checkout`, `orders` or `stock` module that
//! `commerce_store!` generated beside it.

/// The trait impl: each method hands its pool to the module that has its SQL.
macro_rules! commerce_impl {
    ($store:ty) => {
        use emporium_domain::cart::{AddOutcome, CartLimits, CartLineRecord, CartOwner};
        use emporium_domain::identity::UnixMillis;
        use emporium_domain::inventory::{
            Sellable, StockChange, StockChangeOutcome, StockLevel, StockMovement,
        };
        use emporium_domain::orders::{
            NewOrder, Order, OrderFilter, OrderStatus, OrderSummary, PlaceOutcome,
            TransitionOutcome,
        };
        use emporium_domain::ports::CommerceStore;
        use emporium_domain::StoreError;
        use uuid::Uuid;

        impl CommerceStore for $store {
            async fn create_cart(
                &self,
                id: Uuid,
                owner: &CartOwner,
                now: UnixMillis,
            ) -> Result<Uuid, StoreError> {
                carts::create(&self.pool, id, owner, now).await
            }

            async fn find_cart(&self, owner: &CartOwner) -> Result<Option<Uuid>, StoreError> {
                carts::find(&self.pool, owner).await
            }

            async fn cart_lines(&self, cart_id: Uuid) -> Result<Vec<CartLineRecord>, StoreError> {
                carts::lines(&self.pool, cart_id).await
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
                carts::add(
                    &self.pool, cart_id, product_id, quantity, unit_price, limits, now,
                )
                .await
            }

            async fn set_cart_line(
                &self,
                cart_id: Uuid,
                product_id: Uuid,
                quantity: u32,
                now: UnixMillis,
            ) -> Result<bool, StoreError> {
                carts::set(&self.pool, cart_id, product_id, quantity, now).await
            }

            async fn clear_cart(&self, cart_id: Uuid) -> Result<(), StoreError> {
                carts::clear(&self.pool, cart_id).await
            }

            async fn merge_carts(
                &self,
                from: Uuid,
                into: Uuid,
                limits: CartLimits,
                now: UnixMillis,
            ) -> Result<(), StoreError> {
                carts::merge(&self.pool, from, into, limits, now).await
            }

            async fn sellable(&self, product_id: Uuid) -> Result<Option<Sellable>, StoreError> {
                carts::sellable(&self.pool, product_id).await
            }

            async fn place_order(&self, order: &NewOrder) -> Result<PlaceOutcome, StoreError> {
                checkout::place(&self.pool, order).await
            }

            async fn order_for_key(
                &self,
                scope: &str,
                key: &str,
            ) -> Result<Option<(String, Uuid)>, StoreError> {
                checkout::claim_of(&self.pool, scope, key).await
            }

            async fn order(&self, id: Uuid) -> Result<Option<Order>, StoreError> {
                let mut conn = self.pool.acquire().await.map_err($crate::error::db)?;
                orders::load(&mut conn, id).await
            }

            async fn list_orders(
                &self,
                filter: &OrderFilter,
            ) -> Result<Vec<OrderSummary>, StoreError> {
                orders::list(&self.pool, filter).await
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
                orders::transition(&self.pool, id, from, to, actor, reason, now).await
            }

            async fn expired_orders(
                &self,
                now: UnixMillis,
                limit: u32,
            ) -> Result<Vec<Uuid>, StoreError> {
                orders::expired(&self.pool, now, limit).await
            }

            async fn stock(&self, product_id: Uuid) -> Result<Option<StockLevel>, StoreError> {
                stock::level(&self.pool, product_id).await
            }

            async fn change_stock(
                &self,
                product_id: Uuid,
                change: StockChange,
                reason: &str,
                actor: &str,
                now: UnixMillis,
            ) -> Result<StockChangeOutcome, StoreError> {
                stock::change(&self.pool, product_id, change, reason, actor, now).await
            }

            async fn stock_movements(
                &self,
                product_id: Uuid,
                limit: u32,
            ) -> Result<Vec<StockMovement>, StoreError> {
                stock::movements(&self.pool, product_id, limit).await
            }

            async fn purge_stale(
                &self,
                carts_before: UnixMillis,
                keys_before: UnixMillis,
            ) -> Result<(u64, u64), StoreError> {
                carts::purge(&self.pool, carts_before, keys_before).await
            }

            async fn stock_unstocked(
                &self,
                on_hand: u32,
                now: UnixMillis,
            ) -> Result<u64, StoreError> {
                stock::unstocked(&self.pool, on_hand, now).await
            }
        }
    };
}
pub(crate) use commerce_impl;

/// `impl PaymentStore`: each method hands its pool to the `payments` module.
macro_rules! payment_impl {
    ($store:ty) => {
        impl emporium_domain::ports::PaymentStore for $store {
            async fn start_payment(
                &self,
                payment: &emporium_domain::payments::NewPayment,
            ) -> Result<emporium_domain::payments::StartOutcome, StoreError> {
                payments::start(&self.pool, payment).await
            }

            async fn settle_payment(
                &self,
                id: Uuid,
                settlement: &emporium_domain::payments::Settlement,
                grace_ms: i64,
                now: UnixMillis,
            ) -> Result<Option<emporium_domain::payments::Settled>, StoreError> {
                payments::settle(&self.pool, id, settlement, grace_ms, now).await
            }

            async fn claim_payments(
                &self,
                now: UnixMillis,
                lease_until: UnixMillis,
                limit: u32,
            ) -> Result<Vec<emporium_domain::payments::PaymentJob>, StoreError> {
                payments::claim(&self.pool, now, lease_until, limit).await
            }

            async fn payment(
                &self,
                id: Uuid,
            ) -> Result<Option<emporium_domain::payments::Payment>, StoreError> {
                payments::by_id(&self.pool, id).await
            }

            async fn payment_by_reference(
                &self,
                reference: &str,
            ) -> Result<Option<emporium_domain::payments::Payment>, StoreError> {
                payments::by_reference(&self.pool, reference).await
            }

            async fn queue_stats(
                &self,
            ) -> Result<emporium_domain::payments::QueueStats, StoreError> {
                payments::stats(&self.pool).await
            }

            async fn event_recorded(&self, event_id: &str) -> Result<bool, StoreError> {
                payments::event_recorded(&self.pool, event_id).await
            }

            async fn record_event(
                &self,
                event_id: &str,
                kind: &str,
                now: UnixMillis,
            ) -> Result<bool, StoreError> {
                payments::record_event(&self.pool, event_id, kind, now).await
            }

            async fn record_anomaly(
                &self,
                anomaly: &emporium_domain::payments::PaymentAnomaly,
            ) -> Result<(), StoreError> {
                payments::record_anomaly(&self.pool, anomaly).await
            }

            async fn anomalies(
                &self,
                order_id: Uuid,
            ) -> Result<Vec<emporium_domain::payments::PaymentAnomaly>, StoreError> {
                payments::anomalies(&self.pool, order_id).await
            }

            async fn start_refund(
                &self,
                refund: &emporium_domain::payments::NewRefund,
            ) -> Result<emporium_domain::payments::RefundStart, StoreError> {
                payments::start_refund(&self.pool, refund).await
            }

            async fn settle_refund(
                &self,
                id: Uuid,
                settlement: &emporium_domain::payments::RefundSettlement,
                now: UnixMillis,
            ) -> Result<Option<emporium_domain::payments::Refund>, StoreError> {
                payments::settle_refund(&self.pool, id, settlement, now).await
            }

            async fn claim_refunds(
                &self,
                now: UnixMillis,
                lease_until: UnixMillis,
                limit: u32,
            ) -> Result<Vec<emporium_domain::payments::RefundJob>, StoreError> {
                payments::claim_refunds(&self.pool, now, lease_until, limit).await
            }
        }
    };
}
pub(crate) use payment_impl;
