//! Charging an intent — the one place money moves — and writing an
//! intent back only if it still has the status it was read with. A decline
//! leaves a failed charge and `last_payment_error`; a success leaves the
//! intent `succeeded` (or `requires_capture`); both record their event.

use sqlx::SqliteConnection;

use super::events::record_event;
use super::intents::ConfirmOutcome;
use super::LedgerError;
use crate::model::{
    new_id, now, CaptureMethod, Charge, IntentStatus, PaymentIntent, PaymentMethod,
};
use crate::stripe_error::StripeError;

/// Charges `pm` for the whole intent: the one place money moves.
pub(super) async fn charge(
    conn: &mut SqliteConnection,
    mut intent: PaymentIntent,
    pm: PaymentMethod,
) -> Result<ConfirmOutcome, LedgerError> {
    let from = intent.status;
    if pm.behavior() == crate::cards::Behavior::RequiresAction {
        // 3-D Secure: no charge until the customer authenticates, which
        // the simulator leaves to the caller (confirm again or cancel).
        intent.status = IntentStatus::RequiresAction;
        intent.payment_method = Some(pm.id.clone());
        save(conn, &intent, from).await?;
        record_event(conn, "payment_intent.requires_action", intent.to_json()).await?;
        return Ok(ConfirmOutcome::Done(intent));
    }
    let decline = pm.behavior().decline();
    let manual = intent.capture_method == CaptureMethod::Manual;
    let charge = Charge {
        id: new_id("ch"),
        payment_intent: intent.id.clone(),
        payment_method: pm.id.clone(),
        amount: intent.amount,
        amount_captured: if decline.is_none() && !manual {
            intent.amount
        } else {
            0
        },
        amount_refunded: 0,
        currency: intent.currency.clone(),
        status: if decline.is_none() {
            "succeeded"
        } else {
            "failed"
        }
        .into(),
        captured: decline.is_none() && !manual,
        failure_code: decline.map(|(code, decline_code, _)| decline_code.unwrap_or(code).into()),
        failure_message: decline.map(|(_, _, message)| message.into()),
        created: now(),
    };
    insert_charge(conn, &charge).await?;
    intent.latest_charge = Some(charge.id.clone());
    if decline.is_some() {
        let error = StripeError::decline(pm.behavior(), &charge.id, &pm);
        intent.status = IntentStatus::RequiresPaymentMethod;
        intent.payment_method = None;
        intent.last_payment_error = Some(error.to_object());
        save(conn, &intent, from).await?;
        record_event(conn, "payment_intent.payment_failed", intent.to_json()).await?;
        return Ok(ConfirmOutcome::Declined {
            intent,
            charge: Box::new(charge),
            payment_method: Box::new(pm),
        });
    }
    intent.payment_method = Some(pm.id.clone());
    intent.last_payment_error = None;
    let event = if manual {
        intent.status = IntentStatus::RequiresCapture;
        intent.amount_capturable = intent.amount;
        "payment_intent.amount_capturable_updated"
    } else {
        intent.status = IntentStatus::Succeeded;
        intent.amount_received = intent.amount;
        "payment_intent.succeeded"
    };
    save(conn, &intent, from).await?;
    record_event(conn, event, intent.to_json()).await?;
    Ok(ConfirmOutcome::Done(intent))
}

/// Records a charge, succeeded or failed.
async fn insert_charge(conn: &mut SqliteConnection, charge: &Charge) -> Result<(), LedgerError> {
    sqlx::query(
        "INSERT INTO charges (id, payment_intent, payment_method, amount, amount_captured, \
         currency, status, captured, failure_code, failure_message, created) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&charge.id)
    .bind(&charge.payment_intent)
    .bind(&charge.payment_method)
    .bind(charge.amount)
    .bind(charge.amount_captured)
    .bind(&charge.currency)
    .bind(&charge.status)
    .bind(charge.captured)
    .bind(&charge.failure_code)
    .bind(&charge.failure_message)
    .bind(charge.created)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Writes the intent's mutable fields, provided it still has status `from`.
pub(super) async fn save(
    conn: &mut SqliteConnection,
    intent: &PaymentIntent,
    from: IntentStatus,
) -> Result<(), LedgerError> {
    let error = intent
        .last_payment_error
        .as_ref()
        .map(serde_json::to_string)
        .transpose()?;
    let done = sqlx::query(
        "UPDATE payment_intents SET status = ?, payment_method = ?, amount_capturable = ?, \
         amount_received = ?, latest_charge = ?, last_payment_error = ?, \
         cancellation_reason = ?, canceled_at = ? WHERE id = ? AND status = ?",
    )
    .bind(intent.status.as_str())
    .bind(&intent.payment_method)
    .bind(intent.amount_capturable)
    .bind(intent.amount_received)
    .bind(&intent.latest_charge)
    .bind(error)
    .bind(&intent.cancellation_reason)
    .bind(intent.canceled_at)
    .bind(&intent.id)
    .bind(from.as_str())
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() != 1 {
        return Err(LedgerError::Db(format!("{} changed underneath", intent.id)));
    }
    Ok(())
}
