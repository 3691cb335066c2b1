//! Both backends, loaded with the whole demo catalog, give the same
//! answers in substance to common queries.

use std::collections::HashSet;

use emporium_domain::ports::CatalogStore;

use crate::support::{demo, search, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgres_agree_on_common_queries() {
    let drafts = demo();
    let (sqlite, postgres) = (TestDb::sqlite().await, TestDb::postgres().await);
    let noop = |_: u64| {};
    sqlite.store.import(&drafts, &noop).await.unwrap();
    postgres.store.import(&drafts, &noop).await.unwrap();
    let (a, b) = (sqlite.service(), postgres.service());
    for q in [
        "samsung",
        "iphone case",
        "laptop",
        "headphones",
        "watch",
        "shirt",
        "samsnug",
        "galaxy s7",
        "charger",
        "ring",
    ] {
        let ra = search(&a, &[("q", q), ("limit", "20")]).await;
        let rb = search(&b, &[("q", q), ("limit", "20")]).await;
        assert!(
            ra.total > 0 && rb.total > 0,
            "{q}: sqlite {} postgres {}",
            ra.total,
            rb.total
        );
        let (small, large) = (ra.total.min(rb.total) as f64, ra.total.max(rb.total) as f64);
        assert!(
            small / large > 0.6,
            "{q}: totals differ too much: sqlite {} postgres {}",
            ra.total,
            rb.total
        );
        // In substance: most of each top ten carry every searched word
        // (by its first letters, as stemming differs) and both lists are
        // led by the same department.
        for (backend, r) in [("sqlite", &ra), ("postgres", &rb)] {
            let searched = r.corrected_query.clone().unwrap_or_else(|| q.to_string());
            let words: Vec<String> = searched
                .split(' ')
                .map(|w| w.chars().take(4).collect())
                .collect();
            let relevant = r
                .items
                .iter()
                .take(10)
                .filter(|p| {
                    let text = format!(
                        "{} {} {}",
                        p.name,
                        p.brand.clone().unwrap_or_default(),
                        p.category.path.join(" ")
                    )
                    .to_lowercase();
                    words.iter().all(|w| text.contains(w.as_str()))
                })
                .count();
            assert!(
                relevant >= 8,
                "{q}: only {relevant} of {backend}'s top ten carry every word"
            );
        }
        let lead = |r: &emporium_domain::catalog::SearchResult| {
            let mut counts = std::collections::HashMap::new();
            for p in r.items.iter().take(10) {
                *counts.entry(p.category.path[0].clone()).or_insert(0) += 1;
            }
            counts.into_iter().max_by_key(|(_, n)| *n).map(|(c, _)| c)
        };
        let depts = |r: &emporium_domain::catalog::SearchResult| -> HashSet<String> {
            r.items.iter().map(|p| p.category.path[0].clone()).collect()
        };
        let (la, lb) = (lead(&ra).unwrap_or_default(), lead(&rb).unwrap_or_default());
        assert!(
            depts(&rb).contains(&la) && depts(&ra).contains(&lb),
            "{q}: lead departments {la} / {lb} missing from the other's top twenty"
        );
        let ta: HashSet<_> = ra.items.iter().map(|p| p.sku.clone()).collect();
        let tb: HashSet<_> = rb.items.iter().map(|p| p.sku.clone()).collect();
        println!(
            "{q}: totals {} / {}, top-20 overlap {}",
            ra.total,
            rb.total,
            ta.intersection(&tb).count()
        );
    }
    assert_eq!(
        sqlite.store.product_count().await.unwrap(),
        postgres.store.product_count().await.unwrap()
    );
}
