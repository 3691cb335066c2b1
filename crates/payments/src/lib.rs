//! Emporium's payment-provider client: Stripe's PaymentIntents API (or
//! `paysim`, which speaks the same subset) over HTTP, behind the domain's
//! [`PaymentProvider`] port.
//!
//! Every call has a connect and a total timeout. Retryable failures
//! (connection errors, timeouts, 5xx, 429, and 409 while an earlier attempt
//! with the same key is still in progress) are retried up to `retries`
//! times with exponential backoff and full jitter, always with the same
//! `Idempotency-Key`, so the provider charges at most once. Card errors
//! (402) and other 4xx are answers, never retried. A circuit breaker opens
//! after consecutive failed requests, so that a dead provider costs callers
//! nothing while it is down.

mod breaker;
pub mod webhook;

use std::time::Duration;

use emporium_domain::payments::{
    BoxFuture, ChargeOutcome, ChargeRequest, PaymentProvider, ProviderError, RefundRequest,
};
use serde_json::Value;

pub use breaker::{Breaker, State as BreakerState};

/// How to reach the provider and how patient to be.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// `https://api.stripe.com` or a paysim address (`http://127.0.0.1:…`).
    pub base_url: String,
    pub secret_key: String,
    pub connect_timeout: Duration,
    /// For a whole request, response included.
    pub timeout: Duration,
    /// Retries after the first attempt (3).
    pub retries: u32,
    /// The first backoff; doubled on every retry, with full jitter.
    pub backoff: Duration,
    /// Consecutive failed requests that open the breaker (3).
    pub breaker_threshold: u32,
    /// How long the breaker stays open before a trial request.
    pub breaker_cooldown: Duration,
}

/// The HTTP adapter of [`PaymentProvider`].
pub struct StripeClient {
    http: reqwest::Client,
    config: ProviderConfig,
    breaker: Breaker,
}

impl std::fmt::Debug for StripeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeClient")
            .field("base_url", &self.config.base_url)
            .finish_non_exhaustive()
    }
}

impl StripeClient {
    pub fn new(config: ProviderConfig) -> Result<StripeClient, ProviderError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .build()
            .map_err(|e| ProviderError::Rejected(format!("building the HTTP client: {e}")))?;
        let breaker = Breaker::new(config.breaker_threshold, config.breaker_cooldown);
        Ok(StripeClient {
            http,
            config,
            breaker,
        })
    }

    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    /// POSTs a form, retrying retryable failures with the same key. Answers
    /// the status and body of the first non-retryable response.
    async fn post(
        &self,
        path: &str,
        form: &[(&str, String)],
        key: &str,
    ) -> Result<(u16, Value), ProviderError> {
        let url = format!("{}{path}", self.config.base_url.trim_end_matches('/'));
        let mut last = String::new();
        for attempt in 0..=self.config.retries {
            if attempt > 0 {
                metrics::counter!("payment_provider_retries_total").increment(1);
                tokio::time::sleep(self.backoff(attempt)).await;
            }
            if !self.breaker.allow() {
                return Err(ProviderError::Unavailable("circuit breaker open".into()));
            }
            let sent = self
                .http
                .post(&url)
                .bearer_auth(&self.config.secret_key)
                .header("Idempotency-Key", key)
                .form(form)
                .send()
                .await;
            let res = match sent {
                Ok(res) => res,
                Err(e) => {
                    self.breaker.failure();
                    last = if e.is_timeout() {
                        "timed out".into()
                    } else {
                        format!("unreachable: {e}")
                    };
                    continue;
                }
            };
            let status = res.status().as_u16();
            // 409: the same key is still being processed by an earlier attempt.
            if status == 409 || status == 429 || status >= 500 {
                self.breaker.failure();
                last = format!("answered {status}");
                continue;
            }
            let body = match res.json::<Value>().await {
                Ok(body) => body,
                Err(e) => {
                    self.breaker.failure();
                    last = format!("unreadable answer: {e}");
                    continue;
                }
            };
            self.breaker.success();
            return Ok((status, body));
        }
        tracing::warn!(path, error = %last, "payment provider unavailable after retries");
        Err(ProviderError::Unavailable(last))
    }

    /// Exponential backoff with full jitter: uniform in (0, base × 2^(n−1)].
    fn backoff(&self, attempt: u32) -> Duration {
        let cap = self
            .config
            .backoff
            .saturating_mul(1u32 << (attempt - 1).min(10));
        cap.mul_f64(fastrand::f64().max(0.05))
    }
}

fn error_message(body: &Value) -> String {
    body["error"]["message"]
        .as_str()
        .unwrap_or("no message")
        .to_owned()
}

impl PaymentProvider for StripeClient {
    fn charge(&self, req: ChargeRequest) -> BoxFuture<'_, Result<ChargeOutcome, ProviderError>> {
        Box::pin(async move {
            let form = [
                ("amount", req.amount.to_string()),
                ("currency", req.currency.as_str().to_ascii_lowercase()),
                ("payment_method", req.payment_token.clone()),
                ("confirm", "true".to_owned()),
                ("metadata[order_id]", req.order_id.to_string()),
                ("metadata[payment_id]", req.payment_id.to_string()),
            ];
            let (status, body) = self
                .post("/v1/payment_intents", &form, &req.idempotency_key)
                .await?;
            match (status, body["status"].as_str()) {
                (200, Some("succeeded")) => Ok(ChargeOutcome::Succeeded {
                    reference: body["id"].as_str().unwrap_or_default().to_owned(),
                }),
                (200, Some("requires_payment_method")) => Ok(ChargeOutcome::Declined {
                    reference: body["id"].as_str().map(str::to_owned),
                    code: body["last_payment_error"]["code"]
                        .as_str()
                        .unwrap_or("card_declined")
                        .to_owned(),
                    message: body["last_payment_error"]["message"]
                        .as_str()
                        .unwrap_or("declined")
                        .to_owned(),
                }),
                // 3-D Secure: the shop has no way to let the customer
                // authenticate, so the intent is cancelled (no money is
                // held) and the card declined in words that say why.
                (200, Some("requires_action" | "requires_confirmation")) => {
                    let reference = body["id"].as_str().map(str::to_owned);
                    if let Some(id) = &reference {
                        let cancel = [("cancellation_reason", "abandoned".to_owned())];
                        let key = format!("{}_cancel", req.idempotency_key);
                        if let Err(e) = self
                            .post(&format!("/v1/payment_intents/{id}/cancel"), &cancel, &key)
                            .await
                        {
                            tracing::warn!(intent = %id, error = %e, "could not cancel an intent that needs 3-D Secure");
                        }
                    }
                    Ok(ChargeOutcome::Declined {
                        reference,
                        code: "authentication_required".to_owned(),
                        message: "the card needs 3-D Secure authentication, which this shop does not support".to_owned(),
                    })
                }
                (200, Some("processing")) => Ok(ChargeOutcome::Processing {
                    reference: body["id"].as_str().map(str::to_owned),
                }),
                (200, Some(other)) => {
                    Err(ProviderError::Unavailable(format!("payment is {other}")))
                }
                (402, _) => {
                    let e = &body["error"];
                    let code = e["decline_code"]
                        .as_str()
                        .or(e["code"].as_str())
                        .unwrap_or("card_declined");
                    Ok(ChargeOutcome::Declined {
                        reference: e["payment_intent"]["id"].as_str().map(str::to_owned),
                        code: code.to_owned(),
                        message: error_message(&body),
                    })
                }
                _ => Err(ProviderError::Rejected(error_message(&body))),
            }
        })
    }

    fn refund(&self, req: RefundRequest) -> BoxFuture<'_, Result<String, ProviderError>> {
        Box::pin(async move {
            let mut form = vec![("payment_intent", req.reference.clone())];
            if let Some(amount) = req.amount {
                form.push(("amount", amount.to_string()));
            }
            let (status, body) = self
                .post("/v1/refunds", &form, &req.idempotency_key)
                .await?;
            match (status, body["id"].as_str()) {
                (200, Some(id)) => Ok(id.to_owned()),
                _ => Err(ProviderError::Rejected(error_message(&body))),
            }
        })
    }
}
