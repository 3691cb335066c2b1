//! The key ring: Ed25519 key pairs that sign access tokens, where they
//! come from, and which of them still verify.
//!
//! Keys live in the identity store. The newest key signs; an older key
//! keeps verifying until every token it signed has expired (its
//! successor's age exceeds the access-token lifetime plus a reload grace),
//! after which `emporium keys rotate` removes it. A process that only
//! verifies (the API role) may instead read the auth role's JWKS over
//! HTTP. Either way an unknown `kid` triggers one reload, at most every
//! few seconds, so a key added by a rotation is picked up at once while a
//! stream of forged key ids cannot hammer the source.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use emporium_domain::identity::{StoredKey, UnixMillis};
use emporium_domain::ports::IdentityStore;
use jsonwebtoken::{DecodingKey, EncodingKey};
use ring::signature::KeyPair;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::AuthError;

pub const ALGORITHM: &str = "EdDSA";

/// How long after a rotation every instance is sure to sign with the new
/// key (instances reload keys more often than this).
pub const RELOAD_GRACE: Duration = Duration::from_secs(120);

/// Where verification (and, in the auth role, signing) keys come from.
#[derive(Clone)]
pub enum KeySource<S> {
    Store(S),
    /// A JWKS document published by the auth role.
    Jwks(JwksSource),
}

/// The auth role's JWKS URL and the client that fetches it. Whoever can
/// answer this URL decides which tokens the process accepts, so it is
/// reached over TLS (plain http only on the loopback interface, where no
/// one else is on the path) and redirects are never followed: a key set
/// comes from the configured origin or not at all.
#[derive(Clone)]
pub struct JwksSource {
    url: reqwest::Url,
    client: reqwest::Client,
}

impl std::fmt::Debug for JwksSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksSource")
            .field("url", &self.url.as_str())
            .finish_non_exhaustive()
    }
}

impl JwksSource {
    /// Checks `url` (see [`check_jwks_url`]) and builds a client that does
    /// not follow redirects.
    pub fn new(url: &str) -> Result<JwksSource, AuthError> {
        let url = check_jwks_url(url)?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| AuthError::Internal(format!("building the JWKS client: {e}")))?;
        Ok(JwksSource { url, client })
    }

    pub fn url(&self) -> &str {
        self.url.as_str()
    }
}

/// A JWKS URL is `https://`, or `http://` to a loopback host (`localhost`,
/// `127.0.0.0/8`, `[::1]`); anything else is refused, naming the rule.
pub fn check_jwks_url(url: &str) -> Result<reqwest::Url, AuthError> {
    let refuse = |why: &str| AuthError::Internal(format!("the JWKS URL {why}"));
    let parsed = reqwest::Url::parse(url).map_err(|_| refuse("is not a valid URL"))?;
    let Some(host) = parsed.host_str() else {
        return Err(refuse("has no host"));
    };
    // An IPv6 host is written in brackets; IPv4 forms are normalised by
    // the parser ("127.1" is 127.0.0.1).
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if loopback => Ok(parsed),
        "http" => Err(refuse(
            "must be https:// (plain http:// only to a loopback address such as 127.0.0.1)",
        )),
        _ => Err(refuse("must be an https:// URL")),
    }
}

/// A JSON Web Key Set as published at `/.well-known/jwks.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// An Ed25519 public key as a JWK (RFC 8037).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    /// The public key, base64url.
    pub x: String,
    pub kid: String,
    pub alg: String,
    #[serde(rename = "use")]
    pub use_: String,
}

struct Signing {
    kid: String,
    key: EncodingKey,
}

#[derive(Default)]
struct Loaded {
    signing: Option<Arc<Signing>>,
    verifying: HashMap<String, DecodingKey>,
    jwks: Jwks,
}

/// The keys this process signs and verifies with.
pub struct KeyRing<S> {
    source: KeySource<S>,
    sign: bool,
    access_ttl: Duration,
    loaded: RwLock<Arc<Loaded>>,
    /// When the last reload for an unknown `kid` ran.
    last_forced: tokio::sync::Mutex<Option<Instant>>,
    min_forced_interval: Duration,
}

impl<S> std::fmt::Debug for KeyRing<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("sign", &self.sign)
            .finish_non_exhaustive()
    }
}

/// A new random Ed25519 key pair.
pub fn generate(now: UnixMillis) -> Result<StoredKey, AuthError> {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| AuthError::Internal("generating an Ed25519 key failed".into()))?;
    let pair = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .map_err(|_| AuthError::Internal("reading a generated key failed".into()))?;
    let public_key = pair.public_key().as_ref().to_vec();
    let digest = ring::digest::digest(&ring::digest::SHA256, &public_key);
    Ok(StoredKey {
        kid: URL_SAFE_NO_PAD.encode(&digest.as_ref()[..12]),
        algorithm: ALGORITHM.to_owned(),
        private_der: pkcs8.as_ref().to_vec(),
        public_key,
        created_at: now,
    })
}

/// The keys (oldest first) that may still have valid tokens: the newest,
/// and every older one whose successor is younger than the access-token
/// lifetime plus [`RELOAD_GRACE`].
pub fn retained(keys: &[StoredKey], access_ttl: Duration, now: UnixMillis) -> Vec<&StoredKey> {
    let keep_ms = i64::try_from((access_ttl + RELOAD_GRACE).as_millis()).unwrap_or(i64::MAX);
    keys.iter()
        .enumerate()
        .filter(|(i, _)| match keys.get(i + 1) {
            None => true,
            Some(next) => next.created_at.saturating_add(keep_ms) > now,
        })
        .map(|(_, k)| k)
        .collect()
}

/// What `emporium keys rotate` did.
#[derive(Debug, Clone)]
pub struct Rotation {
    pub new_kid: String,
    pub removed: Vec<String>,
}

/// Adds a new signing key and removes keys no token can need any more.
pub async fn rotate<S: IdentityStore>(
    store: &S,
    access_ttl: Duration,
    now: UnixMillis,
) -> Result<Rotation, AuthError> {
    let key = generate(now)?;
    store.add_signing_key(&key).await?;
    let keys = store.signing_keys().await?;
    let keep: Vec<String> = retained(&keys, access_ttl, now)
        .into_iter()
        .map(|k| k.kid.clone())
        .collect();
    let mut removed = Vec::new();
    for k in keys.iter().filter(|k| !keep.contains(&k.kid)) {
        if store.remove_signing_key(&k.kid).await? {
            removed.push(k.kid.clone());
        }
    }
    Ok(Rotation {
        new_kid: key.kid,
        removed,
    })
}

fn jwk(kid: &str, public_key: &[u8]) -> Jwk {
    Jwk {
        kty: "OKP".into(),
        crv: "Ed25519".into(),
        x: URL_SAFE_NO_PAD.encode(public_key),
        kid: kid.to_owned(),
        alg: ALGORITHM.into(),
        use_: "sig".into(),
    }
}

impl<S: IdentityStore + Clone> KeyRing<S> {
    /// Loads the keys. With `sign` (auth role) and a store that has none,
    /// creates the first key.
    pub async fn load(
        source: KeySource<S>,
        sign: bool,
        access_ttl: Duration,
    ) -> Result<Self, AuthError> {
        if sign {
            if let KeySource::Store(store) = &source {
                if store.signing_keys().await?.is_empty() {
                    let key = generate(crate::now_ms())?;
                    store.add_signing_key(&key).await?;
                    tracing::info!(kid = %key.kid, "created the first token-signing key");
                }
            } else {
                return Err(AuthError::Internal(
                    "signing needs keys from the store".into(),
                ));
            }
        }
        let ring = KeyRing {
            source,
            sign,
            access_ttl,
            loaded: RwLock::new(Arc::new(Loaded::default())),
            last_forced: tokio::sync::Mutex::new(None),
            min_forced_interval: Duration::from_secs(5),
        };
        match (ring.reload().await, &ring.source) {
            (Ok(()), _) => {}
            // The auth role may start after this one: verification keys are
            // fetched again on the first token with an unknown `kid`.
            (Err(e), KeySource::Jwks(jwks)) => {
                tracing::warn!(error = %e, url = jwks.url(), "token keys not loaded yet; will retry on demand");
            }
            (Err(e), KeySource::Store(_)) => return Err(e),
        }
        Ok(ring)
    }

    /// Reads the keys again from their source.
    pub async fn reload(&self) -> Result<(), AuthError> {
        let loaded = match &self.source {
            KeySource::Store(store) => {
                let keys = store.signing_keys().await?;
                self.load_stored(&keys)?
            }
            KeySource::Jwks(jwks) => from_jwks(fetch_jwks(jwks).await?),
        };
        let mut guard = self
            .loaded
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *guard = Arc::new(loaded);
        Ok(())
    }

    fn load_stored(&self, keys: &[StoredKey]) -> Result<Loaded, AuthError> {
        let live = retained(keys, self.access_ttl, crate::now_ms());
        let mut loaded = Loaded::default();
        for k in &live {
            if k.algorithm != ALGORITHM {
                continue;
            }
            loaded
                .verifying
                .insert(k.kid.clone(), DecodingKey::from_ed_der(&k.public_key));
            loaded.jwks.keys.push(jwk(&k.kid, &k.public_key));
        }
        if self.sign {
            let newest = live
                .last()
                .ok_or_else(|| AuthError::Internal("no signing key in the store".into()))?;
            // Fail at load time, not at the first login, if the key is unusable.
            ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&newest.private_der)
                .map_err(|_| {
                    AuthError::Internal(format!("signing key {} is unreadable", newest.kid))
                })?;
            loaded.signing = Some(Arc::new(Signing {
                kid: newest.kid.clone(),
                key: EncodingKey::from_ed_der(&newest.private_der),
            }));
        }
        Ok(loaded)
    }

    fn current(&self) -> Arc<Loaded> {
        self.loaded
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The published public keys.
    pub fn jwks(&self) -> Jwks {
        self.current().jwks.clone()
    }

    /// The key id and key that sign new tokens (auth role only).
    pub(crate) fn signing_key(&self) -> Option<(String, EncodingKey)> {
        self.current()
            .signing
            .as_ref()
            .map(|s| (s.kid.clone(), s.key.clone()))
    }

    /// The verification key for `kid`, reloading once if it is unknown.
    pub(crate) async fn decoding_key(&self, kid: &str) -> Option<DecodingKey> {
        if let Some(k) = self.current().verifying.get(kid) {
            return Some(k.clone());
        }
        {
            let mut last = self.last_forced.lock().await;
            if last.is_some_and(|t| t.elapsed() < self.min_forced_interval) {
                return None;
            }
            *last = Some(Instant::now());
            if let Err(e) = self.reload().await {
                tracing::warn!(error = %e, "reloading token keys failed");
                return None;
            }
        }
        self.current().verifying.get(kid).cloned()
    }
}

async fn fetch_jwks(source: &JwksSource) -> Result<Jwks, AuthError> {
    let url = source.url();
    let res = source
        .client
        .get(source.url.clone())
        .timeout(Duration::from_secs(3))
        .send()
        .await
        .map_err(|e| AuthError::KeysUnavailable(format!("fetching {url}: {e}")))?;
    if res.status().is_redirection() {
        return Err(AuthError::KeysUnavailable(format!(
            "{url} answered {} (redirects are not followed: configure the JWKS URL itself)",
            res.status()
        )));
    }
    if !res.status().is_success() {
        return Err(AuthError::KeysUnavailable(format!(
            "{url} answered {}",
            res.status()
        )));
    }
    res.json()
        .await
        .map_err(|e| AuthError::KeysUnavailable(format!("reading {url}: {e}")))
}

fn from_jwks(jwks: Jwks) -> Loaded {
    let mut loaded = Loaded::default();
    for k in &jwks.keys {
        if k.kty != "OKP" || k.crv != "Ed25519" {
            continue;
        }
        if let Ok(raw) = URL_SAFE_NO_PAD.decode(&k.x) {
            if raw.len() == 32 {
                loaded
                    .verifying
                    .insert(k.kid.clone(), DecodingKey::from_ed_der(&raw));
            }
        }
    }
    loaded.jwks = jwks;
    loaded
}

#[cfg(test)]
mod tests;
