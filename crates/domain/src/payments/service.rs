//! Paying for orders, the payment queue, refunds and the provider's
//! webhooks, as the [`PaymentService`].
//!
//! A payment is recorded (`processing`, leased) before the provider is
//! asked, with an idempotency key derived from its id, and settled with the
//! answer. When the provider cannot be reached after the client's retries
//! the payment is `queued`: the customer is told it is pending and the
//! worker ([`PaymentService::drain_payments`]) asks again with the same key, with
//! exponential backoff, until the provider answers — so a payment is never
//! lost (a crash leaves it `processing`; its lease runs out and the worker
//! takes it) and never charged twice (the provider replays the first
//! answer for the key). Webhooks settle payments whose answer we missed.

use std::sync::Arc;

use futures::StreamExt;
use uuid::Uuid;

use super::policy::{backoff, ms};
use super::Payments;
use super::{
    ChargeOutcome, ChargeRequest, DrainReport, NewPayment, PayOutcome, Payment, PaymentAnomaly,
    PaymentJob, PaymentStatus, ProviderError, ProviderEvent, QueueStats, Reconciled, Settlement,
    StartOutcome,
};
use crate::orders::{OrderError, OrderService};
use crate::orders::{OrderStatus, OrderViewer};
use crate::ports::{OrderStore, PaymentStore, RefundStore};
use crate::shop::ShopConfig;
use crate::{Currency, StoreError, ValidationError};

/// A provider token: what Stripe-like providers issue (`pm_…`, `tok_…`).
/// Anything that looks like a card number is refused without echoing it.
fn check_token(token: &str) -> Result<(), ValidationError> {
    let digits = token.chars().filter(char::is_ascii_digit).count();
    if digits >= 12
        && token
            .chars()
            .all(|c| c.is_ascii_digit() || c == ' ' || c == '-')
    {
        return Err(ValidationError::new(
            "payment_token",
            "looks like a card number: send the token the payment provider gave for the card, never card data",
        ));
    }
    let ok = (3..=255).contains(&token.len())
        && token.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        return Err(ValidationError::new(
            "payment_token",
            "must be the provider's token for the card (3 to 255 letters, digits or _)",
        ));
    }
    Ok(())
}

/// What can go wrong paying for or refunding an order.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PaymentError {
    #[error("validation failed")]
    Validation(Vec<ValidationError>),
    /// 404: also for things that exist but are not the caller's, so ids
    /// cannot be probed.
    #[error("{0} not found")]
    NotFound(&'static str),
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

impl From<ValidationError> for PaymentError {
    fn from(e: ValidationError) -> Self {
        PaymentError::Validation(vec![e])
    }
}

impl From<OrderError> for PaymentError {
    fn from(e: OrderError) -> Self {
        match e {
            OrderError::NotFound(what) => PaymentError::NotFound(what),
            OrderError::IllegalTransition { from, .. } => PaymentError::NotPayable { status: from },
            OrderError::PaymentInProgress => PaymentError::PaymentInProgress,
            OrderError::Store(e) => PaymentError::Store(e),
        }
    }
}

/// Paying for orders, the payment queue, webhooks and refunds.
pub struct PaymentService<S> {
    orders: OrderService<S>,
    pub(crate) store: S,
    pub(crate) config: Arc<ShopConfig>,
    /// None: payments are off (only staff can mark orders paid).
    payments: Option<Payments>,
}

impl<S: Clone> PaymentService<S> {
    pub(crate) fn new(orders: OrderService<S>, payments: Option<Payments>) -> PaymentService<S> {
        PaymentService {
            store: orders.store.clone(),
            config: orders.config.clone(),
            orders,
            payments,
        }
    }
}

impl<S> PaymentService<S> {
    pub fn enabled(&self) -> bool {
        self.payments.is_some()
    }

    pub(crate) fn now(&self) -> i64 {
        self.config.clock.now_ms()
    }

    pub(crate) fn payments(&self) -> Result<&Payments, PaymentError> {
        self.payments.as_ref().ok_or(PaymentError::PaymentsDisabled)
    }
}

impl<S: OrderStore + PaymentStore + RefundStore> PaymentService<S> {
    /// Pays the viewer's unpaid order with a provider token. A declined
    /// card is [`PaymentError::PaymentDeclined`] and the order stays payable.
    pub async fn pay(
        &self,
        viewer: &OrderViewer,
        order_id: Uuid,
        payment_token: &str,
    ) -> Result<PayOutcome, PaymentError> {
        let payments = self.payments()?;
        check_token(payment_token)?;
        let order = self.orders.order_for(viewer, order_id).await?;
        if order.status != OrderStatus::PendingPayment {
            return Err(PaymentError::NotPayable {
                status: order.status,
            });
        }
        let id = Uuid::now_v7();
        let now = self.now();
        let new = NewPayment {
            id,
            order_id,
            amount: order.totals.total,
            currency: order.currency.clone(),
            payment_token: payment_token.to_owned(),
            idempotency_key: format!("pay_{}", id.simple()),
            lease_until: now.saturating_add(ms(payments.policy.lease)),
            created_at: now,
            max_per_order: payments.policy.max_per_order,
        };
        match self.store.start_payment(&new).await? {
            StartOutcome::Started => {}
            StartOutcome::NotFound => return Err(PaymentError::NotFound("order")),
            StartOutcome::NotPayable { status } => return Err(PaymentError::NotPayable { status }),
            StartOutcome::InProgress => return Err(PaymentError::PaymentInProgress),
            StartOutcome::TooManyAttempts => {
                return Err(PaymentError::TooManyPaymentAttempts {
                    max: payments.policy.max_per_order,
                })
            }
        }
        let job = PaymentJob {
            id,
            order_id,
            amount: new.amount,
            currency: new.currency,
            payment_token: new.payment_token,
            idempotency_key: new.idempotency_key,
            attempts: 1,
            created_at: now,
        };
        let (_, orphaned) = self.attempt(payments, &job).await?;
        if orphaned {
            // Impossible while the order marks this payment in flight;
            // reported rather than hidden if the store ever broke that.
            return Err(PaymentError::Store(crate::StoreError::Internal(format!(
                "payment {id} succeeded but order {order_id} could not take it"
            ))));
        }
        self.outcome_of(order_id, id).await
    }

    /// What a payment came to, with its order as it is now (the payment
    /// among its own).
    async fn outcome_of(&self, order_id: Uuid, id: Uuid) -> Result<PayOutcome, PaymentError> {
        let order = self
            .store
            .order(order_id)
            .await?
            .ok_or(PaymentError::NotFound("order"))?;
        let payment = order
            .payments
            .iter()
            .find(|p| p.id == id)
            .cloned()
            .ok_or(PaymentError::NotFound("payment"))?;
        match payment.status {
            PaymentStatus::Succeeded => Ok(PayOutcome::Paid(order)),
            PaymentStatus::Processing | PaymentStatus::Queued => Ok(PayOutcome::Pending(order)),
            PaymentStatus::Declined => Err(PaymentError::PaymentDeclined {
                code: payment
                    .decline_code
                    .unwrap_or_else(|| "card_declined".into()),
                message: payment
                    .message
                    .unwrap_or_else(|| "the card was declined".into()),
            }),
            PaymentStatus::Failed => Err(PaymentError::PaymentRefused(
                payment
                    .message
                    .unwrap_or_else(|| "the payment provider refused the payment".into()),
            )),
        }
    }

    /// Asks the provider to charge a payment this caller owns (it recorded
    /// or claimed it) and settles it with the answer; also answers whether
    /// it was orphaned (see [`Settled::orphaned`](super::Settled)).
    async fn attempt(
        &self,
        payments: &Payments,
        job: &PaymentJob,
    ) -> Result<(Settlement, bool), PaymentError> {
        let policy = &payments.policy;
        let now = self.now();
        let settlement = if now.saturating_sub(job.created_at) > ms(policy.give_up_after) {
            Settlement::Failed {
                message: "the payment provider could not be reached in time; try again".into(),
            }
        } else {
            let currency = job
                .currency
                .parse::<Currency>()
                .map_err(|e| PaymentError::Validation(vec![e]))?;
            let answer = payments
                .provider
                .charge(ChargeRequest {
                    order_id: job.order_id,
                    payment_id: job.id,
                    amount: job.amount,
                    currency,
                    payment_token: job.payment_token.clone(),
                    idempotency_key: job.idempotency_key.clone(),
                })
                .await;
            match answer {
                Ok(ChargeOutcome::Succeeded { reference }) => Settlement::Succeeded { reference },
                Ok(ChargeOutcome::Declined {
                    reference,
                    code,
                    message,
                }) => Settlement::Declined {
                    reference,
                    code,
                    message,
                },
                Ok(ChargeOutcome::Processing { .. })
                    if now.saturating_sub(job.created_at) > ms(policy.processing_timeout) =>
                {
                    Settlement::Failed {
                        message: "the payment provider was still processing the payment; try again"
                            .into(),
                    }
                }
                Ok(ChargeOutcome::Processing { .. }) => Settlement::Retry {
                    error: "the payment provider is processing the payment".into(),
                    next_attempt_at: self.now().saturating_add(backoff(policy, job.attempts)),
                },
                Err(ProviderError::Rejected(message)) => Settlement::Failed { message },
                Err(ProviderError::Unavailable(error)) => Settlement::Retry {
                    error,
                    next_attempt_at: self.now().saturating_add(backoff(policy, job.attempts)),
                },
            }
        };
        let settled = self
            .store
            .settle_payment(job.id, &settlement, ms(policy.decline_grace), self.now())
            .await?;
        Ok((settlement, settled.is_some_and(|s| s.orphaned)))
    }

    async fn attempt_job<'a>(
        &'a self,
        payments: &'a Payments,
        job: &'a PaymentJob,
    ) -> (&'a PaymentJob, Result<(Settlement, bool), PaymentError>) {
        (job, self.attempt(payments, job).await)
    }

    /// One pass of the payment worker: claims the payments that are due
    /// and asks the provider about each (a few at a time). Safe on several
    /// instances at once: a claim hands a payment to one of them.
    pub async fn drain_payments(&self) -> Result<DrainReport, PaymentError> {
        let payments = self.payments()?;
        let policy = &payments.policy;
        let now = self.now();
        let jobs = self
            .store
            .claim_payments(now, now.saturating_add(ms(policy.lease)), policy.batch)
            .await?;
        let mut report = DrainReport {
            claimed: jobs.len(),
            ..DrainReport::default()
        };
        // A fixed number in flight at once (FuturesUnordered rather than a
        // stream combinator, whose closures trip up `Send` inference).
        let mut waiting = jobs.iter();
        let mut running = futures::stream::FuturesUnordered::new();
        for job in waiting.by_ref().take(policy.concurrency.max(1)) {
            running.push(self.attempt_job(payments, job));
        }
        let mut results = Vec::with_capacity(jobs.len());
        while let Some(done) = running.next().await {
            results.push(done);
            if let Some(job) = waiting.next() {
                running.push(self.attempt_job(payments, job));
            }
        }
        for (job, result) in results {
            let (settlement, orphaned) = result?;
            if orphaned {
                report.orphaned.push((job.id, job.order_id));
            }
            match settlement {
                Settlement::Succeeded { .. } => report.succeeded += 1,
                Settlement::Declined { .. } => report.declined += 1,
                Settlement::Failed { .. } => report.failed += 1,
                Settlement::Retry { .. } => report.requeued += 1,
            }
        }
        Ok(report)
    }

    /// The payment anomalies recorded for an order (staff only).
    pub async fn payment_anomalies(
        &self,
        order_id: Uuid,
    ) -> Result<Vec<PaymentAnomaly>, PaymentError> {
        Ok(self.store.anomalies(order_id).await?)
    }

    /// The payment queue (and pending refunds) at a glance.
    pub async fn payment_queue(&self) -> Result<QueueStats, PaymentError> {
        Ok(self.store.queue_stats().await?)
    }

    /// Applies a webhook event from the provider, once: an event id seen
    /// before is ignored. It is recorded after it is applied, so an event
    /// whose processing failed is applied when the provider redelivers it;
    /// two deliveries racing each other both apply it, which changes
    /// nothing the second time (settling is idempotent). A success settles
    /// a payment only if it is what was asked — the provider reference
    /// (when one is stored), the amount and the currency match, and the
    /// payment is not already declined or failed; anything else is a
    /// [`PaymentAnomaly`], recorded for staff and never `paid`.
    pub async fn reconcile(
        &self,
        event_id: &str,
        kind: &str,
        event: ProviderEvent,
    ) -> Result<Reconciled, PaymentError> {
        let mut done = Reconciled::default();
        if self.store.event_recorded(event_id).await? {
            done.duplicate = true;
            return Ok(done);
        }
        let policy = &self.payments()?.policy;
        if let Some((payment_id, reference, settlement)) = settlement_of(&event) {
            if let Some(payment) = self.payment_named(payment_id, reference).await? {
                done.payment_id = Some(payment.id);
                if let Some(anomaly) = self.anomaly_in(event_id, &event, &payment).await? {
                    done.anomaly = Some(anomaly);
                    done.duplicate = !self.store.record_event(event_id, kind, self.now()).await?;
                    return Ok(done);
                }
                if let Some(s) = self
                    .store
                    .settle_payment(
                        payment.id,
                        &settlement,
                        ms(policy.decline_grace),
                        self.now(),
                    )
                    .await?
                {
                    done.changed = s.changed;
                    if s.orphaned {
                        done.orphaned = Some((s.payment.id, s.payment.order_id));
                    }
                }
            }
        }
        done.duplicate = !self.store.record_event(event_id, kind, self.now()).await?;
        Ok(done)
    }

    /// The payment an event names: by our id when the provider echoes it,
    /// else by the provider's reference.
    async fn payment_named(
        &self,
        id: Option<Uuid>,
        reference: &str,
    ) -> Result<Option<Payment>, PaymentError> {
        if let Some(id) = id {
            if let Some(p) = self.store.payment(id).await? {
                return Ok(Some(p));
            }
        }
        Ok(self.store.payment_by_reference(reference).await?)
    }

    /// A success that is not what the payment asked for, recorded for
    /// staff (the payment and the order do not change); none otherwise.
    async fn anomaly_in(
        &self,
        event_id: &str,
        event: &ProviderEvent,
        payment: &Payment,
    ) -> Result<Option<PaymentAnomaly>, PaymentError> {
        let ProviderEvent::PaymentSucceeded {
            reference,
            amount,
            currency,
            ..
        } = event
        else {
            return Ok(None);
        };
        let Some((reason, detail)) =
            PaymentAnomaly::of_success(payment, reference, *amount, currency.as_deref())
        else {
            return Ok(None);
        };
        let anomaly = PaymentAnomaly {
            id: Uuid::now_v7(),
            payment_id: payment.id,
            order_id: payment.order_id,
            event_id: event_id.to_owned(),
            reason: reason.to_owned(),
            detail,
            at: self.now(),
        };
        self.store.record_anomaly(&anomaly).await?;
        Ok(Some(anomaly))
    }
}

/// The payment an event names (our id, the provider's reference) and how
/// it settles it; none for events that settle no payment.
fn settlement_of(event: &ProviderEvent) -> Option<(Option<Uuid>, &str, Settlement)> {
    match event {
        ProviderEvent::PaymentSucceeded {
            reference,
            payment_id,
            ..
        } => Some((
            *payment_id,
            reference,
            Settlement::Succeeded {
                reference: reference.clone(),
            },
        )),
        ProviderEvent::PaymentFailed {
            reference,
            payment_id,
            code,
            message,
        } => Some((
            *payment_id,
            reference,
            Settlement::Declined {
                reference: Some(reference.clone()),
                code: code.clone(),
                message: message.clone(),
            },
        )),
        ProviderEvent::Refunded { .. } | ProviderEvent::Other(_) => None,
    }
}

#[cfg(test)]
mod tests;
