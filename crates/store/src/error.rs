//! Driver errors translated into the domain's [`StoreError`] at the boundary.

use emporium_domain::StoreError;

pub(crate) fn db(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Conflict(d.message().to_owned())
        }
        // A statement stopped at its time limit: PostgreSQL's
        // query_canceled (statement_timeout), SQLite's SQLITE_INTERRUPT
        // (the progress handler of `sqlite::TimeLimit`).
        sqlx::Error::Database(d) if d.code().is_some_and(|c| c == "57014" || c == "9") => {
            StoreError::TimedOut(d.message().to_owned())
        }
        // Connection exceptions (08…), operator intervention such as an
        // admin shutdown (57P…), or a database that is gone (3D000): the
        // store is unavailable, not broken. So is a write that reached a
        // server in recovery (25006: a replica, or a primary just demoted)
        // before the monitor noticed.
        sqlx::Error::Database(d)
            if d.code().is_some_and(|c| {
                c.starts_with("08") || c.starts_with("57P") || c == "3D000" || c == "25006"
            }) =>
        {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Internal(e.to_string()),
    }
}

pub(crate) fn migrate(e: sqlx::migrate::MigrateError) -> StoreError {
    StoreError::Internal(format!("migration failed: {e}"))
}
