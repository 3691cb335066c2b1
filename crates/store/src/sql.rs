//! SQL shared by both backends' searches, built with sqlx's `QueryBuilder`
//! so that every value is a bound parameter. Where the dialects differ
//! (full-text match, rank), [`Dialect`] says how.

use std::collections::HashMap;

use emporium_domain::catalog::{After, SearchHit, Sort, StoreFacets, StoreSearch, PRICE_BANDS};
use emporium_domain::{StoreError, MAX_AMOUNT};
use sqlx::{Database, QueryBuilder};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// The full-text query for the term groups, in the dialect's syntax. Words
/// are plain letters and digits (see `SearchText`); they are quoted anyway.
pub(crate) fn match_expression(q: &StoreSearch, d: Dialect) -> String {
    let last = q.term_groups.len().saturating_sub(1);
    let groups: Vec<String> = q
        .term_groups
        .iter()
        .enumerate()
        .map(|(i, group)| {
            let prefix = q.prefix_last && i == last;
            let words: Vec<String> = group
                .iter()
                .map(|w| match d {
                    Dialect::Sqlite => {
                        format!(
                            "\"{}\"{}",
                            w.replace('"', "\"\""),
                            if prefix { "*" } else { "" }
                        )
                    }
                    Dialect::Postgres => {
                        format!(
                            "'{}'{}",
                            w.replace('\'', "''"),
                            if prefix { ":*" } else { "" }
                        )
                    }
                })
                .collect();
            let or = if d == Dialect::Sqlite { " OR " } else { " | " };
            format!("({})", words.join(or))
        })
        .collect();
    let and = match (d, q.match_any) {
        (Dialect::Sqlite, false) => " AND ",
        (Dialect::Sqlite, true) => " OR ",
        (Dialect::Postgres, false) => " & ",
        (Dialect::Postgres, true) => " | ",
    };
    groups.join(and)
}

/// Relevance as an integer, higher is better.
pub(crate) fn score_expression(q: &StoreSearch, d: Dialect) -> &'static str {
    match (q.term_groups.is_empty(), d) {
        (true, Dialect::Sqlite) => "0",
        (true, Dialect::Postgres) => "CAST(0 AS BIGINT)",
        (false, Dialect::Sqlite) => {
            "CAST(-bm25(products_fts, 10.0, 5.0, 3.0, 1.0) * 10 AS INTEGER)"
        }
        (false, Dialect::Postgres) => {
            "CAST(ts_rank('{0.1, 0.3, 0.5, 1.0}', p.search, tsq, 1) * 1000 AS BIGINT)"
        }
    }
}

/// ` FROM … WHERE …` selecting the products of the result set as `p`.
pub(crate) fn push_from_where<'a, DB>(qb: &mut QueryBuilder<'a, DB>, q: &StoreSearch, d: Dialect)
where
    DB: Database,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let text = !q.term_groups.is_empty();
    match (text, d) {
        (true, Dialect::Sqlite) => {
            qb.push(" FROM products_fts JOIN products p ON p.key = products_fts.rowid WHERE products_fts MATCH ");
            qb.push_bind(match_expression(q, d));
        }
        (true, Dialect::Postgres) => {
            qb.push(" FROM products p, to_tsquery('english', ");
            qb.push_bind(match_expression(q, d));
            qb.push(") AS tsq WHERE p.search @@ tsq");
        }
        (false, _) => {
            qb.push(" FROM products p WHERE 1 = 1");
        }
    }
    // Archived products stay for carts and orders but leave search; every
    // part of a search (page, total, facets) is built on this clause. So do
    // prices above what one payment may take, which only a row written
    // before prices were capped can hold: they are not for sale.
    qb.push(" AND p.archived_at IS NULL");
    qb.push(format!(" AND p.price <= {MAX_AMOUNT}"));
    if let Some(key) = q.category_key {
        qb.push(
            " AND p.category_key IN (SELECT descendant FROM category_closure WHERE ancestor = ",
        );
        qb.push_bind(key);
        qb.push(")");
    }
    if let Some(brand) = &q.brand {
        qb.push(" AND p.brand_key = ");
        qb.push_bind(brand.clone());
    }
    if let Some(min) = q.min_price {
        qb.push(" AND p.price >= ");
        qb.push_bind(min);
    }
    if let Some(max) = q.max_price {
        qb.push(" AND p.price <= ");
        qb.push_bind(max);
    }
}

/// `ORDER BY` of the outer page query (columns of `r`).
pub(crate) fn order_by(sort: Sort) -> &'static str {
    match sort {
        Sort::Relevance => " ORDER BY r.score DESC, r.popularity DESC, r.key",
        Sort::Popularity => " ORDER BY r.popularity DESC, r.key",
        Sort::PriceAsc => " ORDER BY r.price, r.key",
        Sort::PriceDesc => " ORDER BY r.price DESC, r.key",
        Sort::Name => " ORDER BY r.name_key, r.key",
    }
}

/// ` WHERE …` of the outer page query: rows strictly after the cursor.
pub(crate) fn push_keyset<'a, DB>(qb: &mut QueryBuilder<'a, DB>, sort: Sort, after: &Option<After>)
where
    DB: Database,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let Some(after) = after else {
        qb.push(" WHERE 1 = 1");
        return;
    };
    match after {
        After::Relevance {
            score,
            popularity,
            key,
        } => {
            qb.push(" WHERE (r.score < ").push_bind(*score);
            qb.push(" OR (r.score = ").push_bind(*score);
            qb.push(" AND (r.popularity < ").push_bind(*popularity);
            qb.push(" OR (r.popularity = ").push_bind(*popularity);
            qb.push(" AND r.key > ").push_bind(*key).push("))))");
        }
        After::Popularity { popularity, key } => {
            qb.push(" WHERE (r.popularity < ").push_bind(*popularity);
            qb.push(" OR (r.popularity = ").push_bind(*popularity);
            qb.push(" AND r.key > ").push_bind(*key).push("))");
        }
        After::Price { price, key } => {
            let cmp = if sort == Sort::PriceDesc {
                " < "
            } else {
                " > "
            };
            qb.push(" WHERE (r.price").push(cmp).push_bind(*price);
            qb.push(" OR (r.price = ").push_bind(*price);
            qb.push(" AND r.key > ").push_bind(*key).push("))");
        }
        After::Name { name, key } => {
            qb.push(" WHERE (r.name_key > ").push_bind(name.clone());
            qb.push(" OR (r.name_key = ").push_bind(name.clone());
            qb.push(" AND r.key > ").push_bind(*key).push("))");
        }
    }
}

/// The page query: hits with their category, one more than `limit`.
pub(crate) fn page_query<'a, DB>(
    q: &StoreSearch,
    d: Dialect,
    category_path: &str,
) -> QueryBuilder<'a, DB>
where
    DB: Database,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut qb = QueryBuilder::new(
        "SELECT r.key, r.id, r.sku, r.name, r.name_key, r.brand, r.price, r.currency, r.image, \
         r.popularity, r.score, c.key, c.id, c.slug, c.name, ",
    );
    qb.push(category_path);
    qb.push(
        " FROM (SELECT p.key, p.id, p.sku, p.name, p.name_key, p.brand, p.price, p.currency, \
         p.image, p.popularity, p.category_key, ",
    );
    qb.push(score_expression(q, d)).push(" AS score");
    push_from_where(&mut qb, q, d);
    qb.push(") AS r JOIN categories c ON c.key = r.category_key");
    push_keyset(&mut qb, q.sort, &q.after);
    qb.push(order_by(q.sort));
    qb.push(" LIMIT ").push_bind(i64::from(q.limit) + 1);
    qb
}

/// The whole search in one statement, so the full-text match and the row
/// lookups happen once: the result set is materialised as `m`, and one row
/// comes back with the total and, as JSON text, the category, brand and
/// price facets and the page's `[key, score]` pairs in order (one more than
/// `limit` when another page follows). [`details_query`] then fetches the
/// page's products by key.
pub(crate) fn search_query<'a, DB>(q: &StoreSearch, d: Dialect) -> QueryBuilder<'a, DB>
where
    DB: Database,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let (agg, pair, text) = match d {
        Dialect::Sqlite => ("json_group_array", "json_array", ""),
        Dialect::Postgres => ("json_agg", "json_build_array", "::text"),
    };
    let mut qb = QueryBuilder::new("WITH m AS MATERIALIZED (SELECT p.key, ");
    qb.push(score_expression(q, d));
    qb.push(" AS score, p.popularity, p.price, p.name_key, p.category_key, p.brand, p.brand_key");
    push_from_where(&mut qb, q, d);
    qb.push(format!(
        ") SELECT (SELECT count(*) FROM m) AS total, \
         (SELECT {agg}({pair}(g2.ancestor, g2.n)){text} FROM \
         (SELECT cl.ancestor, CAST(sum(g.n) AS BIGINT) AS n FROM \
         (SELECT m.category_key, count(*) AS n FROM m GROUP BY m.category_key) AS g \
         JOIN category_closure cl ON cl.descendant = g.category_key \
         JOIN categories c ON c.key = cl.ancestor WHERE "
    ));
    match q.facet_parent_key {
        Some(parent) => {
            qb.push("c.parent_key = ").push_bind(parent);
        }
        None => {
            qb.push("c.parent_key IS NULL");
        }
    }
    qb.push(format!(
        " GROUP BY cl.ancestor) AS g2) AS categories, \
         (SELECT {agg}({pair}(b.brand, b.n)){text} FROM \
         (SELECT min(m.brand) AS brand, count(*) AS n FROM m WHERE m.brand_key IS NOT NULL \
         GROUP BY m.brand_key ORDER BY count(*) DESC, min(m.brand) LIMIT 20) AS b) AS brands, \
         (SELECT {agg}({pair}(pb.band, pb.n)){text} FROM \
         (SELECT {} AS band, count(*) AS n FROM m GROUP BY 1) AS pb) AS bands, \
         (SELECT {agg}({pair}(r.key, r.score){}){text} FROM (SELECT * FROM m AS r",
        price_band_case(),
        order_by(q.sort),
    ));
    push_keyset(&mut qb, q.sort, &q.after);
    qb.push(order_by(q.sort));
    qb.push(" LIMIT ").push_bind(i64::from(q.limit) + 1);
    qb.push(") AS r) AS page");
    qb
}

/// The products of a page, by key, with their categories (columns as
/// `rows::hit` reads them; the score column is filled in from the page).
pub(crate) fn details_query<'a, DB>(keys: &[i64], category_path: &str) -> QueryBuilder<'a, DB>
where
    DB: Database,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut qb = QueryBuilder::new(
        "SELECT p.key, p.id, p.sku, p.name, p.name_key, p.brand, p.price, p.currency, p.image, \
         p.popularity, CAST(0 AS BIGINT), c.key, c.id, c.slug, c.name, ",
    );
    qb.push(category_path);
    qb.push(" FROM products p JOIN categories c ON c.key = p.category_key WHERE p.key IN (");
    let mut list = qb.separated(", ");
    for k in keys {
        list.push_bind(*k);
    }
    qb.push(")");
    qb
}

/// The row of [`search_query`]: total, then JSON text of categories,
/// brands, price bands and page (absent for an empty set on PostgreSQL).
pub(crate) type SearchRow = (
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn json_pairs<A: serde::de::DeserializeOwned, B: serde::de::DeserializeOwned>(
    text: Option<String>,
) -> Result<Vec<(A, B)>, StoreError> {
    match text {
        None => Ok(Vec::new()),
        Some(t) => serde_json::from_str(&t)
            .map_err(|e| StoreError::Internal(format!("reading a search result: {e}"))),
    }
}

/// Total, facets and the page's (key, score) pairs of one search.
pub(crate) type SearchParts = (u64, StoreFacets, Vec<(i64, i64)>);

/// Splits a [`SearchRow`] into its parts.
pub(crate) fn read_search_row(row: SearchRow) -> Result<SearchParts, StoreError> {
    let (total, categories, brands, bands, page) = row;
    let mut f = StoreFacets {
        categories: json_pairs::<i64, u64>(categories)?,
        brands: json_pairs::<String, u64>(brands)?,
        price_bands: json_pairs::<usize, u64>(bands)?,
    };
    f.categories
        .sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    f.brands.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    f.price_bands.sort();
    Ok((u64::try_from(total).unwrap_or(0), f, json_pairs(page)?))
}

/// Puts fetched hits in page order and gives each its score.
pub(crate) fn in_page_order(page: &[(i64, i64)], hits: Vec<SearchHit>) -> Vec<SearchHit> {
    let mut by_key: HashMap<i64, SearchHit> = hits.into_iter().map(|h| (h.key, h)).collect();
    page.iter()
        .filter_map(|(key, score)| {
            by_key.remove(key).map(|mut h| {
                h.score = *score;
                h
            })
        })
        .collect()
}

fn price_band_case() -> String {
    let mut s = String::from("CASE");
    for (i, lo) in PRICE_BANDS.iter().enumerate().skip(1).rev() {
        s.push_str(&format!(" WHEN m.price >= {lo} THEN {i}"));
    }
    s.push_str(" ELSE 0 END");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(groups: &[&[&str]], prefix: bool) -> StoreSearch {
        StoreSearch {
            term_groups: groups
                .iter()
                .map(|g| g.iter().map(|s| s.to_string()).collect())
                .collect(),
            prefix_last: prefix,
            match_any: false,
            category_key: None,
            brand: None,
            min_price: None,
            max_price: None,
            sort: Sort::Relevance,
            limit: 10,
            after: None,
            facets: true,
            facet_parent_key: None,
        }
    }

    #[test]
    fn match_expressions_quote_every_word() {
        let q = search(&[&["samsnug", "samsung"], &["tv"]], true);
        assert_eq!(
            match_expression(&q, Dialect::Sqlite),
            r#"("samsnug" OR "samsung") AND ("tv"*)"#
        );
        assert_eq!(
            match_expression(&q, Dialect::Postgres),
            "('samsnug' | 'samsung') & ('tv':*)"
        );
    }

    #[test]
    fn price_bands_are_tested_from_the_top() {
        assert!(price_band_case().starts_with("CASE WHEN m.price >= 100000 THEN 6"));
    }
}
