//! Payment methods and single-use tokens: stored as card facts only (brand,
//! last four, expiry, test-card behaviour), and resolved from whatever a
//! client passes as `payment_method` (`pm_…`, `tok_…`, or Stripe's
//! ready-made `pm_card_visa`-style ids).

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use super::{metadata_json, metadata_of, Ledger, LedgerError};
use crate::cards::{self, Behavior, CardFacts};
use crate::form::Metadata;
use crate::model::{new_id, now, PaymentMethod};

const COLUMNS: &str =
    "id, brand, last4, exp_month, exp_year, funding, cvc_check, behavior, metadata, created";

impl Ledger {
    pub async fn create_payment_method(
        &self,
        card: CardFacts,
        metadata: Metadata,
    ) -> Result<PaymentMethod, LedgerError> {
        let mut tx = self.begin().await?;
        let pm = insert(&mut tx, card, metadata).await?;
        tx.commit().await?;
        Ok(pm)
    }

    pub async fn payment_method(&self, id: &str) -> Result<PaymentMethod, LedgerError> {
        let mut conn = self.pool.acquire().await?;
        find(&mut conn, id)
            .await?
            .ok_or_else(|| LedgerError::NotFound {
                object: "payment_method",
                id: id.to_owned(),
            })
    }

    /// A `tok_…` for the card, with the payment method that backs it.
    /// Returns (token id, card id, payment method).
    pub async fn create_token(
        &self,
        card: CardFacts,
    ) -> Result<(String, String, PaymentMethod), LedgerError> {
        let mut tx = self.begin().await?;
        let pm = insert(&mut tx, card, Metadata::new()).await?;
        let (token, card_id) = (new_id("tok"), new_id("card"));
        sqlx::query(
            "INSERT INTO tokens (id, card_id, payment_method, created) VALUES (?, ?, ?, ?)",
        )
        .bind(&token)
        .bind(&card_id)
        .bind(&pm.id)
        .bind(pm.created)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((token, card_id, pm))
    }
}

async fn insert(
    conn: &mut SqliteConnection,
    card: CardFacts,
    metadata: Metadata,
) -> Result<PaymentMethod, LedgerError> {
    let pm = PaymentMethod {
        id: new_id("pm"),
        card,
        metadata,
        created: now(),
    };
    sqlx::query(&format!(
        "INSERT INTO payment_methods ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(&pm.id)
    .bind(pm.card.brand)
    .bind(&pm.card.last4)
    .bind(pm.card.exp_month)
    .bind(pm.card.exp_year)
    .bind(pm.card.funding)
    .bind(pm.card.cvc_check)
    .bind(pm.card.behavior.as_str())
    .bind(metadata_json(&pm.metadata)?)
    .bind(pm.created)
    .execute(&mut *conn)
    .await?;
    Ok(pm)
}

pub(super) async fn find(
    conn: &mut SqliteConnection,
    id: &str,
) -> Result<Option<PaymentMethod>, LedgerError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM payment_methods WHERE id = ?"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| from_row(&r)).transpose()
}

/// The payment method a `payment_method` parameter names, inside the
/// caller's transaction: a token is spent (single use), a ready-made test
/// id makes a fresh payment method as Stripe does.
pub(super) async fn resolve(
    conn: &mut SqliteConnection,
    reference: &str,
) -> Result<PaymentMethod, LedgerError> {
    let missing = || LedgerError::MissingReference {
        object: "payment_method",
        id: reference.to_owned(),
        param: "payment_method",
    };
    if reference.starts_with("tok_") {
        let row = sqlx::query("SELECT payment_method, used FROM tokens WHERE id = ?")
            .bind(reference)
            .fetch_optional(&mut *conn)
            .await?;
        if let Some(row) = row {
            let (pm, used): (String, bool) = (row.try_get(0)?, row.try_get(1)?);
            if used {
                return Err(LedgerError::invalid(
                    Some("token_already_used"),
                    Some("payment_method"),
                    format!("You cannot use a Stripe token more than once: {reference}."),
                ));
            }
            sqlx::query("UPDATE tokens SET used = 1 WHERE id = ?")
                .bind(reference)
                .execute(&mut *conn)
                .await?;
            return find(conn, &pm).await?.ok_or_else(missing);
        }
    }
    if let Some(pm) = find(conn, reference).await? {
        return Ok(pm);
    }
    match cards::magic(reference) {
        Some(card) => insert(conn, card, Metadata::new()).await,
        None => Err(missing()),
    }
}

fn from_row(row: &SqliteRow) -> Result<PaymentMethod, LedgerError> {
    let brand: String = row.try_get("brand")?;
    let funding: String = row.try_get("funding")?;
    let cvc_check: Option<String> = row.try_get("cvc_check")?;
    let behavior: String = row.try_get("behavior")?;
    Ok(PaymentMethod {
        id: row.try_get("id")?,
        card: CardFacts {
            brand: known(
                &brand,
                &[
                    "visa",
                    "mastercard",
                    "amex",
                    "discover",
                    "jcb",
                    "diners",
                    "unionpay",
                ],
            )
            .unwrap_or("unknown"),
            last4: row.try_get("last4")?,
            exp_month: row.try_get("exp_month")?,
            exp_year: row.try_get("exp_year")?,
            funding: known(&funding, &["debit"]).unwrap_or("credit"),
            cvc_check: cvc_check
                .as_deref()
                .and_then(|c| known(c, &["pass", "fail"])),
            behavior: Behavior::parse(&behavior)
                .ok_or_else(|| LedgerError::Db(format!("unknown card behaviour {behavior}")))?,
        },
        metadata: metadata_of(row)?,
        created: row.try_get("created")?,
    })
}

/// The `'static` spelling of a stored word among the known ones.
fn known(value: &str, words: &[&'static str]) -> Option<&'static str> {
    words.iter().copied().find(|w| *w == value)
}
