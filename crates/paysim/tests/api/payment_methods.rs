//! Tokenization: card checks as Stripe makes them, and the card number and
//! CVC never returned nor stored.

use crate::support::{card_form, json, stripe_error, Sim, PK};

#[tokio::test]
async fn a_payment_method_keeps_only_brand_last4_and_expiry() {
    let sim = Sim::start().await;
    let res = sim
        .post_as(
            "/v1/payment_methods",
            &card_form("4242424242424242"),
            Some(PK),
            None,
        )
        .await;
    let text = res.text().await.unwrap();
    assert!(
        !text.contains("4242424242424242") && !text.contains("\"123\""),
        "{text}"
    );
    let pm: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(pm["id"].as_str().unwrap().starts_with("pm_"));
    assert_eq!(pm["object"], "payment_method");
    assert_eq!(pm["type"], "card");
    assert_eq!(pm["card"]["brand"], "visa");
    assert_eq!(pm["card"]["last4"], "4242");
    assert_eq!(pm["card"]["exp_month"], 12);
    assert_eq!(pm["card"]["exp_year"], 2034);
    assert_eq!(pm["card"]["checks"]["cvc_check"], "pass");
    let fetched = sim
        .get_json(&format!(
            "/v1/payment_methods/{}",
            pm["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(fetched, pm);
    let mastercard = sim.card("5555555555554444").await;
    assert_eq!(mastercard["card"]["brand"], "mastercard");
}

#[tokio::test]
async fn the_ledger_never_holds_the_card_number_or_cvc() {
    let sim = Sim::start().await;
    let mut form = card_form("4000056655665556");
    form[4] = ("card[cvc]", "987");
    let res = sim
        .post_as("/v1/payment_methods", &form, Some(PK), None)
        .await;
    json(res, 200).await;
    let (config, _dir) = sim.stop().await;
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", config.ledger_path.display());
        if let Ok(b) = std::fs::read(path) {
            bytes.extend(b);
        }
    }
    let haystack = String::from_utf8_lossy(&bytes);
    assert!(haystack.contains("5556"), "the last four are kept");
    assert!(!haystack.contains("4000056655665556"));
    assert!(!haystack.contains("987"));
}

#[tokio::test]
async fn bad_numbers_and_past_expiry_are_card_errors() {
    let sim = Sim::start().await;
    let res = sim
        .post_as(
            "/v1/payment_methods",
            &card_form("4242424242424241"),
            Some(PK),
            None,
        )
        .await;
    let error = stripe_error(res, 402, "card_error", Some("incorrect_number")).await;
    assert_eq!(error["param"], "card[number]");
    let mut form = card_form("4242424242424242");
    form[3] = ("card[exp_year]", "2019");
    let res = sim
        .post_as("/v1/payment_methods", &form, Some(PK), None)
        .await;
    let error = stripe_error(res, 402, "card_error", Some("invalid_expiry_year")).await;
    assert_eq!(error["param"], "card[exp_year]");
    form[3] = ("card[exp_year]", "2030");
    form[2] = ("card[exp_month]", "13");
    let res = sim
        .post_as("/v1/payment_methods", &form, Some(PK), None)
        .await;
    stripe_error(res, 402, "card_error", Some("invalid_expiry_month")).await;
    let res = sim
        .post_as(
            "/v1/payment_methods",
            &[("type", "card"), ("card[exp_month]", "1")],
            Some(PK),
            None,
        )
        .await;
    let error = stripe_error(res, 400, "invalid_request_error", Some("parameter_missing")).await;
    assert_eq!(error["param"], "card[number]");
    let res = sim
        .post_as("/v1/payment_methods", &[("type", "card")], Some(PK), None)
        .await;
    stripe_error(res, 400, "invalid_request_error", Some("parameter_missing")).await;
}

#[tokio::test]
async fn a_token_pays_once() {
    let sim = Sim::start().await;
    let res = sim
        .post_as(
            "/v1/tokens",
            &card_form("4242424242424242")[1..],
            Some(PK),
            None,
        )
        .await;
    let token = json(res, 200).await;
    let id = token["id"].as_str().unwrap();
    assert!(id.starts_with("tok_"));
    assert_eq!(token["object"], "token");
    assert_eq!(token["card"]["last4"], "4242");
    assert!(token["card"]["id"].as_str().unwrap().starts_with("card_"));
    let intent = json(sim.pay("tok-order", "1500", id).await, 200).await;
    assert_eq!(intent["status"], "succeeded");
    assert!(intent["payment_method"]
        .as_str()
        .unwrap()
        .starts_with("pm_"));
    let again = sim.pay("tok-order", "1500", id).await;
    stripe_error(
        again,
        400,
        "invalid_request_error",
        Some("token_already_used"),
    )
    .await;
    assert_eq!(
        sim.intents_of("tok-order").await.len(),
        1,
        "the refused request created nothing"
    );
}
