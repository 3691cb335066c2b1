//! Refunds of card-paid orders, and the worker's retries of refunds whose
//! provider call did not answer.

use uuid::Uuid;

use super::policy::ms;
use super::service::{PaymentError, PaymentService};
use super::{NewRefund, RefundJob, RefundOutcome, RefundRequest, RefundSettlement, RefundStart};
use super::{Payments, ProviderError};
use crate::ports::{OrderStore, PaymentStore, RefundStore};
use crate::ValidationError;

impl<S: OrderStore + PaymentStore + RefundStore> PaymentService<S> {
    /// Refunds all (`amount` none) or part of a card-paid order.
    pub async fn refund(
        &self,
        order_id: Uuid,
        amount: Option<i64>,
        reason: Option<String>,
        actor: &str,
    ) -> Result<RefundOutcome, PaymentError> {
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
            RefundStart::NotFound => return Err(PaymentError::NotFound("order")),
            RefundStart::NotRefundable { status } => {
                return Err(PaymentError::NotRefundable { status })
            }
            RefundStart::TooMuch { remaining } => {
                return Err(PaymentError::RefundTooLarge { remaining })
            }
        };
        let refund = self.attempt_refund(payments, &job).await?;
        if let RefundSettlement::Failed { message } = refund {
            return Err(PaymentError::PaymentRefused(message));
        }
        let order = self
            .store
            .order(order_id)
            .await?
            .ok_or(PaymentError::NotFound("order"))?;
        let refund = order
            .refunds
            .iter()
            .find(|r| r.id == id)
            .cloned()
            .ok_or(PaymentError::NotFound("refund"))?;
        Ok(RefundOutcome { refund, order })
    }

    async fn attempt_refund(
        &self,
        payments: &Payments,
        job: &RefundJob,
    ) -> Result<RefundSettlement, PaymentError> {
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
    pub async fn drain_refunds(&self) -> Result<usize, PaymentError> {
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
