//! The shop's commerce, as one service per feature: [`CartService`],
//! [`CheckoutService`], [`OrderService`], [`InventoryService`] and
//! [`PaymentService`], each over the store ports it uses and with an error
//! type of its own. The rules live in the services (limits, pricing, the
//! order state machine, who may see what); the store makes each step
//! atomic. [`Shop`] builds them from one store and one configuration.

use std::sync::Arc;
use std::time::Duration;

use crate::cart::{CartLimits, CartService};
use crate::inventory::InventoryService;
use crate::orders::{CheckoutService, OrderService, Pricing};
use crate::payments::{PaymentService, Payments};
use crate::Currency;

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

/// The commerce services of one shop, sharing its store and settings.
pub struct Shop<S> {
    carts: CartService<S>,
    checkout: CheckoutService<S>,
    orders: OrderService<S>,
    inventory: InventoryService<S>,
    payments: PaymentService<S>,
    config: Arc<ShopConfig>,
}

impl<S> std::fmt::Debug for Shop<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shop")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<S: Clone> Shop<S> {
    pub fn new(store: S, config: ShopConfig) -> Shop<S> {
        let config = Arc::new(config);
        let carts = CartService::new(store.clone(), config.clone());
        let orders = OrderService::new(store.clone(), config.clone());
        Shop {
            checkout: CheckoutService::new(carts.clone()),
            inventory: InventoryService::new(store.clone(), config.clone()),
            payments: PaymentService::new(orders.clone(), None),
            carts,
            orders,
            config,
        }
    }

    /// Turns card payments on, through `payments.provider`.
    pub fn with_payments(mut self, payments: Payments) -> Shop<S> {
        self.payments = PaymentService::new(self.orders.clone(), Some(payments));
        self
    }
}

impl<S> Shop<S> {
    pub fn carts(&self) -> &CartService<S> {
        &self.carts
    }

    pub fn checkout(&self) -> &CheckoutService<S> {
        &self.checkout
    }

    pub fn orders(&self) -> &OrderService<S> {
        &self.orders
    }

    pub fn inventory(&self) -> &InventoryService<S> {
        &self.inventory
    }

    pub fn payments(&self) -> &PaymentService<S> {
        &self.payments
    }

    pub fn payments_enabled(&self) -> bool {
        self.payments.enabled()
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
