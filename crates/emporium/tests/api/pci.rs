//! PCI DSS scope: a whole purchase (tokenize a card at the provider as a
//! browser would, check out, pay) against the real binary in its default
//! configuration (the built-in simulator), with card numbers also thrown at
//! Emporium where they do not belong; then every file the shop wrote (its
//! database, WAL, the simulator's ledger) and every log line is scanned for
//! Luhn-valid 13–19 digit runs. One is a failure. The same purchase on
//! PostgreSQL is checked in a `pg_dump` of its database.

use std::time::Duration;

use emporium::telemetry::{find_pans, find_pans_in_bytes};
use serde_json::{json, Value};

use crate::payments::VISA;
use crate::support::{ServerProcess, FIXTURE};

/// Whether a Luhn-valid run found in a binary file is written as card
/// numbers are: digits alone, or in groups of four (`4242 4242 4242 4242`)
/// or Amex's 4-6-5. Database pages hold many runs of small numbers
/// separated by spaces (full-text index lists) that pass Luhn by chance.
fn card_shaped(run: &str) -> bool {
    let groups: Vec<usize> = run.split([' ', '-']).map(str::len).collect();
    match groups.as_slice() {
        [_] => true,
        [4, 6, 5] => true,
        [init @ .., last] => init.iter().all(|&g| g == 4) && (1..=4).contains(last),
        [] => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchase_leaves_no_card_number_in_the_database_or_the_logs() {
    // The scanner itself finds what it must.
    assert_eq!(find_pans(&format!("card {VISA} here")), [VISA]);
    assert_eq!(find_pans("4242-4242-4242-4242").len(), 1);
    assert!(card_shaped("4242 4242 4242 4242") && card_shaped(VISA));
    assert!(!card_shaped("21 1227 227227 227"));

    let dir = tempfile::tempdir().unwrap();
    let seeded = std::process::Command::new(env!("CARGO_BIN_EXE_emporium"))
        .args(["seed", "--file", FIXTURE, "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(seeded.status.success());
    let log = dir.path().join("server.log");
    let server = ServerProcess::start_logged(
        "all",
        dir.path(),
        &[(
            "RUST_LOG",
            "debug,sqlx=info,hyper=info,reqwest=info,h2=info",
        )],
        Some(&log),
    );
    let http = reqwest::Client::new();
    let config: Value = http
        .get(server.url("/api/config"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tokenize = config["payments"]["tokenization_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(tokenize.starts_with("http://127.0.0.1:"), "{config}");

    let (order, order_token) = server.guest_order(&http, "lamp").await;
    let pay = |token: String| {
        let http = http.clone();
        let url = server.url(&format!("/api/orders/{order}/pay"));
        let order_token = order_token.clone();
        async move {
            http.post(url)
                .header("x-order-token", order_token)
                .json(&json!({ "payment_token": token }))
                .send()
                .await
                .unwrap()
        }
    };

    // Card data sent to Emporium by mistake is refused, never stored.
    assert_eq!(pay(VISA.to_owned()).await.status(), 400);
    let res = http
        .get(server.url(&format!("/api/products?q={VISA}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = http
        .get(server.url("/api/orders"))
        .bearer_auth("4000056655665556")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    // The card goes to the provider; Emporium gets the token.
    let pm: Value = http
        .post(&tokenize)
        .bearer_auth(config["payments"]["publishable_key"].as_str().unwrap())
        .form(&[
            ("type", "card"),
            ("card[number]", VISA),
            ("card[exp_month]", "12"),
            ("card[exp_year]", "2040"),
            ("card[cvc]", "123"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let res = pay(pm["id"].as_str().unwrap().to_owned()).await;
    assert_eq!(res.status(), 200);
    let paid: Value = res.json().await.unwrap();
    assert_eq!(paid["status"], "paid");
    // Let the provider's webhook arrive and be logged.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    drop(server);

    let mut scanned = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path == log || path.is_dir() {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        scanned += 1;
        let found: Vec<String> = find_pans_in_bytes(&bytes)
            .into_iter()
            .filter(|m| card_shaped(m))
            .collect();
        assert!(
            found.is_empty(),
            "{}: card-like numbers {found:?}",
            path.display()
        );
    }
    assert!(
        scanned >= 3,
        "the database, its WAL and the ledger were scanned"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("/pay") && text.contains("payment webhook"),
        "the log covers the purchase"
    );
    for line in text.lines() {
        let found = find_pans(line);
        assert!(
            found.is_empty(),
            "log line with card-like numbers {found:?}: {line}"
        );
    }
}

/// The dump with its `bytea` values (`\x` and hex digits: the signing
/// keys) blanked: hex holds digit runs that pass Luhn by chance.
fn without_bytea(dump: &str) -> String {
    let mut out = String::with_capacity(dump.len());
    let mut rest = dump;
    while let Some(at) = rest.find("\\x") {
        out.push_str(&rest[..at]);
        let hex = rest[at + 2..]
            .find(|c: char| !c.is_ascii_hexdigit())
            .unwrap_or(rest.len() - at - 2);
        out.push(' ');
        rest = &rest[at + 2 + hex..];
    }
    out.push_str(rest);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchase_leaves_no_card_number_in_a_postgresql_dump() {
    assert_eq!(without_bytea("a \\x30510201 b"), "a   b");
    use secrecy::ExposeSecret;

    use crate::payments::PayingShop;
    use crate::support::Backend;

    let shop = PayingShop::start(Backend::Postgres, |_| {}).await;
    let product = shop.app.products("lamp", 1).await[0].0.clone();
    let order = shop.order(&product, 1).await;
    assert_eq!(
        shop.pay_token(&order, VISA).await.0,
        400,
        "a card number as a token"
    );
    let (status, paid) = shop.pay(&order, VISA).await;
    assert_eq!(status, 200, "{paid}");
    let url = shop
        .app
        .config
        .store
        .database_url
        .as_ref()
        .unwrap()
        .expose_secret()
        .to_owned();
    let dump = std::process::Command::new("pg_dump")
        .args(["--data-only", "--no-owner", &url])
        .output()
        .expect("pg_dump (PostgreSQL's client tools) must be installed");
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let text = without_bytea(&String::from_utf8_lossy(&dump.stdout));
    assert!(
        text.contains("COPY public.payments"),
        "the dump holds the payments"
    );
    assert!(text.contains(&order.0), "and this order");
    // Times are Unix milliseconds, 13 digits that pass Luhn one time in ten;
    // no card number is 13 digits starting with 1.
    let timestamp = |m: &str| m.len() == 13 && m.starts_with('1');
    let found: Vec<String> = find_pans(&text)
        .into_iter()
        .filter(|m| card_shaped(m) && !timestamp(m))
        .collect();
    assert!(found.is_empty(), "card-like numbers in the dump: {found:?}");
}
