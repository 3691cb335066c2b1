//! The shop's commerce service: carts, checkout, orders and stock, over a
//! [`CommerceStore`]. The rules live here (limits, pricing, the order state
//! machine, who may see what); the store makes each step atomic.

use std::time::Duration;

use uuid::Uuid;

use crate::cart::CartLimits;
use crate::orders::{OrderStatus, PriceChange, Pricing};
use crate::payments::Payments;
use crate::ports::CommerceStore;
use crate::{Currency, StoreError, ValidationError};

/// Settings of the commerce service.
#[derive(Debug, Clone)]
pub struct ShopConfig {
    pub currency: Currency,
    pub limits: CartLimits,
    pub pricing: Pricing,
    /// How long an unpaid order keeps its stock before it is cancelled.
    pub payment_window: Duration,
    /// Most orders awaiting payment one account may have at once: a
    /// customer pays or cancels them before ordering more, so one account
    /// cannot hold stock with a pile of unpaid orders.
    pub max_unpaid_orders: u32,
    /// Making and hashing tokens.
    pub tokens: TokenCrypto,
    /// What time it is ([`SystemClock`](crate::clock::SystemClock) but in
    /// tests).
    pub clock: std::sync::Arc<dyn crate::clock::Clock>,
}

/// The cryptography the shop relies on, supplied by an adapter (the auth
/// crate, on `ring`): the domain decides which tokens exist and what is
/// stored of them (only hashes), without doing cryptography itself.
#[derive(Debug, Clone, Copy)]
pub struct TokenCrypto {
    /// SHA-256 (base64url) of a token.
    pub hash: fn(&str) -> String,
    /// A new random token (256 bits, base64url); an error if the system's
    /// random source fails.
    pub new: fn() -> Result<String, String>,
}

/// Errors of the commerce service, each with its HTTP meaning.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ShopError {
    #[error("validation failed")]
    Validation(Vec<ValidationError>),
    /// 404: also for things that exist but are not the caller's, so ids
    /// cannot be probed.
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("this product is no longer sold")]
    ProductUnavailable { product_id: Uuid },
    #[error("not enough stock")]
    OutOfStock {
        product_id: Uuid,
        requested: u32,
        available: u32,
    },
    #[error("the cart already holds the most products it may")]
    TooManyLines { max_lines: u32 },
    #[error("prices changed since these products were added; the cart now shows the new prices")]
    PriceChanged(Vec<PriceChange>),
    #[error("the cart is empty")]
    EmptyCart,
    /// The order's total (or a part of it) is above what one payment may
    /// take ([`crate::MAX_AMOUNT`]); `total` is none when it does not even
    /// fit in an `i64`.
    #[error("the order's total is above the maximum of {max} minor units that one payment may take; order fewer units")]
    TotalTooLarge { total: Option<i64>, max: i64 },
    #[error("this account already has {max} orders awaiting payment; pay or cancel one first")]
    TooManyUnpaidOrders { max: u32 },
    /// A stock change would leave on hand below what unpaid orders have
    /// reserved (or below 0). `field` is the request's (`on_hand`, `delta`).
    #[error("stock on hand would become {requested_on_hand}, below {}", floor(*.reserved))]
    StockBelowReserved {
        field: &'static str,
        on_hand: i64,
        reserved: u32,
        requested_on_hand: i64,
    },
    /// A stock change would take on hand above [`crate::inventory::MAX_ON_HAND`].
    #[error("stock on hand would become {requested_on_hand}, above the maximum of {max} units")]
    StockAboveMaximum {
        field: &'static str,
        on_hand: i64,
        requested_on_hand: i64,
        max: u32,
    },
    #[error("the cart changed during checkout; review it and try again")]
    CartChanged,
    #[error("this Idempotency-Key was used with a different request")]
    KeyReused,
    #[error("an order in state {from} cannot become {to}")]
    IllegalTransition { from: OrderStatus, to: OrderStatus },
    #[error("a payment for this order is in progress; wait for its outcome")]
    PaymentInProgress,
    #[error("payments are not configured")]
    PaymentsDisabled,
    #[error("this order is {status} and cannot be paid")]
    NotPayable { status: OrderStatus },
    #[error("this order has had {max} payment attempts, the most it may")]
    TooManyPaymentAttempts { max: u32 },
    #[error("the card was declined: {message}")]
    PaymentDeclined { code: String, message: String },
    #[error("the payment provider refused the request: {0}")]
    PaymentRefused(String),
    #[error("this order is {status} and has no card payment to refund")]
    NotRefundable { status: OrderStatus },
    #[error("at most {remaining} is left to refund")]
    RefundTooLarge { remaining: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ValidationError> for ShopError {
    fn from(e: ValidationError) -> Self {
        ShopError::Validation(vec![e])
    }
}

/// What stock on hand may not go below, in words.
fn floor(reserved: u32) -> String {
    match reserved {
        0 => "zero".to_owned(),
        n => format!("the {n} units reserved by unpaid orders"),
    }
}

/// Carts, checkout, orders and stock.
pub struct Shop<S> {
    pub(crate) store: S,
    pub(crate) config: ShopConfig,
    /// None: payments are off (only staff can mark orders paid).
    pub(crate) payments: Option<Payments>,
}

impl<S> std::fmt::Debug for Shop<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shop")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<S: CommerceStore> Shop<S> {
    pub fn new(store: S, config: ShopConfig) -> Shop<S> {
        Shop {
            store,
            config,
            payments: None,
        }
    }

    /// Turns card payments on, through `payments.provider`.
    pub fn with_payments(mut self, payments: Payments) -> Shop<S> {
        self.payments = Some(payments);
        self
    }

    pub fn payments_enabled(&self) -> bool {
        self.payments.is_some()
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// What time it is, by the configured clock.
    pub(crate) fn now(&self) -> i64 {
        self.config.clock.now_ms()
    }

    /// A request body's fingerprint (its hash), to tell an idempotent
    /// replay from a different request under the same key.
    pub fn fingerprint(&self, canonical_body: &str) -> String {
        (self.config.tokens.hash)(canonical_body)
    }

    pub fn config(&self) -> &ShopConfig {
        &self.config
    }
}
