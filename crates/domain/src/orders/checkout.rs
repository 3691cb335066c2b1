//! Checkout: pricing an order from the cart and placing it with an
//! Idempotency-Key, atomically reserving its stock and emptying the cart.

use uuid::Uuid;

use super::{
    Address, AddressInput, Idempotency, NewOrder, Order, OrderFilter, OrderLine, OrderOwner,
    OrderStatus, PlaceOutcome, PriceChange, ShippingMethod, Totals,
};
use crate::cart::{CartError, CartLineRecord, CartRef, CartService};
use crate::identity::Email;
use crate::ports::{CartStore, CheckoutStore, OrderStore};
use crate::shop::ShopConfig;
use crate::{StoreError, ValidationError};

/// What the customer sends to check out.
#[derive(Debug, Clone)]
pub struct CheckoutRequest {
    pub address: AddressInput,
    pub shipping_method: String,
    /// Required for guests: where the order confirmation goes.
    pub email: Option<String>,
    /// The client's `Idempotency-Key`.
    pub idempotency_key: String,
    /// A hash of the request body (the same body gives the same hash).
    pub request_hash: String,
}

/// A placed order, and for guests the token that unlocks it.
#[derive(Debug, Clone)]
pub struct Placed {
    pub order: Order,
    /// `X-Order-Token` for a guest's order (derived from the cart token,
    /// so a replay gives the same one); none for users.
    pub order_token: Option<String>,
    /// The answer to an earlier request with the same key.
    pub replayed: bool,
}

/// Why a checkout placed no order, each with its HTTP meaning.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CheckoutError {
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
    /// The order's total (or a part of it) is above what one payment may
    /// take ([`crate::MAX_AMOUNT`]); `total` is none when it does not even
    /// fit in an `i64`.
    #[error("the order's total is above the maximum of {max} minor units that one payment may take; order fewer units")]
    TotalTooLarge { total: Option<i64>, max: i64 },
    #[error("prices changed since these products were added; the cart now shows the new prices")]
    PriceChanged(Vec<PriceChange>),
    #[error("the cart is empty")]
    EmptyCart,
    #[error("this account already has {max} orders awaiting payment; pay or cancel one first")]
    TooManyUnpaidOrders { max: u32 },
    #[error("the cart changed during checkout; review it and try again")]
    CartChanged,
    #[error("this Idempotency-Key was used with a different request")]
    KeyReused,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ValidationError> for CheckoutError {
    fn from(e: ValidationError) -> Self {
        CheckoutError::Validation(vec![e])
    }
}

impl From<CartError> for CheckoutError {
    fn from(e: CartError) -> Self {
        match e {
            CartError::Validation(v) => CheckoutError::Validation(v),
            CartError::NotFound(what) => CheckoutError::NotFound(what),
            CartError::ProductUnavailable { product_id } => {
                CheckoutError::ProductUnavailable { product_id }
            }
            CartError::OutOfStock {
                product_id,
                requested,
                available,
            } => CheckoutError::OutOfStock {
                product_id,
                requested,
                available,
            },
            CartError::TooManyLines { .. } => CheckoutError::CartChanged,
            CartError::TotalTooLarge { total, max } => CheckoutError::TotalTooLarge { total, max },
            CartError::Store(e) => CheckoutError::Store(e),
        }
    }
}

/// Checkout, over the caller's cart (found through the cart service).
pub struct CheckoutService<S> {
    carts: CartService<S>,
    store: S,
    config: std::sync::Arc<ShopConfig>,
}

impl<S: Clone> CheckoutService<S> {
    pub(crate) fn new(carts: CartService<S>) -> CheckoutService<S> {
        CheckoutService {
            store: carts.store.clone(),
            config: carts.config.clone(),
            carts,
        }
    }
}

impl<S> CheckoutService<S> {
    fn now(&self) -> i64 {
        self.config.clock.now_ms()
    }
}

impl<S: CartStore + CheckoutStore + OrderStore> CheckoutService<S> {
    /// Turns the caller's cart into an order in `pending_payment`,
    /// reserving its stock and emptying the cart, atomically. The same
    /// Idempotency-Key with the same body returns the same order.
    pub async fn checkout(
        &self,
        who: &CartRef,
        req: CheckoutRequest,
    ) -> Result<Placed, CheckoutError> {
        let (address, method, guest_email) = self.validate(who, &req)?;
        let cart_id = self.carts.cart_id(who).await?;
        let (scope, actor) = match who {
            CartRef::Guest(_) => (format!("cart:{cart_id}"), "guest".to_owned()),
            CartRef::User { user_id, .. } => (format!("user:{user_id}"), format!("user:{user_id}")),
        };
        if let Some(placed) = self.replay(who, &scope, &req).await? {
            return Ok(placed);
        }
        let lines = self.store.cart_lines(cart_id).await?;
        if lines.is_empty() {
            // A concurrent request with this key may have emptied the cart
            // since the lookup above: its order is the answer.
            if let Some(placed) = self.replay(who, &scope, &req).await? {
                return Ok(placed);
            }
            return Err(CheckoutError::EmptyCart);
        }
        if let Some(l) = lines.iter().find(|l| l.archived) {
            return Err(CheckoutError::ProductUnavailable {
                product_id: l.product_id,
            });
        }
        let totals = self.totals(&lines, method, &address)?;
        if let CartRef::User { user_id, .. } = who {
            self.check_unpaid_orders(*user_id).await?;
        }
        let id = Uuid::now_v7();
        let now = self.now();
        let order_token = match who {
            CartRef::Guest(token) => Some(self.order_token(token, id)),
            CartRef::User { .. } => None,
        };
        let owner = match (who, &guest_email, &order_token) {
            (CartRef::User { user_id, .. }, _, _) => OrderOwner::User(*user_id),
            (CartRef::Guest(_), Some(email), Some(token)) => OrderOwner::Guest {
                email: email.to_string(),
                token_hash: (self.config.tokens.hash)(token),
            },
            _ => return Err(CheckoutError::Validation(Vec::new())),
        };
        let window = crate::clock::millis(self.config.payment_window);
        let new = NewOrder {
            id,
            owner,
            cart_id,
            lines: lines
                .iter()
                .map(|l| OrderLine {
                    product_id: l.product_id,
                    sku: l.sku.clone(),
                    name: l.name.clone(),
                    unit_price: l.unit_price,
                    quantity: l.quantity,
                })
                .collect(),
            currency: self.config.currency.to_string(),
            totals,
            shipping_method: method.code.clone(),
            address,
            idempotency: Idempotency {
                scope,
                key: req.idempotency_key.clone(),
                request_hash: req.request_hash.clone(),
            },
            actor,
            created_at: now,
            expires_at: now.saturating_add(window),
        };
        let outcome = self.store.place_order(&new).await?;
        self.answer(who, outcome, order_token)
    }

    /// The address, shipping method and (for a guest) e-mail of a
    /// checkout, every problem with them reported at once.
    fn validate(
        &self,
        who: &CartRef,
        req: &CheckoutRequest,
    ) -> Result<(Address, &ShippingMethod, Option<Email>), CheckoutError> {
        let mut errors = Vec::new();
        let address = Address::parse(&req.address)
            .map_err(|e| errors.extend(e))
            .ok();
        let method = self
            .config
            .pricing
            .method(&req.shipping_method)
            .map_err(|e| errors.push(e))
            .ok();
        let guest_email = match who {
            CartRef::Guest(_) => match req.email.as_deref() {
                Some(e) => Email::parse(e).map_err(|e| errors.push(e)).ok(),
                None => {
                    errors.push(ValidationError::new(
                        "email",
                        "is required to check out as a guest",
                    ));
                    None
                }
            },
            CartRef::User { .. } => None,
        };
        let (Some(address), Some(method)) = (address, method) else {
            return Err(CheckoutError::Validation(errors));
        };
        if !errors.is_empty() {
            return Err(CheckoutError::Validation(errors));
        }
        Ok((address, method, guest_email))
    }

    /// The order's exact totals, no more than one payment may take: an
    /// order that could never be paid must not hold stock.
    fn totals(
        &self,
        lines: &[CartLineRecord],
        method: &ShippingMethod,
        address: &Address,
    ) -> Result<Totals, CheckoutError> {
        let pricing = &self.config.pricing;
        let tax_bp = pricing.tax_bp(Some(&address.country), address.region.as_deref());
        let max = crate::MAX_AMOUNT;
        let totals = pricing
            .totals(
                lines.iter().map(|l| (l.unit_price, l.quantity)),
                Some(method),
                tax_bp,
            )
            .map_err(|_| CheckoutError::TotalTooLarge { total: None, max })?;
        totals.payable().map_err(|_| CheckoutError::TotalTooLarge {
            total: Some(totals.total),
            max,
        })
    }

    /// What the checkout transaction's outcome means to the customer.
    fn answer(
        &self,
        who: &CartRef,
        outcome: PlaceOutcome,
        order_token: Option<String>,
    ) -> Result<Placed, CheckoutError> {
        match outcome {
            PlaceOutcome::Created(order) => Ok(Placed {
                order: *order,
                order_token,
                replayed: false,
            }),
            PlaceOutcome::Replayed(order) => Ok(self.placed(who, *order, true)),
            PlaceOutcome::KeyReused => Err(CheckoutError::KeyReused),
            PlaceOutcome::CartChanged => Err(CheckoutError::CartChanged),
            PlaceOutcome::PriceChanged(changes) => Err(CheckoutError::PriceChanged(changes)),
            PlaceOutcome::Unavailable { product_id } => {
                Err(CheckoutError::ProductUnavailable { product_id })
            }
            PlaceOutcome::OutOfStock {
                product_id,
                requested,
                available,
            } => Err(CheckoutError::OutOfStock {
                product_id,
                requested,
                available,
            }),
        }
    }

    /// Refuses a new order while the user has `max_unpaid_orders` awaiting
    /// payment. A count before the insert, not in its transaction: checkouts
    /// racing each other may pass it together, as many as the checkout rate
    /// limit lets through, which bounds what it is for (stock held by one
    /// account).
    async fn check_unpaid_orders(&self, user_id: Uuid) -> Result<(), CheckoutError> {
        let max = self.config.max_unpaid_orders;
        let unpaid = self
            .store
            .list_orders(&OrderFilter {
                status: Some(OrderStatus::PendingPayment),
                user_id: Some(user_id),
                before: None,
                limit: max,
            })
            .await?;
        if unpaid.len() >= max as usize {
            return Err(CheckoutError::TooManyUnpaidOrders { max });
        }
        Ok(())
    }

    /// A checkout already made with this key (the cart may be empty by now).
    async fn replay(
        &self,
        who: &CartRef,
        scope: &str,
        req: &CheckoutRequest,
    ) -> Result<Option<Placed>, CheckoutError> {
        let Some((hash, order_id)) = self
            .store
            .order_for_key(scope, &req.idempotency_key)
            .await?
        else {
            return Ok(None);
        };
        if hash != req.request_hash {
            return Err(CheckoutError::KeyReused);
        }
        let order = self
            .store
            .order(order_id)
            .await?
            .ok_or(CheckoutError::NotFound("order"))?;
        Ok(Some(self.placed(who, order, true)))
    }

    fn placed(&self, who: &CartRef, order: Order, replayed: bool) -> Placed {
        let order_token = match who {
            CartRef::Guest(token) => Some(self.order_token(token, order.id)),
            CartRef::User { .. } => None,
        };
        Placed {
            order,
            order_token,
            replayed,
        }
    }

    /// A guest's order token: derived from their (secret) cart token and
    /// the order id, so only the cart's holder can know it.
    fn order_token(&self, cart_token: &str, order_id: Uuid) -> String {
        (self.config.tokens.hash)(&format!("order-token:{cart_token}:{order_id}"))
    }
}
