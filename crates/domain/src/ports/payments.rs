//! Where payments, refunds and the provider's webhook events are recorded.

use std::future::Future;

use uuid::Uuid;

use crate::identity::UnixMillis;
use crate::payments::{
    NewPayment, NewRefund, Payment, PaymentAnomaly, PaymentJob, QueueStats, Refund, RefundJob,
    RefundSettlement, RefundStart, Settled, Settlement, StartOutcome,
};
use crate::StoreError;

/// Where payments, refunds and the provider's webhook events are recorded
/// (the same database as orders: a payment's state and its order's change
/// in one transaction). Like the commerce ports, every change is a
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
}

/// Refunds of settled payments, in the same database and with the same
/// guarantees as [`PaymentStore`].
pub trait RefundStore: Send + Sync + 'static {
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
