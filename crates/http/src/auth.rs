//! Who is calling: the client's address and the verified access token,
//! worked out once per request by [`authenticate`] and handed to handlers
//! by the [`AuthUser`] and [`AdminUser`] extractors (and to the rate
//! limiter).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use emporium_auth::TokenError;
use emporium_domain::identity::{Principal, Role};

use crate::error::{ApiError, ErrorCode};
use crate::AppState;

/// The caller's address: the TCP peer, or the last `X-Forwarded-For` hop
/// when the shop runs behind a trusted proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// The address in its canonical form: an IPv4 client of a dual-stack
    /// listener (`[::]`) arrives as `::ffff:a.b.c.d` and is the IPv4
    /// address `a.b.c.d`.
    pub fn new(ip: IpAddr) -> ClientIp {
        ClientIp(ip.to_canonical())
    }

    /// The key rate limits count under: the IPv4 address, or for IPv6 its
    /// /64 (one subscriber's network), so a client cannot dodge limits by
    /// walking its own prefix. IPv4-mapped IPv6 addresses count as the IPv4
    /// address they carry, never as one shared /64 (`::ffff:0:0/96` is
    /// every IPv4 client at once).
    pub fn limit_key(&self) -> String {
        match self.0.to_canonical() {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        }
    }
}

/// The outcome of checking the request's bearer token.
#[derive(Debug, Clone, Copy)]
pub enum Authentication {
    Anonymous,
    User(Principal),
    Invalid(TokenError),
}

/// Works out [`ClientIp`] and [`Authentication`] for every request.
pub async fn authenticate(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
    let forwarded = s
        .trust_forwarded_for
        .then(|| {
            req.headers()
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .and_then(|ip| ip.trim().parse::<IpAddr>().ok())
        })
        .flatten();
    let client = ClientIp::new(forwarded.unwrap_or(peer));
    let authentication = match req.headers().get(header::AUTHORIZATION) {
        None => Authentication::Anonymous,
        Some(value) => match bearer(value.as_bytes()) {
            Some(token) => match s.authn.authenticate(token).await {
                Ok(p) => Authentication::User(p),
                Err(e) => Authentication::Invalid(e),
            },
            None => Authentication::Invalid(TokenError::Malformed),
        },
    };
    req.extensions_mut().insert(client);
    req.extensions_mut().insert(authentication);
    next.run(req).await
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer(value: &[u8]) -> Option<&str> {
    let value = std::str::from_utf8(value).ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.len() <= 4096)
        .then_some(token)
}

/// A signed-in caller; 401 otherwise.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match parts.extensions.get::<Authentication>() {
            Some(Authentication::User(p)) => Ok(AuthUser(*p)),
            Some(Authentication::Invalid(e)) => Err((*e).into()),
            Some(Authentication::Anonymous) | None => Err(TokenError::Missing.into()),
        }
    }
}

/// A signed-in administrator; 401 when not signed in, 403 for others.
#[derive(Debug, Clone, Copy)]
pub struct AdminUser(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let AuthUser(p) = AuthUser::from_request_parts(parts, state).await?;
        if p.role == Role::Admin {
            Ok(AdminUser(p))
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::Forbidden,
                "this needs an administrator account",
            ))
        }
    }
}

/// The caller's address (always present behind [`authenticate`]).
impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(parts
            .extensions
            .get::<ClientIp>()
            .copied()
            .unwrap_or(ClientIp(IpAddr::from([0, 0, 0, 0]))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_parsed_strictly() {
        assert_eq!(bearer(b"Bearer abc.def.ghi"), Some("abc.def.ghi"));
        assert_eq!(bearer(b"bearer abc"), Some("abc"));
        for bad in [
            &b"Basic dXNlcjpwYXNz"[..],
            b"Bearer",
            b"Bearer ",
            b"abc",
            b"Bearer \xff",
        ] {
            assert_eq!(bearer(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn ipv6_clients_are_limited_per_64() {
        let a = ClientIp(
            "2001:db8:1:2:aaaa::1"
                .parse()
                .unwrap_or(IpAddr::from([0; 4])),
        );
        let b = ClientIp(
            "2001:db8:1:2:bbbb::9"
                .parse()
                .unwrap_or(IpAddr::from([0; 4])),
        );
        assert_eq!(a.limit_key(), b.limit_key());
        assert_eq!(
            ClientIp(IpAddr::from([10, 0, 0, 1])).limit_key(),
            "10.0.0.1"
        );
    }

    #[test]
    fn ipv4_mapped_clients_are_limited_as_their_ipv4_address() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap_or(IpAddr::from([0; 4]));
        let a = ClientIp(ip("::ffff:203.0.113.7"));
        let b = ClientIp(ip("::ffff:203.0.113.8"));
        assert_eq!(a.limit_key(), "203.0.113.7");
        assert_eq!(b.limit_key(), "203.0.113.8");
        assert_eq!(
            ClientIp::new(ip("::ffff:127.0.0.1")),
            ClientIp(ip("127.0.0.1")),
            "stored canonical"
        );
        assert_eq!(
            ClientIp(ip("::ffff:127.0.0.1")).limit_key(),
            ClientIp(ip("127.0.0.1")).limit_key()
        );
        // Real IPv6 still groups by /64; IPv4-compatible (deprecated) and
        // other addresses are not mistaken for IPv4.
        assert_eq!(ClientIp(ip("2001:db8::1")).limit_key(), "2001:db8:0:0::/64");
        assert_eq!(ClientIp(ip("::1")).limit_key(), "0:0:0:0::/64");
    }
}
