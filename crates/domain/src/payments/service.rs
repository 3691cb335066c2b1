//! Paying for orders, the payment queue, refunds and the provider's
//! webhooks, on the [`Shop`].
//!
//! A payment is recorded (`processing`, leased) before the provider is
//! asked, with an idempotency key derived from its id, and settled with the
//! answer. When the provider cannot be reached after the client's retries
//! the payment is `queued`: the customer is told it is pending and the
//! worker ([`Shop::drain_payments`]) asks again with the same key, with
//! exponential backoff, until the provider answers — so a payment is never
//! lost (a crash leaves it `processing`; its lease runs out and the worker
//! takes it) and never charged twice (the provider replays the first
//! answer for the key). Webhooks settle payments whose answer we missed.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use uuid::Uuid;

use super::{
    ChargeOutcome, ChargeRequest, NewPayment, NewRefund, PaymentAnomaly, PaymentJob,
    PaymentProvider, PaymentStatus, ProviderError, ProviderEvent, QueueStats, Refund, RefundJob,
    RefundRequest, RefundSettlement, RefundStart, Settlement, StartOutcome,
};
use crate::orders::{Order, OrderStatus, OrderViewer};
use crate::ports::{CommerceStore, PaymentStore, RefundStore};
use crate::shop::{Shop, ShopError};
use crate::{Currency, ValidationError};

/// How patient the shop is with payments.
#[derive(Debug, Clone)]
pub struct PaymentPolicy {
    /// How long one request to the provider (with its retries) may own a
    /// payment before the worker may ask again: longer than the client's
    /// total time with every retry.
    pub lease: Duration,
    /// The queue's first backoff; doubled per attempt up to `retry_max`,
    /// with jitter.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// A queued payment older than this fails (the provider keeps
    /// idempotency keys for 24 hours).
    pub give_up_after: Duration,
    /// Payments one order may have (declines included): a card-testing guard.
    pub max_per_order: u32,
    /// After a decline, the order stays payable at least this long.
    pub decline_grace: Duration,
    /// A payment the provider still reports `processing` after this long
    /// fails (the order is released): an order does not hold its stock
    /// for the whole of `give_up_after` on the provider's say-so. Should
    /// the provider succeed later, the webhook is recorded as an anomaly
    /// for staff to refund.
    pub processing_timeout: Duration,
    /// Payments (or refunds) the worker claims at once, and how many of
    /// them it asks the provider about concurrently.
    pub batch: u32,
    pub concurrency: usize,
}

impl Default for PaymentPolicy {
    fn default() -> Self {
        PaymentPolicy {
            lease: Duration::from_secs(60),
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(30),
            give_up_after: Duration::from_secs(23 * 3600),
            max_per_order: 10,
            decline_grace: Duration::from_secs(300),
            processing_timeout: Duration::from_secs(900),
            batch: 64,
            concurrency: 16,
        }
    }
}

/// The provider and the policy, when payments are on.
#[derive(Clone)]
pub struct Payments {
    pub provider: Arc<dyn PaymentProvider>,
    pub policy: PaymentPolicy,
}

impl std::fmt::Debug for Payments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payments")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
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

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

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

impl<S: CommerceStore + PaymentStore + RefundStore> Shop<S> {
    fn payments(&self) -> Result<&Payments, ShopError> {
        self.payments.as_ref().ok_or(ShopError::PaymentsDisabled)
    }

    /// Pays the viewer's unpaid order with a provider token. A declined
    /// card is [`ShopError::PaymentDeclined`] and the order stays payable.
    pub async fn pay(
        &self,
        viewer: &OrderViewer,
        order_id: Uuid,
        payment_token: &str,
    ) -> Result<PayOutcome, ShopError> {
        let payments = self.payments()?;
        check_token(payment_token)?;
        let order = self.order_for(viewer, order_id).await?;
        if order.status != OrderStatus::PendingPayment {
            return Err(ShopError::NotPayable {
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
            StartOutcome::NotFound => return Err(ShopError::NotFound("order")),
            StartOutcome::NotPayable { status } => return Err(ShopError::NotPayable { status }),
            StartOutcome::InProgress => return Err(ShopError::PaymentInProgress),
            StartOutcome::TooManyAttempts => {
                return Err(ShopError::TooManyPaymentAttempts {
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
            return Err(ShopError::Store(crate::StoreError::Internal(format!(
                "payment {id} succeeded but order {order_id} could not take it"
            ))));
        }
        // The order as it is now, with this payment among its own.
        let order = self
            .store
            .order(order_id)
            .await?
            .ok_or(ShopError::NotFound("order"))?;
        let payment = order
            .payments
            .iter()
            .find(|p| p.id == id)
            .cloned()
            .ok_or(ShopError::NotFound("payment"))?;
        match payment.status {
            PaymentStatus::Succeeded => Ok(PayOutcome::Paid(order)),
            PaymentStatus::Processing | PaymentStatus::Queued => Ok(PayOutcome::Pending(order)),
            PaymentStatus::Declined => Err(ShopError::PaymentDeclined {
                code: payment
                    .decline_code
                    .unwrap_or_else(|| "card_declined".into()),
                message: payment
                    .message
                    .unwrap_or_else(|| "the card was declined".into()),
            }),
            PaymentStatus::Failed => {
                Err(ShopError::PaymentRefused(payment.message.unwrap_or_else(
                    || "the payment provider refused the payment".into(),
                )))
            }
        }
    }

    /// Asks the provider to charge a payment this caller owns (it recorded
    /// or claimed it) and settles it with the answer; also answers whether
    /// it was orphaned (see [`Settled::orphaned`](super::Settled)).
    async fn attempt(
        &self,
        payments: &Payments,
        job: &PaymentJob,
    ) -> Result<(Settlement, bool), ShopError> {
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
                .map_err(|e| ShopError::Validation(vec![e]))?;
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
    ) -> (&'a PaymentJob, Result<(Settlement, bool), ShopError>) {
        (job, self.attempt(payments, job).await)
    }

    /// One pass of the payment worker: claims the payments that are due
    /// and asks the provider about each (a few at a time). Safe on several
    /// instances at once: a claim hands a payment to one of them.
    pub async fn drain_payments(&self) -> Result<DrainReport, ShopError> {
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
    ) -> Result<Vec<PaymentAnomaly>, ShopError> {
        Ok(self.store.anomalies(order_id).await?)
    }

    /// The payment queue (and pending refunds) at a glance.
    pub async fn payment_queue(&self) -> Result<QueueStats, ShopError> {
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
    ) -> Result<Reconciled, ShopError> {
        let mut done = Reconciled::default();
        if self.store.event_recorded(event_id).await? {
            done.duplicate = true;
            return Ok(done);
        }
        let policy = &self.payments()?.policy;
        let settlement = match &event {
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
        };
        if let Some((payment_id, reference, settlement)) = settlement {
            let payment = match payment_id {
                Some(id) => self.store.payment(id).await?,
                None => None,
            };
            let payment = match payment {
                Some(p) => Some(p),
                None => self.store.payment_by_reference(reference).await?,
            };
            if let Some(payment) = payment {
                done.payment_id = Some(payment.id);
                if let ProviderEvent::PaymentSucceeded {
                    reference,
                    amount,
                    currency,
                    ..
                } = &event
                {
                    if let Some((reason, detail)) = PaymentAnomaly::of_success(
                        &payment,
                        reference,
                        *amount,
                        currency.as_deref(),
                    ) {
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
                        done.anomaly = Some(anomaly);
                        done.duplicate =
                            !self.store.record_event(event_id, kind, self.now()).await?;
                        return Ok(done);
                    }
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

    /// Refunds all (`amount` none) or part of a card-paid order.
    pub async fn refund(
        &self,
        order_id: Uuid,
        amount: Option<i64>,
        reason: Option<String>,
        actor: &str,
    ) -> Result<RefundOutcome, ShopError> {
        let payments = self.payments()?;
        if amount.is_some_and(|a| a <= 0) {
            return Err(
                ValidationError::new("amount", "must be a positive amount in minor units").into(),
            );
        }
        let reason = reason
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty());
        if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
            return Err(ValidationError::new("reason", "must be at most 500 characters").into());
        }
        let id = Uuid::now_v7();
        let now = self.now();
        let new = NewRefund {
            id,
            order_id,
            amount,
            reason,
            actor: actor.to_owned(),
            idempotency_key: format!("refund_{}", id.simple()),
            lease_until: now.saturating_add(ms(payments.policy.lease)),
            created_at: now,
        };
        let job = match self.store.start_refund(&new).await? {
            RefundStart::Started(job) => job,
            RefundStart::NotFound => return Err(ShopError::NotFound("order")),
            RefundStart::NotRefundable { status } => {
                return Err(ShopError::NotRefundable { status })
            }
            RefundStart::TooMuch { remaining } => {
                return Err(ShopError::RefundTooLarge { remaining })
            }
        };
        let refund = self.attempt_refund(payments, &job).await?;
        if let RefundSettlement::Failed { message } = refund {
            return Err(ShopError::PaymentRefused(message));
        }
        let order = self
            .store
            .order(order_id)
            .await?
            .ok_or(ShopError::NotFound("order"))?;
        let refund = order
            .refunds
            .iter()
            .find(|r| r.id == id)
            .cloned()
            .ok_or(ShopError::NotFound("refund"))?;
        Ok(RefundOutcome { refund, order })
    }

    async fn attempt_refund(
        &self,
        payments: &Payments,
        job: &RefundJob,
    ) -> Result<RefundSettlement, ShopError> {
        let policy = &payments.policy;
        let age = self.now().saturating_sub(job.created_at);
        if age > ms(policy.give_up_after) {
            // Past the provider's idempotency window a retry could refund
            // twice: stop, and let staff look (the provider caps refunds at
            // what was captured in any case).
            let settlement = RefundSettlement::Failed {
                message: "the payment provider could not be reached in time; check the refund at the provider before trying again".into(),
            };
            self.store
                .settle_refund(job.id, &settlement, self.now())
                .await?;
            return Ok(settlement);
        }
        let answer = payments
            .provider
            .refund(RefundRequest {
                reference: job.payment_reference.clone(),
                amount: Some(job.amount),
                idempotency_key: job.idempotency_key.clone(),
            })
            .await;
        let settlement = match answer {
            Ok(reference) => RefundSettlement::Succeeded { reference },
            Err(ProviderError::Rejected(message)) => RefundSettlement::Failed { message },
            // Back off with the refund's age: a quarter of it, within the
            // queue's bounds (no attempt counter needed).
            Err(ProviderError::Unavailable(error)) => RefundSettlement::Retry {
                error,
                next_attempt_at: self
                    .now()
                    .saturating_add((age / 4).clamp(ms(policy.retry_base), ms(policy.retry_max))),
            },
        };
        self.store
            .settle_refund(job.id, &settlement, self.now())
            .await?;
        Ok(settlement)
    }

    /// Retries pending refunds whose provider call did not answer; returns
    /// how many were claimed.
    pub async fn drain_refunds(&self) -> Result<usize, ShopError> {
        let payments = self.payments()?;
        let now = self.now();
        let jobs = self
            .store
            .claim_refunds(
                now,
                now.saturating_add(ms(payments.policy.lease)),
                payments.policy.batch,
            )
            .await?;
        for job in &jobs {
            self.attempt_refund(payments, job).await?;
        }
        Ok(jobs.len())
    }
}

/// The queue's backoff before attempt `attempts + 1`: base × 2^(attempts−1),
/// capped, with jitter in [½, 1] so that a recovered provider is not hit by
/// every queued payment at once.
fn backoff(policy: &PaymentPolicy, attempts: u32) -> i64 {
    let exp = attempts.saturating_sub(1).min(20);
    let raw = policy
        .retry_base
        .saturating_mul(1u32 << exp)
        .min(policy.retry_max);
    ms(raw.mul_f64(0.5 + fastrand::f64() / 2.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_and_card_numbers_refused() {
        for ok in ["pm_1AbC", "tok_visa", "pm_card_visa"] {
            assert!(check_token(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "pm",
            "pm 1",
            "pm_ü",
            &"x".repeat(256),
            "4242424242424242",
            "4242 4242 4242 4242",
            "4242-4242-4242-4242",
        ] {
            assert!(check_token(bad).is_err(), "{bad}");
        }
        let err = check_token("4242424242424242").unwrap_err();
        assert!(!err.message.contains("4242"));
        assert!(err.message.contains("card number"));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        let policy = PaymentPolicy {
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(8),
            ..PaymentPolicy::default()
        };
        for (attempts, full) in [(1, 1_000), (2, 2_000), (3, 4_000), (4, 8_000), (9, 8_000)] {
            for _ in 0..50 {
                let b = backoff(&policy, attempts);
                assert!((full / 2..=full).contains(&b), "{attempts}: {b}");
            }
        }
    }
}
