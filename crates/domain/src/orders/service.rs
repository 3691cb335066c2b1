//! Orders after checkout: showing them only to their owner (guests by
//! their order token), moving them through the state machine, and
//! cancelling unpaid ones when their payment window ends.

use std::sync::Arc;

use uuid::Uuid;

use super::{Order, OrderFilter, OrderOwner, OrderStatus, OrderSummary, TransitionOutcome};
use crate::ports::OrderStore;
use crate::shop::ShopConfig;
use crate::StoreError;

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

/// What can go wrong reading or moving an order.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OrderError {
    /// 404: also for things that exist but are not the caller's, so ids
    /// cannot be probed.
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("an order in state {from} cannot become {to}")]
    IllegalTransition { from: OrderStatus, to: OrderStatus },
    #[error("a payment for this order is in progress; wait for its outcome")]
    PaymentInProgress,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Orders: reading them and moving them through their states.
pub struct OrderService<S> {
    pub(crate) store: S,
    pub(crate) config: Arc<ShopConfig>,
}

impl<S: Clone> Clone for OrderService<S> {
    fn clone(&self) -> Self {
        OrderService {
            store: self.store.clone(),
            config: self.config.clone(),
        }
    }
}

impl<S> OrderService<S> {
    pub(crate) fn new(store: S, config: Arc<ShopConfig>) -> OrderService<S> {
        OrderService { store, config }
    }

    fn now(&self) -> i64 {
        self.config.clock.now_ms()
    }
}

impl<S: OrderStore> OrderService<S> {
    /// An order the viewer may see; anyone else's is "not found".
    pub async fn order_for(&self, viewer: &OrderViewer, id: Uuid) -> Result<Order, OrderError> {
        let order = self
            .store
            .order(id)
            .await?
            .ok_or(OrderError::NotFound("order"))?;
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
            Err(OrderError::NotFound("order"))
        }
    }

    /// A user's orders, newest first.
    pub async fn orders_of(
        &self,
        user_id: Uuid,
        before: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<OrderSummary>, OrderError> {
        let filter = OrderFilter {
            status: None,
            user_id: Some(user_id),
            before,
            limit: limit.clamp(1, 100),
        };
        Ok(self.store.list_orders(&filter).await?)
    }

    /// Every order, for staff.
    pub async fn list_orders(&self, filter: OrderFilter) -> Result<Vec<OrderSummary>, OrderError> {
        let filter = OrderFilter {
            limit: filter.limit.clamp(1, 100),
            ..filter
        };
        Ok(self.store.list_orders(&filter).await?)
    }

    /// Cancels an unpaid order of the viewer's, releasing its stock.
    pub async fn cancel(&self, viewer: &OrderViewer, id: Uuid) -> Result<Order, OrderError> {
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
    ) -> Result<Order, OrderError> {
        let order = self
            .store
            .order(id)
            .await?
            .ok_or(OrderError::NotFound("order"))?;
        self.transition(&order, to, actor, reason).await
    }

    async fn transition(
        &self,
        order: &Order,
        to: OrderStatus,
        actor: &str,
        reason: Option<&str>,
    ) -> Result<Order, OrderError> {
        if !order.status.can_become(to) {
            return Err(OrderError::IllegalTransition {
                from: order.status,
                to,
            });
        }
        if order.payment_in_flight().is_some() {
            return Err(OrderError::PaymentInProgress);
        }
        match self
            .store
            .transition_order(order.id, order.status, to, actor, reason, self.now())
            .await?
        {
            TransitionOutcome::Done(o) => Ok(*o),
            TransitionOutcome::Refused { current } => {
                Err(OrderError::IllegalTransition { from: current, to })
            }
            TransitionOutcome::PaymentInFlight => Err(OrderError::PaymentInProgress),
            TransitionOutcome::NotFound => Err(OrderError::NotFound("order")),
        }
    }

    /// Cancels unpaid orders whose payment window has ended, releasing
    /// their stock; returns how many. Safe to run on several instances:
    /// each cancellation is a conditional update.
    pub async fn expire_unpaid(&self) -> Result<usize, OrderError> {
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
}
