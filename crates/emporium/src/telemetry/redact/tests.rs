use std::borrow::Cow;

use super::redact;
use crate::telemetry::{find_pans, is_luhn_valid};

/// `body` with the digit that makes it pass Luhn appended.
fn with_check_digit(body: &str) -> String {
    (0..10)
        .map(|d| format!("{body}{d}"))
        .find(|pan| is_luhn_valid(pan))
        .unwrap()
}

fn assert_redacts(line: &str, expected: &str) {
    assert_eq!(redact(line), expected, "redact({line:?})");
}

fn assert_clean(line: &str) {
    assert!(
        matches!(redact(line), Cow::Borrowed(_)),
        "{line:?} became {:?}",
        redact(line)
    );
}

#[test]
fn card_numbers_are_redacted_plain_spaced_or_dashed() {
    assert_redacts("paid with 4242424242424242.", "paid with [REDACTED-PAN].");
    assert_redacts(
        "paid with 4242 4242 4242 4242 ok",
        "paid with [REDACTED-PAN] ok",
    );
    assert_redacts("pan=4242-4242-4242-4242&x=1", "pan=[REDACTED-PAN]&x=1");
    assert_redacts("amex 3782 822463 10005", "amex [REDACTED-PAN]");
}

#[test]
fn card_numbers_of_every_length_from_13_to_19_digits_are_redacted() {
    for len in 13..=19 {
        let pan = with_check_digit(&"4".repeat(len - 1));
        assert_eq!(pan.len(), len);
        assert_redacts(&format!("x {pan} y"), "x [REDACTED-PAN] y");
    }
}

#[test]
fn a_longer_run_holding_a_card_number_is_redacted_whole() {
    assert_redacts("ref 12 4242 4242 4242 4242 end", "ref [REDACTED-PAN] end");
    assert_redacts("id 9914242424242424242", "id [REDACTED-PAN]");
    assert_redacts("glued abc4242424242424242def", "glued abc[REDACTED-PAN]def");
}

#[test]
fn numbers_that_are_not_card_numbers_stay() {
    let millis = "1764012345678";
    assert!(!is_luhn_valid(millis), "the example must fail Luhn");
    assert_clean(&format!("at={millis} took 12ms"));
    assert_clean(
        "id=0190a3b4-5c6d-7e8f-9012-345678901234 request_id=0190a3b4c6d7e8f90123456789012345",
    );
    assert_clean("42424242-4242-4242-4242-424242424242");
    assert_clean("total $1,234.56 for 3 items at 19.99, phone +1 555 123 4567");
    assert_clean("2025-11-24T12:00:00.123456Z INFO order 42 shipped");
    assert_clean("42424242424");
}

#[test]
fn a_card_number_in_a_json_number_keeps_the_line_json() {
    let line = r#"{"amount":4242424242424242,"note":"4242 4242 4242 4242"}"#;
    let redacted = redact(line);
    assert_eq!(
        redacted,
        r#"{"amount":"[REDACTED-PAN]","note":"[REDACTED-PAN]"}"#
    );
    serde_json::from_str::<serde_json::Value>(&redacted).unwrap();
}

#[test]
fn authorization_values_are_redacted_and_the_scheme_kept() {
    assert_redacts(
        "Authorization: Bearer abc.DEF-123_~+/= next",
        "Authorization: Bearer [REDACTED] next",
    );
    assert_redacts(
        "authorization: Basic dXNlcjpwYXNz",
        "authorization: Basic [REDACTED]",
    );
    assert_redacts(
        r#"headers={"host": "shop", "authorization": "Bearer opaque token"}"#,
        r#"headers={"host": "shop", "authorization": "Bearer [REDACTED]"}"#,
    );
    assert_redacts(
        r#"{"authorization":"Basic dXNlcjpwYXNz","x":1}"#,
        r#"{"authorization":"Basic [REDACTED]","x":1}"#,
    );
    assert_redacts("authorization=sekrit;", "authorization=[REDACTED];");
    assert_clean("authorization failed for user 42");
}

#[test]
fn provider_secrets_and_tokens_keep_only_their_prefix() {
    assert_redacts(
        "key sk_live_51HxYz and sk_test_paysim, rk_live_9 rk_abc",
        "key sk_live_[REDACTED] and sk_test_[REDACTED], rk_live_[REDACTED] rk_[REDACTED]",
    );
    assert_redacts(
        "whsec_paysim pm_card_visa (tok_chargeDeclined)",
        "whsec_[REDACTED] pm_[REDACTED] (tok_[REDACTED])",
    );
    assert_clean("pk_test_paysim pi_3MtwBw intent; tok_ alone; atok_x stock_level npm_x");
}

#[test]
fn jwts_are_redacted_by_shape() {
    let jwt = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl-_x";
    assert_redacts(&format!("token {jwt}."), "token [REDACTED-JWT].");
    assert_redacts(
        "unsigned eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.",
        "unsigned [REDACTED-JWT]",
    );
    assert_clean("eyJ alone, eyJabc.def without a third part");
}

#[test]
fn sensitive_fields_are_redacted_in_every_notation() {
    assert_redacts(
        "password=hunter2 email=a@b.c",
        "password=[REDACTED] email=a@b.c",
    );
    assert_redacts(
        r#"{"email":"a@b.c","password":"hun\"ter2","cvc":"123"}"#,
        r#"{"email":"a@b.c","password":"[REDACTED]","cvc":"[REDACTED]"}"#,
    );
    assert_redacts(
        r#"Login { email: "a@b.c", password: "hunter2", cvc: 123 }"#,
        r#"Login { email: "a@b.c", password: "[REDACTED]", cvc: [REDACTED] }"#,
    );
    assert_redacts(
        r#"payment_token="pm_1" refresh_token=Some("r1") secret_key=k"#,
        r#"payment_token="[REDACTED]" refresh_token=Some("[REDACTED]") secret_key=[REDACTED]"#,
    );
    assert_redacts(
        "GET /cb?token=abc&page=2",
        "GET /cb?token=[REDACTED]&page=2",
    );
    assert_redacts(
        r#"{"card":{"number":"4000056655665556","cvc":"314"},"card_number":null}"#,
        r#"{"card":{"number":"[REDACTED]","cvc":"[REDACTED]"},"card_number":null}"#,
    );
}

#[test]
fn a_bare_json_field_value_is_replaced_by_a_string() {
    let line = r#"{"number":42,"token":true,"cvc" : 999}"#;
    let redacted = redact(line);
    assert_eq!(
        redacted,
        r#"{"number":"[REDACTED]","token":true,"cvc" : "[REDACTED]"}"#
    );
    serde_json::from_str::<serde_json::Value>(&redacted).unwrap();
}

#[test]
fn fields_inside_a_json_string_of_a_json_log_line_are_redacted() {
    let line = r#"{"level":"INFO","message":"body {\"password\":\"x y\",\"cvc\":123}"}"#;
    let redacted = redact(line);
    assert_eq!(
        redacted,
        r#"{"level":"INFO","message":"body {\"password\":\"[REDACTED]\",\"cvc\":[REDACTED]}"}"#
    );
    serde_json::from_str::<serde_json::Value>(&redacted).unwrap();
}

#[test]
fn field_names_are_matched_as_whole_words_only() {
    assert_clean("token_count=3 order_number=7 tokens=5 cards: 2 passwords=2");
    assert_clean("invalid token: expired; card declined; number of items: many");
    assert_clean(r#"{"message":"token","kind":"password"}"#);
}

#[test]
fn ansi_styled_field_names_are_still_recognised() {
    let line = "\x1b[3mpassword\x1b[0m\x1b[2m=\x1b[0m\"hunter2\" \x1b[3mn\x1b[0m\x1b[2m=\x1b[0m1";
    assert_eq!(
        redact(line),
        "\x1b[3mpassword\x1b[0m\x1b[2m=\x1b[0m\"[REDACTED]\" \x1b[3mn\x1b[0m\x1b[2m=\x1b[0m1"
    );
}

#[test]
fn multibyte_text_around_matches_is_preserved() {
    assert_redacts(
        "café 4242424242424242 ☕ password=mötörhead€ ok 🦀sk_live_x🦀",
        "café [REDACTED-PAN] ☕ password=[REDACTED] ok 🦀sk_live_[REDACTED]🦀",
    );
    assert_redacts(
        r#"{"password":"pässwörd ü"}"#,
        r#"{"password":"[REDACTED]"}"#,
    );
    assert_clean("naïve 東京 €19.99 ünïcödé");
}

#[test]
fn clean_lines_are_borrowed() {
    assert_clean("");
    assert_clean("2025-11-24T12:00:00Z INFO emporium: listening addr=127.0.0.1:8080");
}

/// Text made of the pieces the scanner reacts to, glued at random.
fn random_line(rng: &mut fastrand::Rng) -> String {
    const PIECES: &[&str] = &[
        "4",
        "2",
        "0",
        "9",
        " ",
        "-",
        "4242",
        "4242 ",
        "\"",
        "\\\"",
        ":",
        "=",
        "{",
        "}",
        "[",
        ",",
        "\\",
        "\n",
        "é",
        "€",
        "🦀",
        "東",
        "password",
        "card",
        "number",
        "token",
        "authorization",
        "Bearer ",
        "Basic ",
        "eyJ",
        ".",
        "sk_live_",
        "pm_",
        "tok_",
        "rk_",
        "_",
        "a",
        "Z",
        "\x1b[",
        "3m",
        "Some(",
        "0190a3b4-5c6d-7e8f-9012-",
        "abcdef",
        "null",
    ];
    let len = rng.usize(0..40);
    (0..len)
        .map(|_| PIECES[rng.usize(..PIECES.len())])
        .collect()
}

#[test]
fn random_text_never_panics_and_leaves_no_card_number() {
    let mut rng = fastrand::Rng::with_seed(0x5eed_4242);
    for _ in 0..20_000 {
        let line = random_line(&mut rng);
        let once = redact(&line);
        assert!(find_pans(&once).is_empty(), "{line:?} → {once:?}");
        let twice = redact(&once);
        assert_eq!(twice, once, "not stable on {line:?}");
        if let Cow::Owned(changed) = &once {
            assert_ne!(changed, &line, "allocated without a change on {line:?}");
        }
    }
}
