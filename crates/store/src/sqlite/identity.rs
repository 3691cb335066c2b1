//! The identity store on SQLite (see `crate::identity` for what it
//! guarantees). Write transactions start with `BEGIN IMMEDIATE`, which takes
//! the database's write lock at once: concurrent writers queue on the busy
//! timeout instead of failing with `SQLITE_BUSY` when a read lock they
//! already hold cannot be upgraded, and a refresh-token rotation sees no
//! other writer between its claim and its outcome.

crate::identity::identity_store!(super::SqliteStore, sqlx::Sqlite, "BEGIN IMMEDIATE");
