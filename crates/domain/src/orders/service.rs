//! Checkout, orders and stock: pricing an order from the cart, placing it
//! with an Idempotency-Key, showing orders only to their owner (guests by
//! their order token), moving orders through the state machine, cancelling
//! unpaid orders when their payment window ends, and staff stock changes.

use uuid::Uuid;

use super::{
    Address, AddressInput, Idempotency, NewOrder, Order, OrderFilter, OrderLine, OrderOwner,
    OrderStatus, OrderSummary, PlaceOutcome, TransitionOutcome,
};
use crate::cart::CartRef;
use crate::identity::Email;
use crate::inventory::{StockChange, StockChangeOutcome, StockLevel, StockMovement, MAX_ON_HAND};
use crate::ports::CommerceStore;
use crate::shop::{Shop, ShopError};
use crate::ValidationError;

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

/// Who asks to see or change an order.
#[derive(Debug, Clone)]
pub enum OrderViewer {
    User {
        user_id: Uuid,
        admin: bool,
    },
    /// A guest presenting the order token from their checkout.
    Guest(String),
}

impl<S: CommerceStore> Shop<S> {
    /// Turns the caller's cart into an order in `pending_payment`,
    /// reserving its stock and emptying the cart, atomically. The same
    /// Idempotency-Key with the same body returns the same order.
    pub async fn checkout(&self, who: &CartRef, req: CheckoutRequest) -> Result<Placed, ShopError> {
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
            return Err(ShopError::Validation(errors));
        };
        if !errors.is_empty() {
            return Err(ShopError::Validation(errors));
        }
        let cart_id = self.cart_id(who).await?;
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
            return Err(ShopError::EmptyCart);
        }
        if let Some(l) = lines.iter().find(|l| l.archived) {
            return Err(ShopError::ProductUnavailable {
                product_id: l.product_id,
            });
        }
        let pricing = &self.config.pricing;
        let tax_bp = pricing.tax_bp(Some(&address.country), address.region.as_deref());
        // Exact totals, and no more than one payment may take: an order
        // that could never be paid must not hold stock.
        let max = crate::MAX_AMOUNT;
        let totals = pricing
            .totals(
                lines.iter().map(|l| (l.unit_price, l.quantity)),
                Some(method),
                tax_bp,
            )
            .map_err(|_| ShopError::TotalTooLarge { total: None, max })?;
        let totals = totals.payable().map_err(|_| ShopError::TotalTooLarge {
            total: Some(totals.total),
            max,
        })?;
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
            _ => return Err(ShopError::Validation(errors)),
        };
        let window = i64::try_from(self.config.payment_window.as_millis()).unwrap_or(i64::MAX);
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
        match self.store.place_order(&new).await? {
            PlaceOutcome::Created(order) => Ok(Placed {
                order: *order,
                order_token,
                replayed: false,
            }),
            PlaceOutcome::Replayed(order) => Ok(self.placed(who, *order, true)),
            PlaceOutcome::KeyReused => Err(ShopError::KeyReused),
            PlaceOutcome::CartChanged => Err(ShopError::CartChanged),
            PlaceOutcome::PriceChanged(changes) => Err(ShopError::PriceChanged(changes)),
            PlaceOutcome::Unavailable { product_id } => {
                Err(ShopError::ProductUnavailable { product_id })
            }
            PlaceOutcome::OutOfStock {
                product_id,
                requested,
                available,
            } => Err(ShopError::OutOfStock {
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
    async fn check_unpaid_orders(&self, user_id: Uuid) -> Result<(), ShopError> {
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
            return Err(ShopError::TooManyUnpaidOrders { max });
        }
        Ok(())
    }

    /// A checkout already made with this key (the cart may be empty by now).
    async fn replay(
        &self,
        who: &CartRef,
        scope: &str,
        req: &CheckoutRequest,
    ) -> Result<Option<Placed>, ShopError> {
        let Some((hash, order_id)) = self
            .store
            .order_for_key(scope, &req.idempotency_key)
            .await?
        else {
            return Ok(None);
        };
        if hash != req.request_hash {
            return Err(ShopError::KeyReused);
        }
        let order = self
            .store
            .order(order_id)
            .await?
            .ok_or(ShopError::NotFound("order"))?;
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

    /// An order the viewer may see; anyone else's is "not found".
    pub async fn order_for(&self, viewer: &OrderViewer, id: Uuid) -> Result<Order, ShopError> {
        let order = self
            .store
            .order(id)
            .await?
            .ok_or(ShopError::NotFound("order"))?;
        let allowed = match (viewer, &order.owner) {
            (OrderViewer::User { admin: true, .. }, _) => true,
            (OrderViewer::User { user_id, .. }, OrderOwner::User(owner)) => user_id == owner,
            (OrderViewer::Guest(token), OrderOwner::Guest { token_hash, .. }) => {
                !token.is_empty()
                    && token.len() <= 128
                    && (self.config.tokens.hash)(token) == *token_hash
            }
            _ => false,
        };
        if allowed {
            Ok(order)
        } else {
            Err(ShopError::NotFound("order"))
        }
    }

    /// A user's orders, newest first.
    pub async fn orders_of(
        &self,
        user_id: Uuid,
        before: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<OrderSummary>, ShopError> {
        let filter = OrderFilter {
            status: None,
            user_id: Some(user_id),
            before,
            limit: limit.clamp(1, 100),
        };
        Ok(self.store.list_orders(&filter).await?)
    }

    /// Every order, for staff.
    pub async fn list_orders(&self, filter: OrderFilter) -> Result<Vec<OrderSummary>, ShopError> {
        let filter = OrderFilter {
            limit: filter.limit.clamp(1, 100),
            ..filter
        };
        Ok(self.store.list_orders(&filter).await?)
    }

    /// Cancels an unpaid order of the viewer's, releasing its stock.
    pub async fn cancel(&self, viewer: &OrderViewer, id: Uuid) -> Result<Order, ShopError> {
        let order = self.order_for(viewer, id).await?;
        let (actor, reason) = match viewer {
            OrderViewer::User {
                user_id,
                admin: true,
            } => (format!("admin:{user_id}"), "cancelled by staff"),
            OrderViewer::User { user_id, .. } => {
                (format!("user:{user_id}"), "cancelled by the customer")
            }
            OrderViewer::Guest(_) => ("guest".into(), "cancelled by the customer"),
        };
        self.transition(&order, OrderStatus::Cancelled, &actor, Some(reason))
            .await
    }

    /// Moves an order along the state machine (staff: fulfil, record an
    /// offline payment). Illegal moves are refused.
    pub async fn advance(
        &self,
        id: Uuid,
        to: OrderStatus,
        actor: &str,
        reason: Option<&str>,
    ) -> Result<Order, ShopError> {
        let order = self
            .store
            .order(id)
            .await?
            .ok_or(ShopError::NotFound("order"))?;
        self.transition(&order, to, actor, reason).await
    }

    async fn transition(
        &self,
        order: &Order,
        to: OrderStatus,
        actor: &str,
        reason: Option<&str>,
    ) -> Result<Order, ShopError> {
        if !order.status.can_become(to) {
            return Err(ShopError::IllegalTransition {
                from: order.status,
                to,
            });
        }
        if order.payment_in_flight().is_some() {
            return Err(ShopError::PaymentInProgress);
        }
        match self
            .store
            .transition_order(order.id, order.status, to, actor, reason, self.now())
            .await?
        {
            TransitionOutcome::Done(o) => Ok(*o),
            TransitionOutcome::Refused { current } => {
                Err(ShopError::IllegalTransition { from: current, to })
            }
            TransitionOutcome::PaymentInFlight => Err(ShopError::PaymentInProgress),
            TransitionOutcome::NotFound => Err(ShopError::NotFound("order")),
        }
    }

    /// Cancels unpaid orders whose payment window has ended, releasing
    /// their stock; returns how many. Safe to run on several instances:
    /// each cancellation is a conditional update.
    pub async fn expire_unpaid(&self) -> Result<usize, ShopError> {
        let mut cancelled = 0;
        for id in self.store.expired_orders(self.now(), 500).await? {
            let done = self
                .store
                .transition_order(
                    id,
                    OrderStatus::PendingPayment,
                    OrderStatus::Cancelled,
                    "system",
                    Some("payment window expired"),
                    self.now(),
                )
                .await?;
            if matches!(done, TransitionOutcome::Done(_)) {
                cancelled += 1;
            }
        }
        Ok(cancelled)
    }

    /// Sets or adjusts a product's stock on hand, with a reason for the
    /// audit trail: never below what unpaid orders reserve (nor 0), never
    /// above [`MAX_ON_HAND`].
    pub async fn change_stock(
        &self,
        product_id: Uuid,
        change: StockChange,
        reason: &str,
        actor: &str,
    ) -> Result<StockLevel, ShopError> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(ValidationError::new("reason", "is required (1 to 500 characters)").into());
        }
        // The request alone: a count or delta no product may have, named
        // by its own field. What the change would make of the stock is the
        // store's to check, atomically.
        let max = i64::from(MAX_ON_HAND);
        let (field, in_range) = match change {
            StockChange::Set(n) => ("on_hand", n <= MAX_ON_HAND),
            StockChange::Adjust(d) => ("delta", (-max..=max).contains(&d)),
        };
        if !in_range {
            let message = match change {
                StockChange::Set(_) => format!("must be at most {MAX_ON_HAND}"),
                StockChange::Adjust(_) => format!("must be from -{max} to {max}"),
            };
            return Err(ValidationError::new(field, message).into());
        }
        match self
            .store
            .change_stock(product_id, change, reason, actor, self.now())
            .await?
        {
            StockChangeOutcome::Changed(level) => Ok(level),
            StockChangeOutcome::UnknownProduct => Err(ShopError::NotFound("product")),
            StockChangeOutcome::BelowReserved {
                on_hand,
                reserved,
                requested_on_hand,
            } => Err(ShopError::StockBelowReserved {
                field,
                on_hand,
                reserved,
                requested_on_hand,
            }),
            StockChangeOutcome::AboveMaximum {
                on_hand,
                requested_on_hand,
            } => Err(ShopError::StockAboveMaximum {
                field,
                on_hand,
                requested_on_hand,
                max: MAX_ON_HAND,
            }),
        }
    }

    /// Whether a product exists, archived or not.
    pub async fn product_exists(&self, product_id: Uuid) -> Result<bool, ShopError> {
        Ok(self.store.sellable(product_id).await?.is_some())
    }

    /// Gives products that have no stock record yet one with nothing on
    /// hand (products just created by staff); returns how many.
    pub async fn stock_new_products(&self) -> Result<u64, ShopError> {
        Ok(self.store.stock_unstocked(0, self.now()).await?)
    }

    pub async fn stock(
        &self,
        product_id: Uuid,
    ) -> Result<(StockLevel, Vec<StockMovement>), ShopError> {
        let level = self.store.stock(product_id).await?;
        let level = match level {
            Some(l) => l,
            None => {
                self.store
                    .sellable(product_id)
                    .await?
                    .ok_or(ShopError::NotFound("product"))?
                    .stock
            }
        };
        Ok((level, self.store.stock_movements(product_id, 50).await?))
    }
}
