//! Malformed requests get Stripe's 400s (never a 500), unknown routes
//! Stripe's 404; every response has a Request-Id.

use crate::support::{stripe_error, Sim, SK};

#[tokio::test]
async fn bad_parameters_are_stripe_400s() {
    let sim = Sim::start().await;
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("currency", "usd")], "parameter_missing"),
        (
            &[("amount", "12.5"), ("currency", "usd")],
            "parameter_invalid_integer",
        ),
        (
            &[("amount", "100"), ("currency", "usd"), ("confirm", "maybe")],
            "parameter_invalid_boolean",
        ),
        (
            &[("amount", "100"), ("currency", "usd"), ("colour", "red")],
            "parameter_unknown",
        ),
        (&[("amount", "0"), ("currency", "usd")], "amount_too_small"),
        (
            &[("amount", "100"), ("currency", "dollars")],
            "parameter_invalid",
        ),
        (
            &[
                ("amount", "100"),
                ("currency", "usd"),
                ("capture_method", "later"),
            ],
            "parameter_invalid",
        ),
        (
            &[("amount", "100"), ("currency", "usd"), ("confirm", "true")],
            "parameter_missing",
        ),
        (
            &[
                ("amount", "100"),
                ("currency", "usd"),
                ("metadata[a][b]", "x"),
            ],
            "parameter_unknown",
        ),
    ];
    for (form, code) in cases {
        let res = sim.post("/v1/payment_intents", form).await;
        let error = stripe_error(res, 400, "invalid_request_error", Some(code)).await;
        assert!(error["param"].is_string(), "{error}");
    }
    let long = "v".repeat(501);
    let res = sim
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "100"),
                ("currency", "usd"),
                ("metadata[k]", &long),
            ],
        )
        .await;
    stripe_error(res, 400, "invalid_request_error", None).await;
}

#[tokio::test]
async fn bodies_that_are_not_forms_are_refused() {
    let sim = Sim::start().await;
    let res = sim
        .client
        .post(sim.url("/v1/payment_intents"))
        .bearer_auth(SK)
        .header("content-type", "application/json")
        .body(r#"{"amount":100,"currency":"usd"}"#)
        .send()
        .await
        .unwrap();
    stripe_error(res, 400, "invalid_request_error", None).await;
    let res = sim
        .client
        .post(sim.url("/v1/payment_intents"))
        .bearer_auth(SK)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![0xff, b'=', 0xfe, b'&', b'%'])
        .send()
        .await
        .unwrap();
    stripe_error(res, 400, "invalid_request_error", None).await;
    let res = sim.get("/v1/payment_intents?limit=1000").await;
    stripe_error(res, 400, "invalid_request_error", None).await;
    let res = sim.get("/v1/payment_intents?status=lost").await;
    stripe_error(res, 400, "invalid_request_error", None).await;
}

#[tokio::test]
async fn unknown_routes_are_stripe_404s() {
    let sim = Sim::start().await;
    let res = sim.get("/v1/customers").await;
    assert!(res.headers()["request-id"]
        .to_str()
        .unwrap()
        .starts_with("req_"));
    let error = stripe_error(res, 404, "invalid_request_error", None).await;
    assert!(error["message"].as_str().unwrap().contains("/v1/customers"));
    let res = sim
        .client
        .delete(sim.url("/v1/payment_intents"))
        .bearer_auth(SK)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    assert!(status == 404 || status == 405, "{status}");
    stripe_error(res, status, "invalid_request_error", None).await;
}
