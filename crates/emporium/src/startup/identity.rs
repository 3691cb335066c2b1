//! Tokens and accounts: where the signing keys come from, and the
//! identity service of the roles that sign tokens.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use emporium_auth::{
    AuthConfig, AuthService, Authenticator, JwksSource, KeyRing, KeySource, Tokens,
};
use emporium_cache::{Limiter, Revocations};
use emporium_domain::identity::Rule;
use emporium_http::{Auth, Authn};
use emporium_store::Store;

use super::password_hasher;
use crate::config::{Config, ServerRole};

/// Token verification for every role, and the identity service for the
/// roles that sign tokens (`auth`, `all`).
pub struct Identity {
    pub authn: Arc<Authn>,
    pub auth: Option<Arc<Auth>>,
    pub keys: Arc<KeyRing<Store>>,
}

pub async fn identity(
    config: &Config,
    store: &Store,
    limiter: Limiter,
    revocations: Revocations,
) -> anyhow::Result<Identity> {
    let sign = matches!(config.server.role, ServerRole::All | ServerRole::Auth);
    let source = if !sign && !config.auth.jwks_url.is_empty() {
        KeySource::Jwks(JwksSource::new(&config.auth.jwks_url).context("auth.jwks_url")?)
    } else {
        KeySource::Store(store.clone())
    };
    let keys = Arc::new(
        KeyRing::load(source, sign, config.access_ttl())
            .await
            .context("loading token keys")?,
    );
    let tokens = Arc::new(Tokens::new(
        keys.clone(),
        &config.auth.issuer,
        &config.auth.audience,
        config.access_ttl(),
    ));
    let authn = Arc::new(Authenticator::new(tokens.clone(), revocations.clone()));
    let auth = if sign {
        let auth_config = auth_config(config);
        Some(Arc::new(AuthService::new(
            store.clone(),
            password_hasher(config)?,
            tokens,
            revocations,
            limiter,
            auth_config,
        )))
    } else {
        None
    };
    Ok(Identity { authn, auth, keys })
}

/// Session lifetime, and the sign-in and registration limits from
/// `[limits]`.
fn auth_config(config: &Config) -> AuthConfig {
    let l = &config.limits;
    let rule = |limit, secs| Rule {
        limit,
        window: Duration::from_secs(secs),
    };
    AuthConfig {
        session_ttl: Duration::from_secs(config.auth.session_ttl_secs),
        login_attempts_per_account_ip: rule(
            l.login_attempts_per_account_and_ip,
            l.login_window_secs,
        ),
        login_attempts_per_account: rule(l.login_attempts_per_account, l.login_window_secs),
        login_failures_per_ip: rule(l.login_failures_per_ip, l.login_window_secs),
        password_checks_per_user: rule(l.login_attempts_per_account_and_ip, l.login_window_secs),
        registrations_per_ip: rule(l.registrations_per_ip, l.registration_window_secs),
    }
}
