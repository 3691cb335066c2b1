//! API keys: the secret key everywhere, the publishable key only for
//! tokenization; Stripe's 401 otherwise. CORS is open on tokenization.

use crate::support::{card_form, stripe_error, Sim, PK, SK};

#[tokio::test]
async fn a_missing_or_wrong_key_is_a_stripe_401() {
    let sim = Sim::start().await;
    for key in [None, Some("sk_test_wrong_key_1234"), Some("")] {
        let res = sim
            .post_as(
                "/v1/payment_intents",
                &[("amount", "100"), ("currency", "usd")],
                key,
                None,
            )
            .await;
        assert!(res.headers().contains_key("www-authenticate"));
        let error = stripe_error(res, 401, "invalid_request_error", None).await;
        assert!(!error["message"]
            .as_str()
            .unwrap()
            .contains("sk_test_wrong_key_1234"));
    }
    let res = sim
        .client
        .get(sim.url("/v1/payment_intents"))
        .send()
        .await
        .unwrap();
    stripe_error(res, 401, "invalid_request_error", None).await;
    let res = sim
        .client
        .get(sim.url("/_control/faults"))
        .bearer_auth(PK)
        .send()
        .await
        .unwrap();
    stripe_error(res, 401, "invalid_request_error", None).await;
}

#[tokio::test]
async fn the_publishable_key_only_tokenizes() {
    let sim = Sim::start().await;
    let res = sim
        .post_as(
            "/v1/payment_methods",
            &card_form("4242424242424242"),
            Some(PK),
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = sim
        .post_as(
            "/v1/tokens",
            &card_form("4242424242424242")[1..],
            Some(PK),
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = sim
        .post_as(
            "/v1/payment_intents",
            &[("amount", "100"), ("currency", "usd")],
            Some(PK),
            None,
        )
        .await;
    let error = stripe_error(res, 401, "invalid_request_error", None).await;
    assert!(error["message"].as_str().unwrap().contains("publishable"));
    // Basic auth with the key as user name, as in Stripe's curl examples.
    let res = sim
        .client
        .get(sim.url("/v1/payment_intents"))
        .basic_auth(SK, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn tokenization_is_open_to_browsers() {
    let sim = Sim::start().await;
    let preflight = sim
        .client
        .request(reqwest::Method::OPTIONS, sim.url("/v1/payment_methods"))
        .header("Origin", "https://shop.example")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let headers = preflight.headers();
    assert_eq!(headers["access-control-allow-origin"], "*");
    let allowed = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(
        allowed.contains("authorization") && allowed.contains("content-type"),
        "{allowed}"
    );
    let res = sim
        .client
        .post(sim.url("/v1/payment_methods"))
        .header("Origin", "https://shop.example")
        .bearer_auth(PK)
        .form(&card_form("4242424242424242"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    // Even a refusal is readable by the page.
    let res = sim
        .client
        .post(sim.url("/v1/payment_methods"))
        .header("Origin", "https://shop.example")
        .form(&card_form("4242424242424242"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    stripe_error(res, 401, "invalid_request_error", None).await;
    // The secret-key API is not CORS-open.
    let res = sim
        .client
        .get(sim.url("/v1/payment_intents"))
        .header("Origin", "https://shop.example")
        .bearer_auth(SK)
        .send()
        .await
        .unwrap();
    assert!(!res.headers().contains_key("access-control-allow-origin"));
}
