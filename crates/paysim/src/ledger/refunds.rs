//! Refunds against a captured charge, full or partial. The charge's
//! `amount_refunded` only grows by a conditional update (`… WHERE
//! amount_refunded + n <= amount_captured`, also a CHECK constraint), so no
//! interleaving of requests can refund more than was captured.

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use super::events::record_event;
use super::intents::load as load_intent;
use super::{metadata_json, metadata_of, Ledger, LedgerError};
use crate::form::Metadata;
use crate::model::{new_id, now, Charge, IntentStatus, Refund};

const CHARGE_COLUMNS: &str = "id, payment_intent, payment_method, amount, amount_captured, \
    amount_refunded, currency, status, captured, failure_code, failure_message, created";
const REFUND_COLUMNS: &str =
    "id, charge, payment_intent, amount, currency, reason, status, metadata, created";

pub struct NewRefund {
    pub payment_intent: Option<String>,
    pub charge: Option<String>,
    /// The whole unrefunded amount when `None`.
    pub amount: Option<i64>,
    pub reason: Option<String>,
    pub metadata: Metadata,
}

impl Ledger {
    pub async fn create_refund(&self, new: NewRefund) -> Result<Refund, LedgerError> {
        let mut tx = self.begin().await?;
        let charge = refundable_charge(&mut tx, &new).await?;
        let remaining = charge.amount_captured - charge.amount_refunded;
        if remaining <= 0 {
            return Err(LedgerError::invalid(
                Some("charge_already_refunded"),
                None,
                format!("Charge {} has already been refunded.", charge.id),
            ));
        }
        let amount = new.amount.unwrap_or(remaining);
        if amount <= 0 {
            return Err(LedgerError::invalid(
                Some("parameter_invalid_integer"),
                Some("amount"),
                "Invalid positive integer",
            ));
        }
        let updated = sqlx::query(
            "UPDATE charges SET amount_refunded = amount_refunded + ? \
             WHERE id = ? AND amount_refunded + ? <= amount_captured",
        )
        .bind(amount)
        .bind(&charge.id)
        .bind(amount)
        .execute(&mut *tx)
        .await?;
        if amount > remaining || updated.rows_affected() != 1 {
            return Err(LedgerError::invalid(
                Some("amount_too_large"),
                Some("amount"),
                format!(
                    "Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})."
                ),
            ));
        }
        let refund = Refund {
            id: new_id("re"),
            charge: charge.id.clone(),
            payment_intent: charge.payment_intent.clone(),
            amount,
            currency: charge.currency.clone(),
            reason: new.reason,
            status: "succeeded".into(),
            metadata: new.metadata,
            created: now(),
        };
        sqlx::query(&format!(
            "INSERT INTO refunds ({REFUND_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(&refund.id)
        .bind(&refund.charge)
        .bind(&refund.payment_intent)
        .bind(refund.amount)
        .bind(&refund.currency)
        .bind(&refund.reason)
        .bind(&refund.status)
        .bind(metadata_json(&refund.metadata)?)
        .bind(refund.created)
        .execute(&mut *tx)
        .await?;
        let charge = load_charge(&mut tx, &charge.id).await?;
        record_event(&mut tx, "charge.refunded", charge.to_json()).await?;
        tx.commit().await?;
        Ok(refund)
    }

    pub async fn refund(&self, id: &str) -> Result<Refund, LedgerError> {
        let row = sqlx::query(&format!(
            "SELECT {REFUND_COLUMNS} FROM refunds WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => refund_from_row(&row),
            None => Err(LedgerError::NotFound {
                object: "refund",
                id: id.to_owned(),
            }),
        }
    }

    /// Refunds of an intent and/or a charge, newest first, with whether
    /// more exist beyond `limit`.
    pub async fn list_refunds(
        &self,
        payment_intent: Option<&str>,
        charge: Option<&str>,
        limit: u32,
    ) -> Result<(Vec<Refund>, bool), LedgerError> {
        let rows = sqlx::query(&format!(
            "SELECT {REFUND_COLUMNS} FROM refunds \
             WHERE (?1 IS NULL OR payment_intent = ?1) AND (?2 IS NULL OR charge = ?2) \
             ORDER BY created DESC, rowid DESC LIMIT ?3"
        ))
        .bind(payment_intent)
        .bind(charge)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let has_more = rows.len() > limit as usize;
        let refunds = rows
            .iter()
            .take(limit as usize)
            .map(refund_from_row)
            .collect::<Result<_, _>>()?;
        Ok((refunds, has_more))
    }

    /// Charges (failed ones too) of an intent, or all, newest first.
    pub async fn list_charges(
        &self,
        payment_intent: Option<&str>,
        limit: u32,
    ) -> Result<(Vec<Charge>, bool), LedgerError> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM charges WHERE (?1 IS NULL OR payment_intent = ?1) \
             ORDER BY created DESC, rowid DESC LIMIT ?2",
        )
        .bind(payment_intent)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let has_more = ids.len() > limit as usize;
        let mut conn = self.pool.acquire().await?;
        let mut charges = Vec::with_capacity(ids.len());
        for id in ids.iter().take(limit as usize) {
            charges.push(load_charge(&mut conn, id).await?);
        }
        Ok((charges, has_more))
    }

    pub async fn charge(&self, id: &str) -> Result<Charge, LedgerError> {
        let mut conn = self.pool.acquire().await?;
        load_charge(&mut conn, id).await
    }
}

/// The captured charge a refund request names, directly or through its intent.
async fn refundable_charge(
    conn: &mut SqliteConnection,
    new: &NewRefund,
) -> Result<Charge, LedgerError> {
    let no_charge = |what: &str| {
        LedgerError::invalid(
            Some("charge_not_refundable"),
            None,
            format!("This {what} does not have a successful charge to refund."),
        )
    };
    let charge_id = match (&new.charge, &new.payment_intent) {
        (Some(charge), _) => charge.clone(),
        (None, Some(pi)) => {
            let intent = load_intent(conn, pi).await.map_err(|e| match e {
                LedgerError::NotFound { object, id } => LedgerError::MissingReference {
                    object,
                    id,
                    param: "payment_intent",
                },
                e => e,
            })?;
            match (intent.status, intent.latest_charge) {
                (IntentStatus::Succeeded, Some(charge)) => charge,
                _ => return Err(no_charge("PaymentIntent")),
            }
        }
        (None, None) => {
            return Err(LedgerError::invalid(
                Some("parameter_missing"),
                None,
                "One of the following params should be provided for this request: payment_intent or charge.",
            ))
        }
    };
    let charge = load_charge(conn, &charge_id).await.map_err(|e| match e {
        LedgerError::NotFound { object, id } => LedgerError::MissingReference {
            object,
            id,
            param: "charge",
        },
        e => e,
    })?;
    if let Some(pi) = &new.payment_intent {
        if *pi != charge.payment_intent {
            return Err(LedgerError::invalid(
                None,
                Some("charge"),
                format!(
                    "Charge {} does not belong to PaymentIntent {pi}.",
                    charge.id
                ),
            ));
        }
    }
    if !charge.captured || charge.status != "succeeded" {
        return Err(no_charge("charge"));
    }
    Ok(charge)
}

async fn load_charge(conn: &mut SqliteConnection, id: &str) -> Result<Charge, LedgerError> {
    let row = sqlx::query(&format!(
        "SELECT {CHARGE_COLUMNS} FROM charges WHERE id = ?"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Err(LedgerError::NotFound {
            object: "charge",
            id: id.to_owned(),
        });
    };
    Ok(Charge {
        id: row.try_get("id")?,
        payment_intent: row.try_get("payment_intent")?,
        payment_method: row.try_get("payment_method")?,
        amount: row.try_get("amount")?,
        amount_captured: row.try_get("amount_captured")?,
        amount_refunded: row.try_get("amount_refunded")?,
        currency: row.try_get("currency")?,
        status: row.try_get("status")?,
        captured: row.try_get("captured")?,
        failure_code: row.try_get("failure_code")?,
        failure_message: row.try_get("failure_message")?,
        created: row.try_get("created")?,
    })
}

fn refund_from_row(row: &SqliteRow) -> Result<Refund, LedgerError> {
    Ok(Refund {
        id: row.try_get("id")?,
        charge: row.try_get("charge")?,
        payment_intent: row.try_get("payment_intent")?,
        amount: row.try_get("amount")?,
        currency: row.try_get("currency")?,
        reason: row.try_get("reason")?,
        status: row.try_get("status")?,
        metadata: metadata_of(row)?,
        created: row.try_get("created")?,
    })
}
