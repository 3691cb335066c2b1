//! Payments and refunds as the shop records them.
//!
//! A payment is written before the provider is asked (`processing`, with a
//! lease) and settled after: `succeeded`, `declined`, `failed`, or back to
//! `queued` when the provider could not be reached. `processing` and
//! `queued` payments are *in flight*: their order can be neither paid
//! another way nor cancelled nor expired until they settle. The queue is
//! the in-flight payments whose `next_attempt_at` has passed (a queued
//! payment's backoff, or a processing one whose lease ran out because the
//! instance asking the provider died).

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use crate::identity::UnixMillis;
use crate::orders::{Order, OrderStatus};
use crate::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// The provider is being asked (or was, by an instance that died).
    Processing,
    /// The provider could not be reached; the worker will try again.
    Queued,
    Succeeded,
    /// The card was refused; the order stays payable.
    Declined,
    /// The provider refused the request (a bad or used token), or the
    /// queue gave up on it.
    Failed,
}

impl PaymentStatus {
    pub const ALL: [PaymentStatus; 5] = [
        PaymentStatus::Processing,
        PaymentStatus::Queued,
        PaymentStatus::Succeeded,
        PaymentStatus::Declined,
        PaymentStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Processing => "processing",
            PaymentStatus::Queued => "queued",
            PaymentStatus::Succeeded => "succeeded",
            PaymentStatus::Declined => "declined",
            PaymentStatus::Failed => "failed",
        }
    }

    /// Whether the payment has not settled yet.
    pub fn in_flight(self) -> bool {
        matches!(self, PaymentStatus::Processing | PaymentStatus::Queued)
    }
}

impl FromStr for PaymentStatus {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<PaymentStatus, StoreError> {
        PaymentStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| StoreError::Internal(format!("unknown payment status {s:?}")))
    }
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One attempt to pay an order with one card token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Payment {
    pub id: Uuid,
    #[serde(skip)]
    pub order_id: Uuid,
    pub status: PaymentStatus,
    /// Minor units.
    pub amount: i64,
    pub currency: String,
    /// The provider's id for it (`pi_…`), once known.
    pub provider_reference: Option<String>,
    /// Why a card was declined (`card_declined`, `insufficient_funds`…).
    pub decline_code: Option<String>,
    pub message: Option<String>,
    /// Requests made to the provider for it.
    pub attempts: u32,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
    /// It succeeded for an order that could no longer take it (cancelled,
    /// or paid by another payment): the money must be given back by hand.
    pub orphaned: bool,
}

/// A payment to record before asking the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPayment {
    pub id: Uuid,
    pub order_id: Uuid,
    pub amount: i64,
    pub currency: String,
    pub payment_token: String,
    /// The same on every attempt, so the provider charges at most once.
    pub idempotency_key: String,
    /// Until when this request owns the payment; then the worker may retry it.
    pub lease_until: UnixMillis,
    pub created_at: UnixMillis,
    /// An order may have at most this many payments (card-testing guard).
    pub max_per_order: u32,
}

/// What recording a new payment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartOutcome {
    /// Recorded, and the order marked as having a payment in flight.
    Started,
    NotFound,
    /// The order is not awaiting payment. Nothing written.
    NotPayable {
        status: OrderStatus,
    },
    /// Another payment of the order is in flight. Nothing written.
    InProgress,
    /// The order has had `max_per_order` payments already. Nothing written.
    TooManyAttempts,
}

/// How a payment ended (or that it goes back to the queue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// The money was taken: the payment succeeds and its order is paid.
    Succeeded {
        reference: String,
    },
    Declined {
        reference: Option<String>,
        code: String,
        message: String,
    },
    Failed {
        message: String,
    },
    /// The provider could not answer: queue it for `next_attempt_at`.
    Retry {
        error: String,
        next_attempt_at: UnixMillis,
    },
}

/// What settling a payment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    /// The payment as it is now.
    pub payment: Payment,
    /// Whether this call changed it (false: it had settled already).
    pub changed: bool,
    /// A success for an order that could no longer be paid (cancelled, or
    /// paid by another payment): money was taken and must be refunded.
    pub orphaned: bool,
}

/// An in-flight payment the worker claimed (leased) to ask the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentJob {
    pub id: Uuid,
    pub order_id: Uuid,
    pub amount: i64,
    pub currency: String,
    pub payment_token: String,
    pub idempotency_key: String,
    /// Attempts so far, this one included.
    pub attempts: u32,
    pub created_at: UnixMillis,
}

/// The payment queue at a glance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    pub queued: u64,
    pub processing: u64,
    /// When the oldest queued payment was made.
    pub oldest_queued_at: Option<UnixMillis>,
    /// Refunds waiting for the provider.
    pub refunds_pending: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    /// Asked for; waiting for (or retrying) the provider.
    Pending,
    Succeeded,
    /// The provider refused it; nothing was refunded.
    Failed,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Pending => "pending",
            RefundStatus::Succeeded => "succeeded",
            RefundStatus::Failed => "failed",
        }
    }
}

impl FromStr for RefundStatus {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<RefundStatus, StoreError> {
        [
            RefundStatus::Pending,
            RefundStatus::Succeeded,
            RefundStatus::Failed,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
        .ok_or_else(|| StoreError::Internal(format!("unknown refund status {s:?}")))
    }
}

/// Money given back for a paid order, all or part of it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Refund {
    pub id: Uuid,
    #[serde(skip)]
    pub order_id: Uuid,
    pub payment_id: Uuid,
    pub status: RefundStatus,
    /// Minor units.
    pub amount: i64,
    pub provider_reference: Option<String>,
    pub reason: Option<String>,
    /// `admin:<id>`.
    pub actor: String,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
}

/// A refund to record before asking the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefund {
    pub id: Uuid,
    pub order_id: Uuid,
    /// None: everything not refunded yet.
    pub amount: Option<i64>,
    pub reason: Option<String>,
    pub actor: String,
    pub idempotency_key: String,
    pub lease_until: UnixMillis,
    pub created_at: UnixMillis,
}

/// What recording a refund did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundStart {
    /// Recorded as pending: ask the provider to refund `job`.
    Started(RefundJob),
    NotFound,
    /// The order was never paid by card (or is not paid now). Nothing written.
    NotRefundable {
        status: OrderStatus,
    },
    /// More than what is left to refund (refunds pending included).
    TooMuch {
        remaining: i64,
    },
}

/// A pending refund to ask the provider for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundJob {
    pub id: Uuid,
    pub order_id: Uuid,
    pub amount: i64,
    /// The payment's provider reference (`pi_…`).
    pub payment_reference: String,
    pub idempotency_key: String,
    /// When it was asked for: retries back off with its age and stop
    /// within the provider's idempotency window.
    pub created_at: UnixMillis,
}

/// How a refund ended, or that it is retried later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundSettlement {
    /// Refunded; when refunds reach what was paid the order is `refunded`.
    Succeeded {
        reference: String,
    },
    Failed {
        message: String,
    },
    Retry {
        error: String,
        next_attempt_at: UnixMillis,
    },
}

/// A webhook event from the provider, as far as the shop cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderEvent {
    /// A payment intent succeeded (perhaps after our request timed out).
    /// It settles a payment only if it is what was asked: see
    /// [`PaymentService::reconcile`](crate::payments::PaymentService::reconcile).
    PaymentSucceeded {
        reference: String,
        payment_id: Option<Uuid>,
        /// What the intent took (minor units) and in which currency, as
        /// the event says; none when it does not say.
        amount: Option<i64>,
        currency: Option<String>,
    },
    /// A payment intent failed (a late decline).
    PaymentFailed {
        reference: String,
        payment_id: Option<Uuid>,
        code: String,
        message: String,
    },
    /// A charge was refunded (in part); refunds settle through their own
    /// retries, so this is only logged.
    Refunded { reference: String, amount: i64 },
    /// Anything else: acknowledged and ignored.
    Other(String),
}

/// A provider event the shop refused to act on, kept for staff: a success
/// that is not what the payment asked for (another intent, another amount
/// or currency) or that names a payment already settled another way. Money
/// may have moved at the provider; nothing moved in the shop.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PaymentAnomaly {
    pub id: Uuid,
    pub payment_id: Uuid,
    #[serde(skip)]
    pub order_id: Uuid,
    /// The provider's event id.
    pub event_id: String,
    /// `reference_mismatch`, `amount_mismatch`, `currency_mismatch` or
    /// `already_settled`.
    pub reason: String,
    /// What was expected and what the event said.
    pub detail: String,
    pub at: UnixMillis,
}

impl PaymentAnomaly {
    /// Why a success event may not settle `payment`, if it may not.
    pub fn of_success(
        payment: &Payment,
        reference: &str,
        amount: Option<i64>,
        currency: Option<&str>,
    ) -> Option<(&'static str, String)> {
        let stored = payment.provider_reference.as_deref();
        if let Some(stored) = stored.filter(|r| *r != reference) {
            return Some((
                "reference_mismatch",
                format!("the payment is intent {stored}; the event names {reference}"),
            ));
        }
        if !matches!(
            payment.status,
            PaymentStatus::Processing | PaymentStatus::Queued | PaymentStatus::Succeeded
        ) {
            return Some((
                "already_settled",
                format!("the payment was already {}", payment.status),
            ));
        }
        if amount != Some(payment.amount) {
            let said = amount.map_or_else(|| "no amount".to_owned(), |a| a.to_string());
            return Some((
                "amount_mismatch",
                format!(
                    "the payment asked {}; the event says {said}",
                    payment.amount
                ),
            ));
        }
        if !currency.is_some_and(|c| c.eq_ignore_ascii_case(&payment.currency)) {
            return Some((
                "currency_mismatch",
                format!(
                    "the payment asked {}; the event says {}",
                    payment.currency,
                    currency.unwrap_or("no currency")
                ),
            ));
        }
        None
    }
}

/// What paying did, when the card was not declined.
#[derive(Debug, Clone)]
pub enum PayOutcome {
    /// The order is paid.
    Paid(Order),
    /// The provider could not be reached: the payment is queued and the
    /// order will be paid (or stay payable) once it answers.
    Pending(Order),
}

/// A refund and its order afterwards.
#[derive(Debug, Clone)]
pub struct RefundOutcome {
    pub refund: Refund,
    pub order: Order,
}

/// What one pass of the worker did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrainReport {
    pub claimed: usize,
    pub succeeded: usize,
    pub declined: usize,
    pub failed: usize,
    pub requeued: usize,
    /// Payments that succeeded for orders that could no longer be paid
    /// (payment id, order id): money to refund by hand.
    pub orphaned: Vec<(Uuid, Uuid)>,
}

/// What a webhook event did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// The event was seen before (it changed nothing now).
    pub duplicate: bool,
    /// The payment it names, if Emporium knows it.
    pub payment_id: Option<Uuid>,
    /// Whether it changed a payment.
    pub changed: bool,
    /// A success for an order that could no longer be paid (payment id,
    /// order id): money to refund by hand.
    pub orphaned: Option<(Uuid, Uuid)>,
    /// A success refused because it is not what the payment asked for
    /// (recorded for staff; the payment and order did not change).
    pub anomaly: Option<PaymentAnomaly>,
}
