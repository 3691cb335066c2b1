//! Rate limits in fixed windows, shared by every instance when Redis is
//! configured. The general API limit: every `/api/` request counts against
//! its user (when signed in) or its client address; responses carry
//! `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`, and a
//! 429 adds `Retry-After`. Every other request (the storefront, its
//! assets, health and metrics) counts against its client address under a
//! limit of its own (`web`), whatever `enabled` says. The shop's limits on what clients create
//! ([`ShopLimits`]): guest carts per address, and checkouts — each order
//! holds stock until it is paid or its payment window ends — per address
//! and per account, and payment attempts (card testing) per address and
//! per account; a 429 with `Retry-After` once one is used up.

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
    /// Requests outside `/api/` per window from one client address.
    pub web_per_ip: Rule,
}

/// Limits on what clients create.
#[derive(Debug, Clone, Copy)]
pub struct ShopLimits {
    /// Guest carts created per client address.
    pub carts_per_ip: Rule,
    /// Checkouts per client address, signed in or not.
    pub checkouts_per_ip: Rule,
    /// Checkouts per signed-in account, wherever they come from.
    pub checkouts_per_user: Rule,
    /// Payment attempts per client address, whoever's orders they are for.
    pub payments_per_ip: Rule,
    /// Payment attempts per signed-in account.
    pub payments_per_user: Rule,
}

/// Counts the creation of a guest cart against the client's address.
pub(crate) async fn count_guest_cart(s: &AppState, ip: ClientIp) -> Result<(), ApiError> {
    let key = format!("carts:ip:{}", ip.limit_key());
    count(s, "carts", &key, s.shop_limits.carts_per_ip, "guest carts").await
}

/// Counts a checkout against the client's address and, when signed in,
/// the account: both must have budget left. Every attempt counts, replays
/// and refusals too, so that a client cannot probe without limit.
pub(crate) async fn count_checkout(
    s: &AppState,
    ip: ClientIp,
    user: Option<uuid::Uuid>,
) -> Result<(), ApiError> {
    let l = s.shop_limits;
    let key = format!("checkouts:ip:{}", ip.limit_key());
    count(s, "checkouts", &key, l.checkouts_per_ip, "checkouts").await?;
    if let Some(user) = user {
        let key = format!("checkouts:user:{user}");
        count(s, "checkouts", &key, l.checkouts_per_user, "checkouts").await?;
    }
    Ok(())
}

/// Counts a payment attempt against the client's address and, when signed
/// in, the account. Orders are cheap to make, so the per-order cap alone
/// would let a client try card after card across many orders (card
/// testing); these budgets bound it per client.
pub(crate) async fn count_payment(
    s: &AppState,
    ip: ClientIp,
    user: Option<uuid::Uuid>,
) -> Result<(), ApiError> {
    let l = s.shop_limits;
    let key = format!("payments:ip:{}", ip.limit_key());
    count(s, "payments", &key, l.payments_per_ip, "payment attempts").await?;
    if let Some(user) = user {
        let key = format!("payments:user:{user}");
        count(s, "payments", &key, l.payments_per_user, "payment attempts").await?;
    }
    Ok(())
}

async fn count(
    s: &AppState,
    limit: &'static str,
    key: &str,
    rule: Rule,
    what: &str,
) -> Result<(), ApiError> {
    let decision = s.limiter.hit(key, rule).await;
    if decision.allowed {
        return Ok(());
    }
    metrics::counter!("rate_limited_total", "limit" => limit).increment(1);
    let mut e = ApiError::too_many_requests(decision.reset_after);
    e.message = format!(
        "too many {what} ({} per {} s); {}",
        rule.limit,
        rule.window.as_secs(),
        e.message.replace("too many requests; ", "")
    );
    Err(e.with_context(serde_json::json!({ "limit": limit, "max": rule.limit })))
}

pub async fn rate_limit(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let ip = req
        .extensions()
        .get::<ClientIp>()
        .map(ClientIp::limit_key)
        .unwrap_or_default();
    let (limit, key, rule) = if !req.uri().path().starts_with("/api/") {
        ("web", format!("web:ip:{ip}"), s.limits.web_per_ip)
    } else if !s.limits.enabled {
        return next.run(req).await;
    } else {
        match req.extensions().get::<Authentication>() {
            Some(Authentication::User(p)) => {
                ("api", format!("api:user:{}", p.user_id), s.limits.per_user)
            }
            _ => ("api", format!("api:ip:{ip}"), s.limits.per_ip),
        }
    };
    let decision = s.limiter.hit(&key, rule).await;
    let mut res = if decision.allowed {
        next.run(req).await
    } else {
        metrics::counter!("rate_limited_total", "limit" => limit).increment(1);
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
