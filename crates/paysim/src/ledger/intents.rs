//! PaymentIntents and their charges: create, confirm (charging the card
//! as its test number dictates), capture and cancel, each one transaction
//! that checks the status it starts from and records its event. An
//! intent is charged at most once: only `requires_payment_method` and
//! `requires_confirmation` can be confirmed, and a success leaves them.

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use super::charging::{charge, save};
use super::events::record_event;
use super::methods::{find as find_method, resolve};
use super::{metadata_json, metadata_of, Ledger, LedgerError};
use crate::form::Metadata;
use crate::model::{
    new_id, now, CaptureMethod, Charge, IntentStatus, PaymentIntent, PaymentMethod,
};

const COLUMNS: &str = "id, amount, currency, status, capture_method, payment_method, \
    amount_capturable, amount_received, latest_charge, last_payment_error, metadata, \
    description, client_secret, cancellation_reason, canceled_at, created";

pub struct NewIntent {
    pub amount: i64,
    pub currency: String,
    pub capture_method: CaptureMethod,
    pub payment_method: Option<String>,
    pub confirm: bool,
    pub metadata: Metadata,
    pub description: Option<String>,
}

/// What creating or confirming an intent came to.
#[derive(Debug)]
pub enum ConfirmOutcome {
    /// Created, succeeded, or authorized (`requires_capture`).
    Done(PaymentIntent),
    /// The card was declined: the intent is back to `requires_payment_method`
    /// with `last_payment_error` set, and a failed charge exists.
    Declined {
        intent: PaymentIntent,
        charge: Box<Charge>,
        payment_method: Box<PaymentMethod>,
    },
}

/// Which intents to list (newest first).
#[derive(Debug, Default)]
pub struct IntentFilter {
    pub metadata: Metadata,
    pub status: Option<IntentStatus>,
    pub limit: u32,
}

impl Ledger {
    pub async fn create_intent(&self, new: NewIntent) -> Result<ConfirmOutcome, LedgerError> {
        let mut tx = self.begin().await?;
        let pm = match &new.payment_method {
            Some(reference) => Some(resolve(&mut tx, reference).await?),
            None => None,
        };
        let id = new_id("pi");
        let intent = PaymentIntent {
            client_secret: format!("{id}_secret_{}", &new_id("s")[2..]),
            id,
            amount: new.amount,
            currency: new.currency,
            status: if pm.is_some() {
                IntentStatus::RequiresConfirmation
            } else {
                IntentStatus::RequiresPaymentMethod
            },
            capture_method: new.capture_method,
            payment_method: pm.as_ref().map(|pm| pm.id.clone()),
            amount_capturable: 0,
            amount_received: 0,
            latest_charge: None,
            last_payment_error: None,
            metadata: new.metadata,
            description: new.description,
            cancellation_reason: None,
            canceled_at: None,
            created: now(),
        };
        sqlx::query(&format!(
            "INSERT INTO payment_intents ({COLUMNS}) \
             VALUES (?, ?, ?, ?, ?, ?, 0, 0, NULL, NULL, ?, ?, ?, NULL, NULL, ?)"
        ))
        .bind(&intent.id)
        .bind(intent.amount)
        .bind(&intent.currency)
        .bind(intent.status.as_str())
        .bind(intent.capture_method.as_str())
        .bind(&intent.payment_method)
        .bind(metadata_json(&intent.metadata)?)
        .bind(&intent.description)
        .bind(&intent.client_secret)
        .bind(intent.created)
        .execute(&mut *tx)
        .await?;
        let outcome = match (new.confirm, pm) {
            (true, Some(pm)) => charge(&mut tx, intent, pm).await?,
            (true, None) => return Err(missing_payment_method(intent)),
            (false, _) => ConfirmOutcome::Done(intent),
        };
        tx.commit().await?;
        Ok(outcome)
    }

    pub async fn confirm_intent(
        &self,
        id: &str,
        payment_method: Option<&str>,
    ) -> Result<ConfirmOutcome, LedgerError> {
        let mut tx = self.begin().await?;
        let intent = load(&mut tx, id).await?;
        if !matches!(
            intent.status,
            IntentStatus::RequiresPaymentMethod | IntentStatus::RequiresConfirmation
        ) {
            return Err(unexpected(
                intent,
                "confirm",
                "confirmed",
                "requires_payment_method, requires_confirmation, requires_action",
            ));
        }
        let pm = match (payment_method, &intent.payment_method) {
            (Some(reference), _) => resolve(&mut tx, reference).await?,
            (None, Some(current)) => find_method(&mut tx, current)
                .await?
                .ok_or_else(|| LedgerError::Db(format!("payment method {current} vanished")))?,
            (None, None) => return Err(missing_payment_method(intent)),
        };
        let outcome = charge(&mut tx, intent, pm).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    pub async fn capture_intent(
        &self,
        id: &str,
        amount_to_capture: Option<i64>,
    ) -> Result<PaymentIntent, LedgerError> {
        let mut tx = self.begin().await?;
        let mut intent = load(&mut tx, id).await?;
        if intent.status != IntentStatus::RequiresCapture {
            return Err(unexpected(
                intent,
                "capture",
                "captured",
                "requires_capture",
            ));
        }
        let amount = amount_to_capture.unwrap_or(intent.amount_capturable);
        if amount <= 0 || amount > intent.amount_capturable {
            return Err(LedgerError::invalid(
                Some("amount_too_large"),
                Some("amount_to_capture"),
                format!(
                    "The amount to capture ({amount}) must be positive and at most the amount capturable ({}).",
                    intent.amount_capturable
                ),
            ));
        }
        let charge_id = intent.latest_charge.clone().unwrap_or_default();
        sqlx::query(
            "UPDATE charges SET captured = 1, amount_captured = ? WHERE id = ? AND captured = 0",
        )
        .bind(amount)
        .bind(&charge_id)
        .execute(&mut *tx)
        .await?;
        intent.status = IntentStatus::Succeeded;
        intent.amount_received = amount;
        intent.amount_capturable = 0;
        save(&mut tx, &intent, IntentStatus::RequiresCapture).await?;
        record_event(&mut tx, "payment_intent.succeeded", intent.to_json()).await?;
        tx.commit().await?;
        Ok(intent)
    }

    pub async fn cancel_intent(
        &self,
        id: &str,
        reason: Option<String>,
    ) -> Result<PaymentIntent, LedgerError> {
        let mut tx = self.begin().await?;
        let mut intent = load(&mut tx, id).await?;
        let from = intent.status;
        if matches!(from, IntentStatus::Succeeded | IntentStatus::Canceled) {
            return Err(unexpected(
                intent,
                "cancel",
                "canceled",
                "requires_payment_method, requires_capture, requires_confirmation, requires_action, processing",
            ));
        }
        intent.status = IntentStatus::Canceled;
        intent.amount_capturable = 0;
        intent.canceled_at = Some(now());
        intent.cancellation_reason = reason;
        save(&mut tx, &intent, from).await?;
        record_event(&mut tx, "payment_intent.canceled", intent.to_json()).await?;
        tx.commit().await?;
        Ok(intent)
    }

    pub async fn intent(&self, id: &str) -> Result<PaymentIntent, LedgerError> {
        let mut conn = self.pool.acquire().await?;
        load(&mut conn, id).await
    }

    /// Intents matching every metadata pair (and the status), newest
    /// first, with whether more exist beyond `limit`.
    pub async fn list_intents(
        &self,
        filter: &IntentFilter,
    ) -> Result<(Vec<PaymentIntent>, bool), LedgerError> {
        let mut sql = format!("SELECT {COLUMNS} FROM payment_intents WHERE 1 = 1");
        for _ in &filter.metadata {
            sql.push_str(
                " AND EXISTS (SELECT 1 FROM json_each(payment_intents.metadata) \
                 WHERE json_each.key = ? AND json_each.value = ?)",
            );
        }
        if filter.status.is_some() {
            sql.push_str(" AND status = ?");
        }
        sql.push_str(" ORDER BY created DESC, rowid DESC LIMIT ?");
        let mut query = sqlx::query(&sql);
        for (key, value) in &filter.metadata {
            query = query.bind(key).bind(value);
        }
        if let Some(status) = filter.status {
            query = query.bind(status.as_str());
        }
        let limit = i64::from(filter.limit);
        let rows = query.bind(limit + 1).fetch_all(&self.pool).await?;
        let has_more = rows.len() as i64 > limit;
        let intents = rows
            .iter()
            .take(filter.limit as usize)
            .map(from_row)
            .collect::<Result<_, _>>()?;
        Ok((intents, has_more))
    }
}

pub(super) async fn load(
    conn: &mut SqliteConnection,
    id: &str,
) -> Result<PaymentIntent, LedgerError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM payment_intents WHERE id = ?"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(row) => from_row(&row),
        None => Err(LedgerError::NotFound {
            object: "payment_intent",
            id: id.to_owned(),
        }),
    }
}

fn unexpected(intent: PaymentIntent, verb: &str, done: &str, allowed: &str) -> LedgerError {
    LedgerError::UnexpectedState {
        message: format!(
            "You cannot {verb} this PaymentIntent because it has a status of {}. \
             Only a PaymentIntent with one of the following statuses may be {done}: {allowed}.",
            intent.status.as_str()
        ),
        intent: Box::new(intent),
    }
}

fn missing_payment_method(intent: PaymentIntent) -> LedgerError {
    LedgerError::UnexpectedState {
        message: "You cannot confirm this PaymentIntent because it's missing a payment method. \
                  To confirm the PaymentIntent with a payment method, pass `payment_method`."
            .into(),
        intent: Box::new(intent),
    }
}

fn from_row(row: &SqliteRow) -> Result<PaymentIntent, LedgerError> {
    let status: String = row.try_get("status")?;
    let capture: String = row.try_get("capture_method")?;
    let error: Option<String> = row.try_get("last_payment_error")?;
    Ok(PaymentIntent {
        id: row.try_get("id")?,
        amount: row.try_get("amount")?,
        currency: row.try_get("currency")?,
        status: IntentStatus::parse(&status)
            .ok_or_else(|| LedgerError::Db(format!("unknown intent status {status}")))?,
        capture_method: CaptureMethod::parse(&capture)
            .ok_or_else(|| LedgerError::Db(format!("unknown capture method {capture}")))?,
        payment_method: row.try_get("payment_method")?,
        amount_capturable: row.try_get("amount_capturable")?,
        amount_received: row.try_get("amount_received")?,
        latest_charge: row.try_get("latest_charge")?,
        last_payment_error: error.map(|e| serde_json::from_str(&e)).transpose()?,
        metadata: metadata_of(row)?,
        description: row.try_get("description")?,
        client_secret: row.try_get("client_secret")?,
        cancellation_reason: row.try_get("cancellation_reason")?,
        canceled_at: row.try_get("canceled_at")?,
        created: row.try_get("created")?,
    })
}
