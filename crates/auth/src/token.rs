//! Access tokens: JWTs signed with Ed25519 (`alg: EdDSA`) carrying `kid`
//! in the header and `iss`, `aud`, `sub`, `role`, `sid`, `iat`, `exp` in
//! the payload. Verification accepts exactly that algorithm, the
//! configured issuer and audience, and a live key; a session revoked since
//! the token was issued is refused by the [`Authenticator`].

use std::sync::Arc;
use std::time::Duration;

use emporium_domain::identity::{Principal, Role, UnixMillis, User};
use emporium_domain::ports::{IdentityStore, RevocationStore};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::keys::KeyRing;
use crate::AuthError;

/// The payload of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The user id.
    pub sub: String,
    pub role: Role,
    /// The session id, checked against the revocation store.
    pub sid: Uuid,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
}

/// Why a token was refused. Every variant is a 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("no bearer token was sent")]
    Missing,
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's algorithm is not accepted")]
    Algorithm,
    #[error("the token was signed with an unknown key")]
    UnknownKey,
    #[error("the token's signature is invalid")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not meant for this service")]
    Audience,
    #[error("the token was not issued by this shop")]
    Issuer,
    #[error("the token's session has ended")]
    Revoked,
}

/// Issues and checks access tokens with the keys of a [`KeyRing`].
pub struct Tokens<S> {
    keys: Arc<KeyRing<S>>,
    issuer: String,
    audience: String,
    ttl: Duration,
    validation: Validation,
}

impl<S> std::fmt::Debug for Tokens<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl<S: IdentityStore + Clone> Tokens<S> {
    pub fn new(keys: Arc<KeyRing<S>>, issuer: &str, audience: &str, ttl: Duration) -> Tokens<S> {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = 5;
        Tokens {
            keys,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            ttl,
            validation,
        }
    }

    pub fn keys(&self) -> &Arc<KeyRing<S>> {
        &self.keys
    }

    /// How long an access token lives.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Signs an access token for `user` in session `sid`.
    pub fn issue(&self, user: &User, sid: Uuid, now: UnixMillis) -> Result<String, AuthError> {
        let (kid, key) = self
            .keys
            .signing_key()
            .ok_or_else(|| AuthError::Internal("this process has no signing key".into()))?;
        let iat = now / 1000;
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user.id.to_string(),
            role: user.role,
            sid,
            iat,
            exp: iat + i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid);
        jsonwebtoken::encode(&header, &claims, &key)
            .map_err(|e| AuthError::Internal(format!("signing a token: {e}")))
    }

    /// Checks the signature and claims (not revocation).
    pub async fn decode(&self, token: &str) -> Result<Claims, TokenError> {
        // `alg: none` and unknown algorithms fail to parse here.
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Algorithm);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = self
            .keys
            .decoding_key(&kid)
            .await
            .ok_or(TokenError::UnknownKey)?;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &self.validation).map_err(|e| {
            match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::InvalidAudience => TokenError::Audience,
                ErrorKind::InvalidIssuer => TokenError::Issuer,
                ErrorKind::InvalidSignature => TokenError::Signature,
                ErrorKind::InvalidAlgorithm => TokenError::Algorithm,
                _ => TokenError::Malformed,
            }
        })?;
        Ok(data.claims)
    }
}

/// Turns a bearer token into a [`Principal`]: signature, claims, and the
/// session checked against the revocation store.
pub struct Authenticator<S, R> {
    tokens: Arc<Tokens<S>>,
    revocations: R,
}

impl<S, R> std::fmt::Debug for Authenticator<S, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator").finish_non_exhaustive()
    }
}

impl<S: IdentityStore + Clone, R: RevocationStore> Authenticator<S, R> {
    pub fn new(tokens: Arc<Tokens<S>>, revocations: R) -> Self {
        Authenticator {
            tokens,
            revocations,
        }
    }

    pub fn tokens(&self) -> &Arc<Tokens<S>> {
        &self.tokens
    }

    pub fn revocations(&self) -> &R {
        &self.revocations
    }

    pub async fn authenticate(&self, token: &str) -> Result<Principal, TokenError> {
        let claims = self.tokens.decode(token).await?;
        let user_id = Uuid::parse_str(&claims.sub).map_err(|_| TokenError::Malformed)?;
        if self.revocations.is_revoked(claims.sid).await {
            return Err(TokenError::Revoked);
        }
        Ok(Principal {
            user_id,
            role: claims.role,
            session_id: claims.sid,
        })
    }
}
