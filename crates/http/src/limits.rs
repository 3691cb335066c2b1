//! The general API rate limit: every `/api/` request counts against its
//! user (when signed in) or its client address, in fixed windows shared
//! by every instance when Redis is configured. Responses carry
//! `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`; a 429
//! adds `Retry-After`.

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use emporium_domain::identity::{Decision, Rule};
use emporium_domain::ports::RateLimiter;

use crate::auth::{Authentication, ClientIp};
use crate::error::ApiError;
use crate::AppState;

/// Settings of the general limit.
#[derive(Debug, Clone, Copy)]
pub struct ApiLimits {
    pub enabled: bool,
    /// Requests per window from one anonymous client address.
    pub per_ip: Rule,
    /// Requests per window from one signed-in user.
    pub per_user: Rule,
}

pub async fn rate_limit(State(s): State<AppState>, req: Request, next: Next) -> Response {
    if !s.limits.enabled || !req.uri().path().starts_with("/api/") {
        return next.run(req).await;
    }
    let (key, rule) = match req.extensions().get::<Authentication>() {
        Some(Authentication::User(p)) => (format!("api:user:{}", p.user_id), s.limits.per_user),
        _ => {
            let ip = req.extensions().get::<ClientIp>().map(ClientIp::limit_key);
            (
                format!("api:ip:{}", ip.unwrap_or_default()),
                s.limits.per_ip,
            )
        }
    };
    let decision = s.limiter.hit(&key, rule).await;
    let mut res = if decision.allowed {
        next.run(req).await
    } else {
        metrics::counter!("rate_limited_total", "limit" => "api").increment(1);
        ApiError::too_many_requests(decision.reset_after).into_response()
    };
    add_headers(&mut res, &decision);
    res
}

/// Adds the `RateLimit-*` headers (draft-ietf-httpapi-ratelimit-headers).
fn add_headers(res: &mut Response, d: &Decision) {
    let reset = d.reset_after.as_secs() + u64::from(d.reset_after.subsec_nanos() > 0);
    let h = res.headers_mut();
    h.insert(
        HeaderName::from_static("ratelimit-limit"),
        HeaderValue::from(d.limit),
    );
    h.insert(
        HeaderName::from_static("ratelimit-remaining"),
        HeaderValue::from(d.remaining),
    );
    h.insert(
        HeaderName::from_static("ratelimit-reset"),
        HeaderValue::from(reset),
    );
}
