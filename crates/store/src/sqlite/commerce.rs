//! The commerce store on SQLite (see `crate::commerce` for what it
//! guarantees). Every write transaction starts with `BEGIN IMMEDIATE`,
//! which takes the database's one write lock at once: concurrent carts,
//! checkouts and stock changes run one after another (queueing on the busy
//! timeout), so a transaction's reads stay true until it commits and no row
//! locks are needed. The shipping address is JSON text.

crate::commerce::commerce_store!(
    super::SqliteStore,
    sqlx::Sqlite,
    begin = "BEGIN IMMEDIATE",
    least = "MIN",
    greatest = "MAX",
    for_update = "",
    skip_locked = "",
    json = "TEXT",
    key_lock = None,
);
