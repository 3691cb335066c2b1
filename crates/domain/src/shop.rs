//! The shop's commerce service: carts, checkout, orders and stock, over a
//! [`CommerceStore`]. The rules live here (limits, pricing, the order state
//! machine, who may see what); the store makes each step atomic.

use std::time::Duration;

use uuid::Uuid;

use crate::cart::CartLimits;
use crate::orders::{OrderStatus, PriceChange, Pricing};
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
    /// SHA-256 (base64url) of a token: the adapters' hash, so the domain
    /// stores and compares only hashes without doing cryptography itself.
    pub hash_token: fn(&str) -> String,
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
    #[error("the cart changed during checkout; review it and try again")]
    CartChanged,
    #[error("this Idempotency-Key was used with a different request")]
    KeyReused,
    #[error("an order in state {from} cannot become {to}")]
    IllegalTransition { from: OrderStatus, to: OrderStatus },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ValidationError> for ShopError {
    fn from(e: ValidationError) -> Self {
        ShopError::Validation(vec![e])
    }
}

/// Carts, checkout, orders and stock.
pub struct Shop<S> {
    pub(crate) store: S,
    pub(crate) config: ShopConfig,
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
        Shop { store, config }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn config(&self) -> &ShopConfig {
        &self.config
    }
}

/// Now, in Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
