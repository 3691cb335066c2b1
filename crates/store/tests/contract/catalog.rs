//! Catalog behaviours every store must show.

use std::collections::HashSet;
use std::time::Duration;

use emporium_domain::catalog::import::ProductDraft;
use emporium_domain::catalog::Sku;
use emporium_domain::catalog::{Sort, StoreSearch};
use emporium_domain::ports::CatalogStore;
use emporium_domain::{Currency, Money, StoreError};

use crate::support::{demo, fixture, search, TestDb};

crate::contract!(
    import_is_idempotent_and_counts_changes,
    text_search_matches_name_brand_and_category,
    category_filter_includes_descendants,
    price_and_brand_filters_narrow_results,
    every_sort_orders_its_key,
    cursor_pages_cover_results_exactly_once,
    facets_count_the_whole_result_set,
    one_letter_typos_still_find_products,
    query_syntax_is_searched_as_plain_text,
    category_tree_counts_subtrees,
    product_detail_round_trips,
    archived_products_leave_search_facets_and_detail,
    archiving_an_unknown_product_is_false,
    a_search_past_its_time_limit_is_stopped_and_its_connection_reused,
);

fn noop(_: u64) {}

async fn seeded(db: &TestDb) {
    let counts = db.store.import(&fixture(), &noop).await.unwrap();
    assert_eq!(counts.imported as usize, fixture().len());
}

async fn import_is_idempotent_and_counts_changes(db: TestDb) {
    let drafts = fixture();
    let v0 = db.store.catalog_version().await.unwrap();
    let first = db.store.import(&drafts, &noop).await.unwrap();
    assert_eq!(first.imported as usize, drafts.len());
    assert_eq!((first.updated, first.unchanged), (0, 0));
    let v1 = db.store.catalog_version().await.unwrap();
    assert!(
        v1 > v0,
        "an import that changes the catalog bumps its version"
    );

    let again = db.store.import(&drafts, &noop).await.unwrap();
    assert_eq!((again.imported, again.updated), (0, 0));
    assert_eq!(again.unchanged as usize, drafts.len());
    assert_eq!(
        db.store.product_count().await.unwrap() as usize,
        drafts.len(),
        "no duplicates"
    );
    assert_eq!(
        db.store.catalog_version().await.unwrap(),
        v1,
        "nothing changed, same version"
    );

    let mut changed = drafts[0].clone();
    changed.name = "Renamed Product Zyxwv".into();
    let mut new = drafts[1].clone();
    new.sku = Sku::parse("NEW-1").unwrap();
    let third = db.store.import(&[changed, new], &noop).await.unwrap();
    assert_eq!((third.imported, third.updated, third.unchanged), (1, 1, 0));
    let r = search(&db.service(), &[("q", "zyxwv")]).await;
    assert_eq!(r.total, 1);
    assert_eq!(
        r.items[0].sku, drafts[0].sku,
        "the update kept the product's identity"
    );
}

async fn text_search_matches_name_brand_and_category(db: TestDb) {
    seeded(&db).await;
    let svc = db.service();
    let r = search(&svc, &[("q", "samsung")]).await;
    assert!(r.total >= 10, "samsung: {}", r.total);
    let top = &r.items[0];
    assert!(
        top.name.to_lowercase().contains("samsung") || top.brand.as_deref() == Some("Samsung"),
        "top hit for samsung: {top:?}"
    );
    let r = search(&svc, &[("q", "laptop")]).await;
    assert!(r.total >= 10);
    assert!(r.items.iter().all(|p| {
        let text = format!("{} {}", p.name, p.category.path.join(" ")).to_lowercase();
        text.contains("laptop")
    }));
    // Prefix of the last word while typing.
    let typed = search(&svc, &[("q", "lapto")]).await;
    assert!(
        typed.total >= r.total,
        "prefix finds at least the full word's results"
    );
    // Stemming: plural finds singular.
    assert!(search(&svc, &[("q", "laptops ")]).await.total > 0);
}

async fn category_filter_includes_descendants(db: TestDb) {
    seeded(&db).await;
    let svc = db.service();
    let root = search(&svc, &[("category", "computers"), ("limit", "100")]).await;
    assert!(root.total > 0);
    assert!(root.items.iter().all(|p| p.category.path[0] == "Computers"));
    assert!(
        root.items.iter().any(|p| p.category.path.len() > 1),
        "descendants are included"
    );
    let child = &root.facets.categories[0];
    let sub = search(&svc, &[("category", &child.slug)]).await;
    assert_eq!(
        sub.total, child.count,
        "facet count equals the filtered total"
    );
    assert!(sub.total < root.total || root.facets.categories.len() == 1);
}

async fn price_and_brand_filters_narrow_results(db: TestDb) {
    seeded(&db).await;
    let svc = db.service();
    let r = search(
        &svc,
        &[
            ("min_price", "1000"),
            ("max_price", "5000"),
            ("limit", "100"),
        ],
    )
    .await;
    assert!(r.total > 0);
    assert!(r
        .items
        .iter()
        .all(|p| (1000..=5000).contains(&p.price.amount())));
    let r = search(&svc, &[("brand", "SAMSUNG"), ("limit", "100")]).await;
    assert!(r.total > 0);
    assert!(r
        .items
        .iter()
        .all(|p| p.brand.as_deref().map(str::to_lowercase) == Some("samsung".into())));
}

async fn every_sort_orders_its_key(db: TestDb) {
    seeded(&db).await;
    let svc = db.service();
    let prices: Vec<i64> = search(&svc, &[("sort", "price_asc"), ("limit", "100")])
        .await
        .items
        .iter()
        .map(|p| p.price.amount())
        .collect();
    assert!(prices.windows(2).all(|w| w[0] <= w[1]));
    let prices: Vec<i64> = search(&svc, &[("sort", "price_desc"), ("limit", "100")])
        .await
        .items
        .iter()
        .map(|p| p.price.amount())
        .collect();
    assert!(prices.windows(2).all(|w| w[0] >= w[1]));
    let pop: Vec<i64> = search(&svc, &[("limit", "100")])
        .await
        .items
        .iter()
        .map(|p| p.popularity)
        .collect();
    assert!(
        pop.windows(2).all(|w| w[0] >= w[1]),
        "popularity is the default without q"
    );
    let names: Vec<String> = search(&svc, &[("sort", "name"), ("limit", "100")])
        .await
        .items
        .iter()
        .map(|p| p.name.to_lowercase())
        .collect();
    assert!(names.windows(2).all(|w| w[0] <= w[1]));
}

async fn cursor_pages_cover_results_exactly_once(db: TestDb) {
    seeded(&db).await;
    let svc = db.service();
    for sort in ["relevance", "popularity", "price_asc", "price_desc", "name"] {
        let q: &[(&str, &str)] = if sort == "relevance" {
            &[("q", "samsung")]
        } else {
            &[("q", "samsung"), ("sort", sort)]
        };
        let all = search(&svc, &[q, &[("limit", "100")]].concat()).await;
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut params = [q, &[("limit", "7")]].concat();
            if let Some(c) = &cursor {
                params.push(("cursor", c));
            }
            let page = search(&svc, &params).await;
            seen.extend(page.items.iter().map(|p| p.id));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let unique: HashSet<_> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "{sort}: a product appeared twice");
        assert_eq!(
            seen.len() as u64,
            all.total,
            "{sort}: pages cover every result"
        );
        let first: Vec<_> = all.items.iter().map(|p| p.id).collect();
        assert_eq!(
            &seen[..first.len().min(seen.len())],
            &first[..first.len().min(seen.len())],
            "{sort}: same order as one big page"
        );
    }
}

async fn facets_count_the_whole_result_set(db: TestDb) {
    seeded(&db).await;
    let r = search(&db.service(), &[("q", "samsung")]).await;
    let by_price: u64 = r.facets.price.iter().map(|b| b.count).sum();
    assert_eq!(by_price, r.total);
    let by_category: u64 = r.facets.categories.iter().map(|c| c.count).sum();
    assert_eq!(
        by_category, r.total,
        "every product has exactly one root category"
    );
    assert!(r.facets.brands.iter().any(|b| b.value == "Samsung"));
    assert!(r.facets.brands.windows(2).all(|w| w[0].count >= w[1].count));
}

async fn one_letter_typos_still_find_products(db: TestDb) {
    seeded(&db).await;
    let svc = db.service();
    let exact = search(&svc, &[("q", "samsung ")]).await;
    for typo in ["samsnug ", "samsng ", "smasung "] {
        let r = search(&svc, &[("q", typo)]).await;
        assert_eq!(r.corrected_query.as_deref(), Some("samsung"), "{typo}");
        assert_eq!(r.total, exact.total, "{typo} finds what samsung finds");
    }
    let r = search(&svc, &[("q", "samsnug galaxy")]).await;
    assert!(r.total > 0);
    assert!(r.items[0].name.to_lowercase().contains("samsung"));
}

async fn query_syntax_is_searched_as_plain_text(db: TestDb) {
    seeded(&db).await;
    let svc = db.service();
    for q in [
        "' OR 1=1 --",
        "\"",
        "*",
        "NEAR(",
        "-",
        ":",
        "samsung\" OR \"x",
        "a AND b",
        "(((",
        "col:val",
        "%_\\",
        "\u{0}",
    ] {
        let parsed = SearchParamsCheck::ok(q);
        if parsed {
            let _ = search(&svc, &[("q", q)]).await; // must not error
        }
    }
    assert!(search(&svc, &[("brand", "x' OR '1'='1")]).await.total == 0);
}

struct SearchParamsCheck;
impl SearchParamsCheck {
    fn ok(q: &str) -> bool {
        emporium_domain::catalog::SearchText::parse(q).is_ok()
    }
}

async fn category_tree_counts_subtrees(db: TestDb) {
    seeded(&db).await;
    let tree = db.service().categories().await.unwrap();
    let total: u64 = tree.iter().map(|n| n.product_count).sum();
    assert_eq!(total, db.store.product_count().await.unwrap());
    fn check(n: &emporium_domain::catalog::CategoryNode) {
        let children: u64 = n.children.iter().map(|c| c.product_count).sum();
        assert!(children <= n.product_count, "{}", n.slug.as_str());
        n.children.iter().for_each(check);
    }
    tree.iter().for_each(check);
}

async fn product_detail_round_trips(db: TestDb) {
    let draft = ProductDraft {
        sku: Sku::parse("T-1").unwrap(),
        name: "Test Kettle".into(),
        brand: Some("Acme".into()),
        description: Some("Boils water".into()),
        category: vec!["Kitchen".into(), "Kettles".into()],
        price: Money::new(2599, Currency::USD).unwrap(),
        image: Some("https://example.com/k.jpg".into()),
        popularity: 5,
        attributes: [("colour".to_string(), "red".to_string())].into(),
    };
    db.store
        .import(std::slice::from_ref(&draft), &noop)
        .await
        .unwrap();
    let r = search(&db.service(), &[("q", "kettle")]).await;
    let id = r.items[0].id;
    let p = db.store.product(id).await.unwrap().unwrap();
    assert_eq!(p.summary.name, "Test Kettle");
    assert_eq!(p.summary.price.amount(), 2599);
    assert_eq!(p.summary.category.path, ["Kitchen", "Kettles"]);
    assert_eq!(p.summary.category.slug.as_str(), "kitchen/kettles");
    assert_eq!(p.description.as_deref(), Some("Boils water"));
    assert_eq!(p.attributes.get("colour").map(String::as_str), Some("red"));
    assert!(db
        .store
        .product(uuid::Uuid::now_v7())
        .await
        .unwrap()
        .is_none());
}

/// What customers see of a query and of one product in it.
#[derive(Debug, PartialEq)]
struct Visible {
    total: u64,
    ids: HashSet<uuid::Uuid>,
    brand_count: u64,
    root_count: u64,
    price_count: u64,
    category_count: u64,
    detail: bool,
}

async fn visible(db: &TestDb, p: &emporium_domain::catalog::ProductSummary) -> Visible {
    let r = search(&db.service(), &[("q", "samsung"), ("limit", "100")]).await;
    assert!(r.next_cursor.is_none(), "one page holds every result");
    let brand = p.brand.as_deref().unwrap();
    let rows = db.store.categories().await.unwrap();
    Visible {
        total: r.total,
        ids: r.items.iter().map(|i| i.id).collect(),
        brand_count: r
            .facets
            .brands
            .iter()
            .find(|b| b.value == brand)
            .map_or(0, |b| b.count),
        root_count: r
            .facets
            .categories
            .iter()
            .find(|c| c.name == p.category.path[0])
            .map_or(0, |c| c.count),
        price_count: r.facets.price.iter().map(|b| b.count).sum(),
        category_count: rows
            .iter()
            .find(|c| c.category.id == p.category.id)
            .unwrap()
            .product_count,
        detail: db.store.product(p.id).await.unwrap().is_some(),
    }
}

async fn archived_products_leave_search_facets_and_detail(db: TestDb) {
    seeded(&db).await;
    let r = search(&db.service(), &[("q", "samsung"), ("limit", "100")]).await;
    let p = r.items.iter().find(|p| p.brand.is_some()).unwrap().clone();
    let before = visible(&db, &p).await;
    assert!(before.ids.contains(&p.id) && before.detail);
    let v0 = db.store.catalog_version().await.unwrap();

    assert!(db
        .store
        .set_archived(p.id, true, 1_700_000_000_000)
        .await
        .unwrap());
    let v1 = db.store.catalog_version().await.unwrap();
    assert!(v1 > v0, "archiving bumps the catalog version");
    let after = visible(&db, &p).await;
    assert!(!after.ids.contains(&p.id), "gone from the results");
    assert_eq!(after.total, before.total - 1);
    assert_eq!(after.brand_count, before.brand_count - 1);
    assert_eq!(after.root_count, before.root_count - 1);
    assert_eq!(
        after.price_count, after.total,
        "price bands count it no more"
    );
    assert_eq!(after.category_count, before.category_count - 1);
    assert!(!after.detail, "no detail for an archived product");
    assert!(
        !db.store
            .set_archived(p.id, true, 1_700_000_000_001)
            .await
            .unwrap(),
        "archiving twice changes nothing"
    );
    assert_eq!(db.store.catalog_version().await.unwrap(), v1);

    assert!(db
        .store
        .set_archived(p.id, false, 1_700_000_000_002)
        .await
        .unwrap());
    assert!(
        db.store.catalog_version().await.unwrap() > v1,
        "restoring bumps it too"
    );
    assert_eq!(
        visible(&db, &p).await,
        before,
        "restored: everything is back"
    );
    assert!(!db
        .store
        .set_archived(p.id, false, 1_700_000_000_003)
        .await
        .unwrap());

    // Brand suggestions: a brand whose only product is archived is gone.
    let draft = ProductDraft {
        sku: Sku::parse("ARCH-1").unwrap(),
        name: "Archivable Lamp".into(),
        brand: Some("Zyxwbrand".into()),
        description: None,
        category: vec!["Home".into()],
        price: Money::new(999, Currency::USD).unwrap(),
        image: None,
        popularity: 0,
        attributes: Default::default(),
    };
    db.store.import(&[draft], &noop).await.unwrap();
    let brands = db.store.brands_with_prefix("zyxw", 5).await.unwrap();
    assert_eq!(brands, ["Zyxwbrand"]);
    let lamp = search(&db.service(), &[("q", "archivable")]).await.items[0].id;
    assert!(db
        .store
        .set_archived(lamp, true, 1_700_000_000_004)
        .await
        .unwrap());
    assert!(db
        .store
        .brands_with_prefix("zyxw", 5)
        .await
        .unwrap()
        .is_empty());
}

async fn archiving_an_unknown_product_is_false(db: TestDb) {
    seeded(&db).await;
    let v0 = db.store.catalog_version().await.unwrap();
    for archived in [true, false] {
        assert!(!db
            .store
            .set_archived(uuid::Uuid::now_v7(), archived, 1_700_000_000_000)
            .await
            .unwrap());
    }
    assert_eq!(
        db.store.catalog_version().await.unwrap(),
        v0,
        "nothing changed, same version"
    );
}

/// Every product, with facets: the costliest search there is (the whole
/// catalog materialised, counted and grouped three ways).
fn everything() -> StoreSearch {
    StoreSearch {
        term_groups: Vec::new(),
        prefix_last: false,
        match_any: false,
        category_key: None,
        brand: None,
        min_price: None,
        max_price: None,
        sort: Sort::Name,
        limit: 100,
        after: None,
        facets: true,
        facet_parent_key: None,
    }
}

async fn a_search_past_its_time_limit_is_stopped_and_its_connection_reused(db: TestDb) {
    db.store.import(&demo(), &noop).await.unwrap();
    // One connection, so every call below uses the one the stopped search used.
    let one = db.another_pool(1).await;
    let tight = one.clone().with_search_timeout(Duration::from_millis(1));
    let loose = one.clone().with_search_timeout(Duration::from_secs(120));
    for round in 0..3 {
        // 23k products take tens of milliseconds at the very least: far
        // past 1 ms, on any machine however loaded.
        let err = tight.search(&everything()).await.unwrap_err();
        assert!(matches!(err, StoreError::TimedOut(_)), "{round}: {err:?}");
        // The connection is healthy: no aborted transaction, no handler left.
        let page = loose.search(&everything()).await.unwrap();
        assert_eq!(page.total, 23_213, "{round}");
        assert_eq!(page.hits.len(), 101);
        assert_eq!(one.product_count().await.unwrap(), 23_213);
        let cheap = StoreSearch {
            term_groups: vec![vec!["samsung".into()]],
            ..everything()
        };
        assert!(loose.search(&cheap).await.unwrap().total > 0);
        // A search dropped half-way (its request timed out) leaves nothing
        // behind either, whether or not its limit had fired yet.
        let dropped = tokio::time::timeout(
            Duration::from_millis(1 + round),
            tight.search(&everything()),
        )
        .await;
        assert!(!matches!(dropped, Ok(Ok(_))), "{round}: {dropped:?}");
        assert_eq!(loose.search(&everything()).await.unwrap().total, 23_213);
    }
    one.close().await;
}
