//! Argon2id password hashing (OWASP parameters: 19 MiB, 2 passes, 1 lane)
//! on the blocking thread pool, at most `concurrency` hashes at a time, so
//! that a burst of logins queues here instead of taking every core from
//! searches. Unknown accounts are checked against a dummy hash of the same
//! cost, so a wrong email takes as long as a wrong password.

use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use emporium_domain::identity::Password;
use tokio::sync::Semaphore;

use crate::AuthError;

/// Cost settings; the defaults are OWASP's recommendation for Argon2id.
#[derive(Debug, Clone, Copy)]
pub struct HashCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for HashCost {
    fn default() -> Self {
        HashCost {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Hashes and verifies passwords off the async runtime.
#[derive(Clone)]
pub struct PasswordHasher {
    argon: Argon2<'static>,
    permits: Arc<Semaphore>,
    /// How long a request may wait for a hashing slot before it is refused
    /// as busy (503) rather than left to time out.
    queue_timeout: Duration,
    /// A hash of a random password, verified when the account does not exist.
    dummy: Arc<str>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher").finish_non_exhaustive()
    }
}

impl PasswordHasher {
    pub fn new(
        cost: HashCost,
        concurrency: usize,
        queue_timeout: Duration,
    ) -> Result<Self, AuthError> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| AuthError::Internal(format!("argon2 parameters: {e}")))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let dummy = hash_with(&argon, &crate::secret::new_token()?)?;
        Ok(PasswordHasher {
            argon,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            queue_timeout,
            dummy: dummy.into(),
        })
    }

    /// The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) of `password`.
    pub async fn hash(&self, password: &Password) -> Result<String, AuthError> {
        let argon = self.argon.clone();
        let secret = password.expose().to_owned();
        self.blocking(move || hash_with(&argon, &secret)).await?
    }

    /// Whether `password` matches `phc`; with `None` (no such account) it
    /// does the same work against a dummy hash and answers `false`.
    pub async fn verify(&self, password: &Password, phc: Option<&str>) -> Result<bool, AuthError> {
        let argon = self.argon.clone();
        let secret = password.expose().to_owned();
        let known = phc.is_some();
        let phc = phc.map_or_else(|| self.dummy.to_string(), str::to_owned);
        let ok = self
            .blocking(move || {
                PasswordHash::new(&phc)
                    .map(|parsed| argon.verify_password(secret.as_bytes(), &parsed).is_ok())
                    .map_err(|e| AuthError::Internal(format!("stored password hash: {e}")))
            })
            .await??;
        Ok(ok && known)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AuthError> {
        let permit = tokio::time::timeout(self.queue_timeout, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| AuthError::Busy)?
            .map_err(|_| AuthError::Busy)?;
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            span.in_scope(work)
        })
        .await
        .map_err(|e| AuthError::Internal(format!("hashing task failed: {e}")))
    }
}

fn hash_with(argon: &Argon2<'_>, secret: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut OsRng);
    argon
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Internal(format!("hashing: {e}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn cheap() -> PasswordHasher {
        let cost = HashCost {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        };
        PasswordHasher::new(cost, 2, Duration::from_secs(5)).unwrap()
    }

    #[tokio::test]
    async fn hashes_verify_and_are_salted() {
        let h = cheap();
        let pw = Password::for_login("correct horse battery").unwrap();
        let a = h.hash(&pw).await.unwrap();
        let b = h.hash(&pw).await.unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(h.verify(&pw, Some(&a)).await.unwrap());
        let wrong = Password::for_login("incorrect horse").unwrap();
        assert!(!h.verify(&wrong, Some(&a)).await.unwrap());
        assert!(
            !h.verify(&pw, None).await.unwrap(),
            "no account never verifies"
        );
    }

    #[test]
    fn default_cost_is_owasp() {
        let c = HashCost::default();
        assert_eq!((c.memory_kib, c.iterations, c.parallelism), (19456, 2, 1));
    }
}
