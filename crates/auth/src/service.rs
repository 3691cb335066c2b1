//! The identity service: registration, login, refresh-token rotation,
//! logout and the signed-in user's profile, with the throttling rules
//! around them. Handlers call it; it calls only ports.

use std::sync::Arc;
use std::time::Duration;

use emporium_domain::identity::{
    DisplayName, Email, NewSession, Password, Principal, RefreshOutcome, RevokeReason, Role, Rule,
    User,
};
use emporium_domain::ports::{IdentityStore, RateLimiter, RevocationStore};
use emporium_domain::{StoreError, ValidationError};
use uuid::Uuid;

use crate::password::PasswordHasher;
use crate::token::Tokens;
use crate::{now_ms, secret, AuthError};

/// Lifetimes and throttling rules.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Absolute lifetime of a session (refreshing fails after it).
    pub session_ttl: Duration,
    /// Sign-in attempts at one account from one client address: the lock
    /// a guesser runs into (a success from that address clears it).
    pub login_attempts_per_account_ip: Rule,
    /// Sign-in attempts at one account from every address together: a
    /// ceiling for guessing spread over many addresses, set well above the
    /// per-address rule so that failures from elsewhere do not lock the
    /// owner out.
    pub login_attempts_per_account: Rule,
    /// Failed sign-ins per client address, whatever the account.
    pub login_failures_per_ip: Rule,
    /// Wrong current passwords in password changes per signed-in account
    /// (a count of its own: a sign-in lock does not block a change).
    pub password_checks_per_user: Rule,
    /// Registrations per client address.
    pub registrations_per_ip: Rule,
}

/// A new session: the user and their tokens.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user: User,
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub session_id: Uuid,
}

/// A password change: the current password proves it is the owner.
#[derive(Debug, Clone)]
pub struct PasswordChange {
    pub current: String,
    pub new: String,
}

/// The editable part of an account.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    pub name: Option<String>,
    pub password: Option<PasswordChange>,
}

pub struct AuthService<S, R, L> {
    store: S,
    hasher: PasswordHasher,
    tokens: Arc<Tokens<S>>,
    revocations: R,
    limiter: L,
    config: AuthConfig,
}

impl<S, R, L> std::fmt::Debug for AuthService<S, R, L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthService")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn collect<T>(errors: &mut Vec<ValidationError>, r: Result<T, ValidationError>) -> Option<T> {
    r.map_err(|e| errors.push(e)).ok()
}

impl<S, R, L> AuthService<S, R, L>
where
    S: IdentityStore + Clone,
    R: RevocationStore,
    L: RateLimiter,
{
    pub fn new(
        store: S,
        hasher: PasswordHasher,
        tokens: Arc<Tokens<S>>,
        revocations: R,
        limiter: L,
        config: AuthConfig,
    ) -> Self {
        AuthService {
            store,
            hasher,
            tokens,
            revocations,
            limiter,
            config,
        }
    }

    pub fn tokens(&self) -> &Arc<Tokens<S>> {
        &self.tokens
    }

    /// Creates a customer account and signs it in. `client` is the
    /// caller's address, for the per-address registration limit.
    pub async fn register(
        &self,
        email: &str,
        password: &str,
        name: &str,
        client: &str,
    ) -> Result<SignedIn, AuthError> {
        let (email, password, name) = validate_new_account(email, password, name)?;
        let d = self
            .limiter
            .hit(
                &format!("register:ip:{client}"),
                self.config.registrations_per_ip,
            )
            .await;
        if !d.allowed {
            return Err(AuthError::Throttled {
                retry_after: d.reset_after,
            });
        }
        let user = insert_user(
            &self.store,
            &self.hasher,
            &email,
            &password,
            name,
            Role::Customer,
        )
        .await?;
        metrics::counter!("auth_registrations_total").increment(1);
        self.start_session(user).await
    }

    /// Signs in with email and password. Wrong email and wrong password are
    /// one error and cost the same time.
    ///
    /// Every counter is hit (atomically) *before* the password is checked,
    /// so however many guesses arrive at once, no more are evaluated than
    /// the limits allow: per account and address, per account, and per
    /// address. An attempt one counter refuses is taken back from all of
    /// them (it evaluated nothing). A success clears the account-and-address
    /// count and takes the attempt back from the others, so the per-address
    /// and per-account counts are failures (and attempts in flight).
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        client: &str,
    ) -> Result<SignedIn, AuthError> {
        let mut errors = Vec::new();
        let email = collect(&mut errors, Email::parse(email));
        let password = collect(&mut errors, Password::for_login(password));
        let (Some(email), Some(password)) = (email, password) else {
            return Err(AuthError::Validation(errors));
        };
        let ip_key = format!("login:ip:{client}");
        let pair_key = format!("login:account-ip:{email}:{client}");
        let account_key = format!("login:account:{email}");
        let counters = [
            (&ip_key, self.config.login_failures_per_ip),
            (&pair_key, self.config.login_attempts_per_account_ip),
            (&account_key, self.config.login_attempts_per_account),
        ];
        for (i, (key, rule)) in counters.iter().enumerate() {
            let d = self.limiter.hit(key, *rule).await;
            if !d.allowed {
                for (hit, _) in &counters[..=i] {
                    self.limiter.refund(hit).await;
                }
                return Err(self.throttled(d.reset_after));
            }
        }
        let record = self.store.user_by_email(&email).await?;
        let ok = self
            .hasher
            .verify(&password, record.as_ref().map(|r| r.password_hash.as_str()))
            .await?;
        match record {
            Some(r) if ok => {
                self.limiter.reset(&pair_key).await;
                self.limiter.refund(&account_key).await;
                self.limiter.refund(&ip_key).await;
                metrics::counter!("auth_logins_total", "outcome" => "success").increment(1);
                self.start_session(r.user).await
            }
            _ => {
                metrics::counter!("auth_logins_total", "outcome" => "failure").increment(1);
                Err(AuthError::InvalidCredentials)
            }
        }
    }

    fn throttled(&self, retry_after: Duration) -> AuthError {
        metrics::counter!("auth_logins_total", "outcome" => "throttled").increment(1);
        AuthError::Throttled { retry_after }
    }

    async fn start_session(&self, user: User) -> Result<SignedIn, AuthError> {
        let now = now_ms();
        let refresh_token = secret::new_token()?;
        let session_id = Uuid::now_v7();
        self.store
            .create_session(&NewSession {
                id: session_id,
                user_id: user.id,
                refresh_hash: secret::hash(&refresh_token),
                created_at: now,
                expires_at: now.saturating_add(millis(self.config.session_ttl)),
            })
            .await?;
        let access_token = self.tokens.issue(&user, session_id, now)?;
        Ok(SignedIn {
            user,
            access_token,
            refresh_token,
            expires_in: self.tokens.ttl().as_secs(),
            session_id,
        })
    }

    /// Exchanges a refresh token for a new access token and a new refresh
    /// token. Presenting a used refresh token ends its whole session.
    pub async fn refresh(&self, refresh_token: &str) -> Result<SignedIn, AuthError> {
        if refresh_token.is_empty() || refresh_token.len() > secret::MAX_TOKEN_LEN {
            return Err(AuthError::InvalidRefreshToken);
        }
        let next = secret::new_token()?;
        let now = now_ms();
        let outcome = self
            .store
            .rotate_refresh_token(&secret::hash(refresh_token), &secret::hash(&next), now)
            .await?;
        match outcome {
            RefreshOutcome::Rotated {
                session_id,
                user_id,
            } => {
                let record = self
                    .store
                    .user_by_id(user_id)
                    .await?
                    .ok_or(AuthError::InvalidRefreshToken)?;
                let access_token = self.tokens.issue(&record.user, session_id, now)?;
                Ok(SignedIn {
                    user: record.user,
                    access_token,
                    refresh_token: next,
                    expires_in: self.tokens.ttl().as_secs(),
                    session_id,
                })
            }
            RefreshOutcome::Reused { session_id } => {
                tracing::warn!(%session_id, "a used refresh token was presented again; session revoked");
                metrics::counter!("auth_refresh_reuse_total").increment(1);
                self.revocations.revoke(session_id, self.tokens.ttl()).await;
                Err(AuthError::RefreshTokenReused)
            }
            RefreshOutcome::Ended { .. } | RefreshOutcome::Unknown => {
                Err(AuthError::InvalidRefreshToken)
            }
        }
    }

    /// Ends the caller's session: its access tokens stop working at once.
    pub async fn logout(&self, who: &Principal) -> Result<(), AuthError> {
        self.revocations
            .revoke(who.session_id, self.tokens.ttl())
            .await;
        self.store
            .revoke_session(who.session_id, RevokeReason::Logout, now_ms())
            .await?;
        Ok(())
    }

    pub async fn me(&self, who: &Principal) -> Result<User, AuthError> {
        self.store
            .user_by_id(who.user_id)
            .await?
            .map(|r| r.user)
            .ok_or(AuthError::AccountGone)
    }

    /// Changes the name and/or password. A password change needs the
    /// current password and ends every other session of the account.
    pub async fn update_me(&self, who: &Principal, profile: Profile) -> Result<User, AuthError> {
        let record = self
            .store
            .user_by_id(who.user_id)
            .await?
            .ok_or(AuthError::AccountGone)?;
        let mut errors = Vec::new();
        let name = profile
            .name
            .as_deref()
            .and_then(|n| collect(&mut errors, DisplayName::parse(n)));
        let change = profile.password.as_ref().and_then(|c| {
            let current = collect(
                &mut errors,
                Password::for_login(&c.current)
                    .map_err(|e| ValidationError::new("current_password", e.message)),
            );
            let new = collect(
                &mut errors,
                Password::new_for(&c.new, Some(&record.user.email), "new_password"),
            );
            current.zip(new)
        });
        if !errors.is_empty() {
            return Err(AuthError::Validation(errors));
        }
        let mut new_hash = None;
        if let Some((current, new)) = change {
            // Counted per account on its own key: whoever fails to sign in
            // to this account cannot block its owner from changing the
            // password, and a stolen access token cannot guess on forever.
            let key = format!("password-check:user:{}", record.user.id);
            let d = self
                .limiter
                .hit(&key, self.config.password_checks_per_user)
                .await;
            if !d.allowed {
                return Err(AuthError::Throttled {
                    retry_after: d.reset_after,
                });
            }
            if !self
                .hasher
                .verify(&current, Some(&record.password_hash))
                .await?
            {
                return Err(AuthError::WrongCurrentPassword);
            }
            self.limiter.reset(&key).await;
            new_hash = Some(self.hasher.hash(&new).await?);
        }
        let now = now_ms();
        let user = self
            .store
            .update_user(who.user_id, name.as_ref(), new_hash.as_deref(), now)
            .await?
            .ok_or(AuthError::AccountGone)?;
        if new_hash.is_some() {
            let ended = self
                .store
                .revoke_user_sessions(
                    who.user_id,
                    Some(who.session_id),
                    RevokeReason::PasswordChange,
                    now,
                )
                .await?;
            for sid in ended {
                self.revocations.revoke(sid, self.tokens.ttl()).await;
            }
        }
        Ok(user)
    }

    /// An account by id (staff).
    pub async fn user(&self, id: Uuid) -> Result<Option<User>, AuthError> {
        Ok(self.store.user_by_id(id).await?.map(|r| r.user))
    }
}

/// Creates an account with any role (the `admin create` command).
pub async fn create_account<S: IdentityStore>(
    store: &S,
    hasher: &PasswordHasher,
    email: &str,
    password: &str,
    name: &str,
    role: Role,
) -> Result<User, AuthError> {
    let (email, password, name) = validate_new_account(email, password, name)?;
    insert_user(store, hasher, &email, &password, name, role).await
}

async fn insert_user<S: IdentityStore>(
    store: &S,
    hasher: &PasswordHasher,
    email: &Email,
    password: &Password,
    name: DisplayName,
    role: Role,
) -> Result<User, AuthError> {
    let hash = hasher.hash(password).await?;
    let user = User {
        id: Uuid::now_v7(),
        email: email.clone(),
        name,
        role,
        created_at: now_ms(),
    };
    match store.create_user(&user, &hash).await {
        Ok(()) => Ok(user),
        Err(StoreError::Conflict(_)) => Err(AuthError::EmailTaken),
        Err(e) => Err(e.into()),
    }
}

fn validate_new_account(
    email: &str,
    password: &str,
    name: &str,
) -> Result<(Email, Password, DisplayName), AuthError> {
    let mut errors = Vec::new();
    let email = collect(&mut errors, Email::parse(email));
    let password = collect(
        &mut errors,
        Password::new_for(password, email.as_ref(), "password"),
    );
    let name = collect(&mut errors, DisplayName::parse(name));
    match (email, password, name) {
        (Some(e), Some(p), Some(n)) => Ok((e, p, n)),
        _ => Err(AuthError::Validation(errors)),
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
