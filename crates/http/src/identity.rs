//! Identity routes: register, login, refresh, logout, the signed-in
//! user's account, the public keys that verify access tokens, and the
//! staff view of an account. Served by the `auth` and `all` roles.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use emporium_auth::{Jwks, PasswordChange, Profile, SignedIn};
use emporium_domain::identity::{Role, User};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::{AdminUser, AuthUser, ClientIp};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::{Auth, ShopService};
use emporium_domain::cart::CartRef;

/// State of the identity routes: only the roles that sign tokens have it.
#[derive(Clone)]
pub struct IdentityState {
    pub auth: Arc<Auth>,
    /// Present when this process also serves carts: signing in with a
    /// guest cart token then merges that cart into the user's at once.
    pub shop: Option<Arc<ShopService>>,
}

/// Merges the guest cart of `headers` into the user's, if there is one and
/// this process serves carts. A failure only delays the merge to the
/// user's next cart request (which carries the token too), so it is
/// logged, not returned.
async fn merge_guest_cart(s: &IdentityState, headers: &HeaderMap, user_id: Uuid) {
    let (Some(shop), Some(token)) = (&s.shop, crate::cart::guest_token(headers)) else {
        return;
    };
    let who = CartRef::User {
        user_id,
        guest_token: Some(token),
    };
    if let Err(e) = shop.carts().cart_id(&who).await {
        tracing::warn!(error = %e, "could not merge the guest cart on sign-in");
    }
}

pub fn router() -> OpenApiRouter<IdentityState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me, update_me))
        .routes(routes!(jwks))
        .routes(routes!(admin_user))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// At most 254 characters; compared case-insensitively.
    #[schema(example = "user@example.com", max_length = 254)]
    email: String,
    /// 10 to 128 characters, not a common password.
    #[schema(min_length = 10, max_length = 128)]
    password: String,
    /// 1 to 100 characters, no control characters.
    #[schema(example = "John Doe", min_length = 1, max_length = 100)]
    name: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(example = "user@example.com", max_length = 254)]
    email: String,
    #[schema(min_length = 1, max_length = 128)]
    password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    refresh_token: String,
}

/// Fields to change; a new password needs the current one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeRequest {
    /// 1 to 100 characters.
    #[schema(min_length = 1, max_length = 100)]
    name: Option<String>,
    /// Required with `new_password`.
    #[schema(min_length = 1, max_length = 128)]
    current_password: Option<String>,
    /// 10 to 128 characters, not a common password.
    #[schema(min_length = 10, max_length = 128)]
    new_password: Option<String>,
}

/// The public part of an account, as in the login response.
#[derive(Serialize, ToSchema)]
pub struct UserBody {
    #[schema(example = "0193a5b2-7c1e-7d3a-9f00-2b1c4d5e6f70")]
    id: Uuid,
    #[schema(example = "user@example.com")]
    email: String,
    #[schema(example = "John Doe")]
    name: String,
}

/// The login contract: `token` and `user` as ever, with the refresh token
/// and the access token's type and lifetime beside them.
#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// The access token (a JWT), sent as `Authorization: Bearer <token>`.
    token: String,
    user: UserBody,
    /// Exchange at `/api/auth/refresh` for a new pair; single use.
    refresh_token: String,
    #[schema(example = "Bearer")]
    token_type: &'static str,
    /// Seconds until `token` expires.
    #[schema(example = 900)]
    expires_in: u64,
}

/// An account with its role.
#[derive(Serialize, ToSchema)]
pub struct AccountBody {
    id: Uuid,
    email: String,
    name: String,
    role: Role,
}

fn user_body(u: &User) -> UserBody {
    UserBody {
        id: u.id,
        email: u.email.to_string(),
        name: u.name.as_str().to_owned(),
    }
}

fn account(u: &User) -> AccountBody {
    AccountBody {
        id: u.id,
        email: u.email.to_string(),
        name: u.name.as_str().to_owned(),
        role: u.role,
    }
}

fn signed_in(s: SignedIn) -> LoginResponse {
    LoginResponse {
        token: s.access_token,
        user: user_body(&s.user),
        refresh_token: s.refresh_token,
        token_type: "Bearer",
        expires_in: s.expires_in,
    }
}

/// Tokens must not be kept by caches or proxies.
fn no_store(status: StatusCode, body: LoginResponse) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// Create a customer account and sign in.
#[utoipa::path(
    post,
    path = "/api/auth/register",
    tag = "identity",
    params(("X-Cart-Token" = Option<String>, Header, description = "A guest cart to keep as the new account's cart")),
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created and signed in", body = LoginResponse),
        (status = 400, description = "A field is invalid (each named in details)", body = ErrorBody),
        (status = 409, description = "The email is taken", body = ErrorBody),
        (status = 429, description = "Too many registrations from this address", body = ErrorBody),
    )
)]
async fn register(
    State(s): State<IdentityState>,
    ip: ClientIp,
    headers: HeaderMap,
    ApiJson(r): ApiJson<RegisterRequest>,
) -> Result<Response, ApiError> {
    let out = s
        .auth
        .register(&r.email, &r.password, &r.name, &ip.limit_key())
        .await?;
    merge_guest_cart(&s, &headers, out.user.id).await;
    Ok(no_store(StatusCode::CREATED, signed_in(out)))
}

/// Sign in with email and password.
#[utoipa::path(
    post,
    path = "/api/auth/login",
    tag = "identity",
    params(("X-Cart-Token" = Option<String>, Header, description = "A guest cart to merge into the account's cart")),
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = LoginResponse),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "Wrong email or password (one answer for both)", body = ErrorBody),
        (status = 429, description = "Too many attempts; see Retry-After", body = ErrorBody),
    )
)]
async fn login(
    State(s): State<IdentityState>,
    ip: ClientIp,
    headers: HeaderMap,
    ApiJson(r): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let out = s.auth.login(&r.email, &r.password, &ip.limit_key()).await?;
    merge_guest_cart(&s, &headers, out.user.id).await;
    Ok(no_store(StatusCode::OK, signed_in(out)))
}

/// Exchange a refresh token for a new access token and refresh token.
/// A refresh token works once; presenting it again ends the session.
#[utoipa::path(
    post,
    path = "/api/auth/refresh",
    tag = "identity",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens", body = LoginResponse),
        (status = 401, description = "Unknown, used or ended refresh token", body = ErrorBody),
    )
)]
async fn refresh(
    State(s): State<IdentityState>,
    ApiJson(r): ApiJson<RefreshRequest>,
) -> Result<Response, ApiError> {
    let out = s.auth.refresh(&r.refresh_token).await?;
    Ok(no_store(StatusCode::OK, signed_in(out)))
}

/// End the current session: its tokens stop working at once.
#[utoipa::path(
    post,
    path = "/api/auth/logout",
    tag = "identity",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "Not signed in", body = ErrorBody),
    )
)]
async fn logout(
    State(s): State<IdentityState>,
    AuthUser(p): AuthUser,
) -> Result<StatusCode, ApiError> {
    s.auth.logout(&p).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in account.
#[utoipa::path(
    get,
    path = "/api/auth/me",
    tag = "identity",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account", body = AccountBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
    )
)]
async fn me(
    State(s): State<IdentityState>,
    AuthUser(p): AuthUser,
) -> Result<Json<AccountBody>, ApiError> {
    Ok(Json(account(&s.auth.me(&p).await?)))
}

/// Change the name and/or the password. Changing the password ends every
/// other session of the account.
#[utoipa::path(
    patch,
    path = "/api/auth/me",
    tag = "identity",
    security(("bearer" = [])),
    request_body = UpdateMeRequest,
    responses(
        (status = 200, description = "The updated account", body = AccountBody),
        (status = 400, description = "A field is invalid, or the current password is wrong", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 429, description = "Too many wrong current passwords", body = ErrorBody),
    )
)]
async fn update_me(
    State(s): State<IdentityState>,
    AuthUser(p): AuthUser,
    ApiJson(r): ApiJson<UpdateMeRequest>,
) -> Result<Json<AccountBody>, ApiError> {
    let password = match (r.current_password, r.new_password) {
        (None, None) => None,
        (Some(current), Some(new)) => Some(PasswordChange { current, new }),
        (None, Some(_)) => {
            return Err(ApiError::bad_request(
                "current_password",
                "is required to set a new password",
            ))
        }
        (Some(_), None) => {
            return Err(ApiError::bad_request(
                "new_password",
                "is required with current_password",
            ))
        }
    };
    let profile = Profile {
        name: r.name,
        password,
    };
    Ok(Json(account(&s.auth.update_me(&p, profile).await?)))
}

/// The public keys that verify access tokens (RFC 7517).
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "identity",
    responses((status = 200, description = "The key set", body = Object))
)]
async fn jwks(State(s): State<IdentityState>) -> Response {
    let set: Jwks = s.auth.tokens().keys().jwks();
    ([(header::CACHE_CONTROL, "public, max-age=60")], Json(set)).into_response()
}

/// An account, for staff.
#[utoipa::path(
    get,
    path = "/api/admin/users/{id}",
    tag = "identity",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "The account", body = AccountBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an administrator", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
    )
)]
async fn admin_user(
    State(s): State<IdentityState>,
    AdminUser(_admin): AdminUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<AccountBody>, ApiError> {
    let user = s
        .auth
        .user(id)
        .await?
        .ok_or_else(|| ApiError::not_found("account"))?;
    Ok(Json(account(&user)))
}

/// The verified session of the bearer token (served by every role that
/// serves the API, without asking the auth role or the store).
#[derive(Serialize, ToSchema)]
pub struct SessionBody {
    user_id: Uuid,
    role: Role,
    session_id: Uuid,
}

pub fn session_router() -> OpenApiRouter<crate::AppState> {
    OpenApiRouter::new().routes(routes!(session))
}

/// Who the bearer token says the caller is; 401 once its session has ended.
#[utoipa::path(
    get,
    path = "/api/session",
    tag = "identity",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The token's session", body = SessionBody),
        (status = 401, description = "No token, or a refused one", body = ErrorBody),
    )
)]
async fn session(AuthUser(p): AuthUser) -> Json<SessionBody> {
    Json(SessionBody {
        user_id: p.user_id,
        role: p.role,
        session_id: p.session_id,
    })
}
