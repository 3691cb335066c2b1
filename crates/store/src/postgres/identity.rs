//! The identity store on PostgreSQL (see `crate::identity` for what it
//! guarantees). Transactions run at READ COMMITTED: a refresh-token
//! rotation's conditional update takes the token's row lock, and a
//! concurrent one waits for it, then re-checks `used_at IS NULL` against
//! the committed row and so claims nothing.

crate::identity::identity_store!(super::PgStore, sqlx::Postgres, "BEGIN");
