//! Test databases: a temporary SQLite file, or a PostgreSQL database
//! created for the test and dropped when it ends.

use std::io::BufRead;
use std::time::Duration;

use emporium_cache::AnyCache;
use emporium_domain::catalog::import::read_catalog;
use emporium_domain::catalog::{
    CatalogService, ProductDraft, SearchParams, SearchQuery, SearchResult,
};
use emporium_domain::Currency;
use emporium_store::Store;
use sqlx::Connection;

pub const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../emporium/tests/fixtures/small-catalog.jsonl"
);
pub const DEMO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../catalog/demo-catalog.jsonl.gz"
);

pub fn admin_url() -> String {
    std::env::var("EMPORIUM_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub struct TestDb {
    pub store: Store,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl TestDb {
    /// Another store on the same database, with a pool of `size`
    /// connections (closed by the caller).
    pub async fn another_pool(&self, size: u32) -> Store {
        match (&self._dir, &self.pg_name) {
            (Some(dir), _) => Store::open_sqlite(dir.path(), size).await.unwrap(),
            (None, Some(name)) => Store::connect_postgres(&with_database(&admin_url(), name), size)
                .await
                .unwrap(),
            (None, None) => unreachable!("a test database is SQLite or PostgreSQL"),
        }
    }
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(dir.path(), 4).await.unwrap();
        TestDb {
            store,
            _dir: Some(dir),
            pg_name: None,
        }
    }

    pub async fn postgres() -> TestDb {
        let name = format!("emporium_test_{}", uuid::Uuid::now_v7().simple());
        let admin = admin_url();
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .expect("PostgreSQL must be running for the contract tests");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        let url = with_database(&admin, &name);
        let store = Store::connect_postgres(&url, 4).await.unwrap();
        store.migrate().await.unwrap();
        TestDb {
            store,
            _dir: None,
            pg_name: Some(name),
        }
    }

    pub fn service(&self) -> CatalogService<Store, AnyCache> {
        CatalogService::new(self.store.clone(), AnyCache::None, Duration::from_secs(60))
    }
}

/// The admin URL with its database name replaced.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, _) = url.rsplit_once('/').unwrap();
    format!("{base}/{db}")
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        let store = self.store.clone();
        // Drop runs outside async; use a private runtime on its own thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                store.close().await;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url()).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            })
        })
        .join();
    }
}

pub fn fixture() -> Vec<ProductDraft> {
    let f = std::fs::File::open(FIXTURE).unwrap();
    let (drafts, rejected) = read_catalog(std::io::BufReader::new(f), Currency::USD).unwrap();
    assert!(rejected.is_empty(), "fixture has bad records: {rejected:?}");
    drafts
}

pub fn demo() -> Vec<ProductDraft> {
    let f = std::fs::File::open(DEMO).unwrap();
    let r: Box<dyn BufRead> = Box::new(std::io::BufReader::new(flate2::read::MultiGzDecoder::new(
        f,
    )));
    read_catalog(r, Currency::USD).unwrap().0
}

pub async fn search(svc: &CatalogService<Store, AnyCache>, pairs: &[(&str, &str)]) -> SearchResult {
    let mut q = SearchQuery::default();
    for (k, v) in pairs {
        let v = Some(v.to_string());
        match *k {
            "q" => q.q = v,
            "category" => q.category = v,
            "brand" => q.brand = v,
            "min_price" => q.min_price = v,
            "max_price" => q.max_price = v,
            "sort" => q.sort = v,
            "limit" => q.limit = v,
            "cursor" => q.cursor = v,
            other => panic!("unknown parameter {other}"),
        }
    }
    svc.search_params(&SearchParams::parse(&q).unwrap())
        .await
        .unwrap()
}
