//! The commerce store on PostgreSQL (see `crate::commerce` for what it
//! guarantees). Transactions run at READ COMMITTED; what must not change
//! under a transaction is locked: the cart row while lines are added or
//! merged, the cart's lines and the inventory rows during a checkout (a
//! conditional `UPDATE` re-checks `on_hand - reserved` after waiting for a
//! concurrent one), the inventory row during a stock change, and, for the
//! whole checkout, a transaction-scoped advisory lock on the idempotency
//! scope and key so that a second request with the key waits and replays
//! (keys whose hashes collide merely wait for each other).
//! The shipping address is JSONB.

crate::commerce::commerce_store!(
    super::PgStore,
    sqlx::Postgres,
    begin = "BEGIN",
    least = "LEAST",
    greatest = "GREATEST",
    for_update = " FOR UPDATE",
    skip_locked = " FOR UPDATE SKIP LOCKED",
    json = "JSONB",
    key_lock = Some("SELECT pg_advisory_xact_lock(hashtext($1))"),
);
