//! The payment provider's port. The provider is an outside service we may
//! swap (Stripe, or `paysim` in test mode), so the port is a trait object
//! (`Arc<dyn PaymentProvider>`).

use std::future::Future;
use std::pin::Pin;

use uuid::Uuid;

use crate::Currency;

/// A boxed future, so that [`PaymentProvider`] can be a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One attempt to take money for an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRequest {
    pub order_id: Uuid,
    /// Emporium's payment id, sent as metadata so that webhooks name it.
    pub payment_id: Uuid,
    /// Minor units.
    pub amount: i64,
    pub currency: Currency,
    /// The provider's single-use token or payment method for the card.
    pub payment_token: String,
    /// The same on every attempt of one payment, so that retries never
    /// charge twice.
    pub idempotency_key: String,
}

/// What the provider said about a charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeOutcome {
    /// The money was taken; `reference` is the provider's id for it.
    Succeeded { reference: String },
    /// The card was refused; the order stays payable with another card.
    Declined {
        reference: Option<String>,
        /// The provider's code (`card_declined`, `insufficient_funds`…).
        code: String,
        message: String,
    },
    /// The provider is still working on it (`processing`): asked again
    /// later, for at most the policy's `processing_timeout`.
    Processing { reference: Option<String> },
}

/// A refund of part or all of a charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    pub reference: String,
    /// Minor units; none refunds what is left.
    pub amount: Option<i64>,
    pub idempotency_key: String,
}

/// Why the provider could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// Down, slow, or failing after every retry, or the circuit breaker is
    /// open: the payment may be retried later with the same key.
    #[error("the payment provider is unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the request itself (a bad token, an amount
    /// above what can be refunded…): retrying will not help.
    #[error("the payment provider refused the request: {0}")]
    Rejected(String),
}

/// The payment provider (Stripe's PaymentIntents API, or `paysim`).
pub trait PaymentProvider: Send + Sync + 'static {
    fn charge(&self, req: ChargeRequest) -> BoxFuture<'_, Result<ChargeOutcome, ProviderError>>;

    /// Refunds; returns the provider's refund id.
    fn refund(&self, req: RefundRequest) -> BoxFuture<'_, Result<String, ProviderError>>;
}
