//! The store contracts (catalog, identity, commerce): every behaviour below
//! runs against SQLite and against PostgreSQL (a fresh database per test, dropped afterwards;
//! `EMPORIUM_TEST_DATABASE_URL` points at the server, default
//! `postgres://postgres@127.0.0.1:5432/postgres`).

#![allow(clippy::too_many_lines, reason = "a test reads as one story")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on what it did not expect"
)]

mod agreement;
mod catalog;
mod commerce;
mod identity;
mod support;

/// Generates one test per backend for each named behaviour.
#[macro_export]
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::support::TestDb::sqlite().await).await } )*
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::support::TestDb::postgres().await).await } )*
        }
    };
}
