//! Payments through an outside provider. Emporium never sees card data: a
//! client tokenizes the card with the provider and Emporium charges the
//! token (`provider`). A payment is recorded before the provider is asked
//! and settled after (`model`), so a payment whose answer never came is
//! retried from a durable queue with the same idempotency key by a worker
//! (`service`, `refunds`), and the provider's webhooks reconcile late
//! answers. `policy` says how patient the shop is.

mod model;
mod policy;
mod provider;
mod refunds;
mod service;

pub use model::{
    DrainReport, NewPayment, NewRefund, PayOutcome, Payment, PaymentAnomaly, PaymentJob,
    PaymentStatus, ProviderEvent, QueueStats, Reconciled, Refund, RefundJob, RefundOutcome,
    RefundSettlement, RefundStart, RefundStatus, Settled, Settlement, StartOutcome,
};
pub use policy::{PaymentPolicy, Payments};
pub use provider::{
    BoxFuture, ChargeOutcome, ChargeRequest, PaymentProvider, ProviderError, RefundRequest,
};
pub use service::{PaymentError, PaymentService};
