//! `POST /api/webhooks/payments`: the payment provider's events. The body
//! is read raw and its `Stripe-Signature` verified (HMAC-SHA256 with the
//! webhook secret, timestamp within the tolerance, so an old capture is
//! refused) before anything is parsed; an event id seen before is
//! acknowledged and ignored (a replay within the tolerance changes
//! nothing), and new events reconcile payments whose answer the request
//! path missed: a success after a client timeout marks the order paid, a
//! late failure is recorded.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use emporium_domain::payments::ProviderEvent;
use emporium_payments::webhook::{parse_event, verify, SIGNATURE_HEADER};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::AppState;

/// How webhooks are checked.
#[derive(Clone)]
pub struct WebhookSettings {
    pub secret: String,
    /// How far the signature's timestamp may be from now (5 minutes).
    pub tolerance: Duration,
}

impl std::fmt::Debug for WebhookSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSettings")
            .field("tolerance", &self.tolerance)
            .finish_non_exhaustive()
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(payment_webhook))
}

/// What Emporium did with an event.
#[derive(Serialize, ToSchema)]
pub struct Received {
    received: bool,
    /// Seen before: nothing changed.
    duplicate: bool,
}

/// Events from the payment provider, signed with the webhook secret.
#[utoipa::path(
    post,
    path = "/api/webhooks/payments",
    tag = "orders",
    params(("Stripe-Signature" = String, Header, description = "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"t.body\">")),
    request_body(content = Object, description = "A Stripe event", content_type = "application/json"),
    responses(
        (status = 200, description = "Applied (or seen before)", body = Received),
        (status = 400, description = "Bad or old signature, or not an event", body = ErrorBody),
        (status = 503, description = "Payments are not configured", body = ErrorBody),
    )
)]
async fn payment_webhook(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Received>, ApiError> {
    let Some(settings) = s.webhooks.as_deref() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::PaymentsDisabled,
            "payments are not configured",
        ));
    };
    let signature = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::bad_request(SIGNATURE_HEADER, "header is required"))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    if let Err(e) = verify(&settings.secret, signature, &body, settings.tolerance, now) {
        metrics::counter!("payment_webhooks_total", "outcome" => "refused").increment(1);
        tracing::warn!(error = %e, "payment webhook refused");
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidSignature,
            e.to_string(),
        ));
    }
    let event = parse_event(&body).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidEvent,
            "the body is not a provider event",
        )
    })?;
    if let ProviderEvent::Refunded { reference, amount } = &event.event {
        tracing::info!(%reference, amount, event = %event.id, "provider reports a refund");
    }
    let done = s
        .shop
        .payments()
        .reconcile(&event.id, &event.kind, event.event)
        .await?;
    let outcome = if done.duplicate {
        "duplicate"
    } else if done.anomaly.is_some() {
        "anomaly"
    } else if done.changed {
        "applied"
    } else {
        "no_change"
    };
    metrics::counter!("payment_webhooks_total", "outcome" => outcome).increment(1);
    if let Some(a) = &done.anomaly {
        metrics::counter!("payment_anomalies_total", "reason" => a.reason.clone()).increment(1);
        tracing::error!(
            payment = %a.payment_id,
            order = %a.order_id,
            event = %a.event_id,
            reason = %a.reason,
            detail = %a.detail,
            "a provider success that is not what the payment asked for was refused: see the order's anomalies"
        );
    }
    if let Some((payment, order)) = done.orphaned {
        metrics::counter!("payments_orphaned_total").increment(1);
        tracing::error!(%payment, %order, "a payment succeeded for an order that can no longer take it: refund it");
    }
    tracing::info!(event = %event.id, kind = %event.kind, outcome, payment = ?done.payment_id, "payment webhook");
    Ok(Json(Received {
        received: true,
        duplicate: done.duplicate,
    }))
}
