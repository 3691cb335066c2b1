//! Reading catalog rows, shared by both backends: the page query selects
//! the same columns in the same order on each (see `sql::page_query`).

use emporium_domain::catalog::model::CategorySlug;
use emporium_domain::catalog::{Category, ProductSummary, SearchHit, Sku};
use emporium_domain::{Currency, Money, StoreError};
use sqlx::{Database, Decode, Row, Type};
use uuid::Uuid;

use crate::error::db;

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("unreadable catalog row: {what}"))
}

/// Reads a category from columns `at..at+4`: key, id, slug, name, path (JSON text).
pub(crate) fn category<'r, R, DB>(r: &'r R, at: usize) -> Result<Category, StoreError>
where
    R: Row<Database = DB>,
    DB: Database,
    usize: sqlx::ColumnIndex<R>,
    i64: Decode<'r, DB> + Type<DB>,
    String: Decode<'r, DB> + Type<DB>,
    Uuid: Decode<'r, DB> + Type<DB>,
{
    let path: String = r.try_get(at + 4).map_err(db)?;
    let slug: String = r.try_get(at + 2).map_err(db)?;
    Ok(Category {
        key: r.try_get(at).map_err(db)?,
        id: r.try_get(at + 1).map_err(db)?,
        slug: CategorySlug::parse(&slug).ok_or_else(|| corrupt(format!("slug {slug:?}")))?,
        name: r.try_get(at + 3).map_err(db)?,
        path: serde_json::from_str(&path).map_err(corrupt)?,
    })
}

/// Reads a hit: key, id, sku, name, name_key, brand, price, currency,
/// image, popularity, score, then the category at column 11.
pub(crate) fn hit<'r, R, DB>(r: &'r R) -> Result<SearchHit, StoreError>
where
    R: Row<Database = DB>,
    DB: Database,
    usize: sqlx::ColumnIndex<R>,
    i64: Decode<'r, DB> + Type<DB>,
    String: Decode<'r, DB> + Type<DB>,
    Option<String>: Decode<'r, DB> + Type<DB>,
    Uuid: Decode<'r, DB> + Type<DB>,
{
    let currency: String = r.try_get(7).map_err(db)?;
    let currency: Currency = currency.parse().map_err(corrupt)?;
    let sku: String = r.try_get(2).map_err(db)?;
    Ok(SearchHit {
        key: r.try_get(0).map_err(db)?,
        score: r.try_get(10).map_err(db)?,
        name_key: r.try_get(4).map_err(db)?,
        product: ProductSummary {
            id: r.try_get(1).map_err(db)?,
            sku: Sku::parse(&sku).map_err(corrupt)?,
            name: r.try_get(3).map_err(db)?,
            brand: r.try_get(5).map_err(db)?,
            price: Money::new(r.try_get(6).map_err(db)?, currency).map_err(corrupt)?,
            category: category(r, 11)?,
            image: r.try_get(8).map_err(db)?,
            popularity: r.try_get(9).map_err(db)?,
        },
    })
}
