//! Storage adapters for Emporium's [`CatalogStore`] and [`IdentityStore`]
//! ports: SQLite (the embedded default) and PostgreSQL (scale-out). Each has
//! its own migrations and SQL; both pass the same contract tests.
//!
//! The set of backends is fixed, so [`Store`] is an enum chosen at start-up
//! rather than a trait object.

mod error;
mod identity;
mod import_plan;
pub mod postgres;
mod reads;
mod rows;
mod sql;
pub mod sqlite;

use std::path::Path;

use emporium_domain::catalog::{ImportCounts, ProductDetail, ProductDraft, StorePage, StoreSearch};
use emporium_domain::identity::{
    DisplayName, Email, NewSession, RefreshOutcome, RevokeReason, Revoked, StoredKey, UnixMillis,
    User, UserRecord,
};
use emporium_domain::ports::{CatalogStore, CategoryRow, IdentityStore};
use emporium_domain::StoreError;
use uuid::Uuid;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// The configured store (catalog and identity).
#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl Store {
    /// Opens (creating and migrating if needed) the SQLite file `catalog.db` in `data_dir`.
    pub async fn open_sqlite(data_dir: &Path, pool_size: u32) -> Result<Store, StoreError> {
        Ok(Store::Sqlite(
            SqliteStore::open(&data_dir.join("catalog.db"), pool_size).await?,
        ))
    }

    /// Connects to PostgreSQL; run [`Store::migrate`] before use.
    pub async fn connect_postgres(url: &str, pool_size: u32) -> Result<Store, StoreError> {
        Ok(Store::Postgres(PgStore::connect(url, pool_size).await?))
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.migrate().await,
            Store::Postgres(s) => s.migrate().await,
        }
    }

    /// `sqlite` or `postgres`.
    pub fn kind(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        match self {
            Store::Sqlite(s) => s.close().await,
            Store::Postgres(s) => s.close().await,
        }
    }
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Store::Sqlite($s) => $e.await,
            Store::Postgres($s) => $e.await,
        }
    };
}

impl CatalogStore for Store {
    async fn search(&self, q: &StoreSearch) -> Result<StorePage, StoreError> {
        delegate!(self, s => s.search(q))
    }

    async fn product(&self, id: Uuid) -> Result<Option<ProductDetail>, StoreError> {
        delegate!(self, s => s.product(id))
    }

    async fn categories(&self) -> Result<Vec<CategoryRow>, StoreError> {
        delegate!(self, s => s.categories())
    }

    async fn similar_terms(&self, word: &str) -> Result<Vec<(String, u64)>, StoreError> {
        delegate!(self, s => s.similar_terms(word))
    }

    async fn brands_with_prefix(
        &self,
        prefix: &str,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        delegate!(self, s => s.brands_with_prefix(prefix, limit))
    }

    async fn import(
        &self,
        drafts: &[ProductDraft],
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<ImportCounts, StoreError> {
        delegate!(self, s => s.import(drafts, progress))
    }

    async fn catalog_version(&self) -> Result<i64, StoreError> {
        delegate!(self, s => s.catalog_version())
    }

    async fn product_count(&self) -> Result<u64, StoreError> {
        delegate!(self, s => s.product_count())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        delegate!(self, s => s.ping())
    }
}

impl IdentityStore for Store {
    async fn create_user(&self, user: &User, password_hash: &str) -> Result<(), StoreError> {
        delegate!(self, s => s.create_user(user, password_hash))
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StoreError> {
        delegate!(self, s => s.user_by_email(email))
    }

    async fn user_by_id(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError> {
        delegate!(self, s => s.user_by_id(id))
    }

    async fn update_user(
        &self,
        id: Uuid,
        name: Option<&DisplayName>,
        password_hash: Option<&str>,
        now: UnixMillis,
    ) -> Result<Option<User>, StoreError> {
        delegate!(self, s => s.update_user(id, name, password_hash, now))
    }

    async fn create_session(&self, session: &NewSession) -> Result<(), StoreError> {
        delegate!(self, s => s.create_session(session))
    }

    async fn rotate_refresh_token(
        &self,
        presented_hash: &str,
        new_hash: &str,
        now: UnixMillis,
    ) -> Result<RefreshOutcome, StoreError> {
        delegate!(self, s => s.rotate_refresh_token(presented_hash, new_hash, now))
    }

    async fn revoke_session(
        &self,
        session_id: Uuid,
        reason: RevokeReason,
        now: UnixMillis,
    ) -> Result<bool, StoreError> {
        delegate!(self, s => s.revoke_session(session_id, reason, now))
    }

    async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        keep: Option<Uuid>,
        reason: RevokeReason,
        now: UnixMillis,
    ) -> Result<Vec<Uuid>, StoreError> {
        delegate!(self, s => s.revoke_user_sessions(user_id, keep, reason, now))
    }

    async fn purge_sessions(&self, before: UnixMillis) -> Result<u64, StoreError> {
        delegate!(self, s => s.purge_sessions(before))
    }

    async fn revoked_since(
        &self,
        since: UnixMillis,
        limit: u32,
    ) -> Result<Vec<Revoked>, StoreError> {
        delegate!(self, s => s.revoked_since(since, limit))
    }

    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        delegate!(self, s => s.signing_keys())
    }

    async fn add_signing_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        delegate!(self, s => s.add_signing_key(key))
    }

    async fn remove_signing_key(&self, kid: &str) -> Result<bool, StoreError> {
        delegate!(self, s => s.remove_signing_key(kid))
    }
}
