//! The checks a configuration passes once at start-up, section by section,
//! each naming the setting at fault.

use std::net::SocketAddr;

use anyhow::{bail, Context};
use emporium_domain::inventory::MAX_ON_HAND;
use secrecy::ExposeSecret;

use super::{Config, PaymentMode, ServerRole, PAYSIM_WEBHOOK_SECRET};

impl Config {
    pub(super) fn validate(&self) -> anyhow::Result<()> {
        self.currency()?;
        self.validate_backends()?;
        self.validate_auth()?;
        self.validate_shop()?;
        self.validate_payments()?;
        self.validate_server()?;
        self.validate_limits()
    }

    /// The database URL, the cache, the log format and the store's pool
    /// and search timeout.
    fn validate_backends(&self) -> anyhow::Result<()> {
        if let Some(urls) = self.database_url() {
            if !urls
                .split(',')
                .map(str::trim)
                .all(|url| url.starts_with("postgres://") || url.starts_with("postgresql://"))
            {
                bail!("DATABASE_URL must be a postgres:// URL, or several separated by commas (leave it unset for the embedded SQLite store)");
            }
        }
        if !matches!(
            self.cache.backend.as_str(),
            "auto" | "memory" | "redis" | "none"
        ) {
            bail!("cache.backend must be auto, memory, redis or none");
        }
        if self.cache.backend == "redis" && self.redis_url().is_none() {
            bail!("cache.backend is redis but REDIS_URL is not set");
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            bail!("log.format must be text or json");
        }
        if self.store.pool_size == 0 {
            bail!("store.pool_size must be at least 1");
        }
        let s = &self.store;
        if s.acquire_timeout_ms == 0
            || s.breaker_failures == 0
            || s.probe_interval_ms == 0
            || s.acquire_timeout_ms >= self.server.request_timeout_ms
        {
            bail!(
                "store.acquire_timeout_ms, store.breaker_failures and store.probe_interval_ms must be at least 1, and store.acquire_timeout_ms less than server.request_timeout_ms ({} ms)",
                self.server.request_timeout_ms
            );
        }
        if self.store.search_timeout_ms == 0
            || self.store.search_timeout_ms >= self.server.request_timeout_ms
        {
            bail!(
                "store.search_timeout_ms must be at least 1 and less than server.request_timeout_ms ({} ms)",
                self.server.request_timeout_ms
            );
        }
        Ok(())
    }

    /// Token lifetimes, where tokens are verified from, and how often
    /// revocations are polled.
    fn validate_auth(&self) -> anyhow::Result<()> {
        if self.auth.access_token_ttl_secs < 30
            || self.auth.session_ttl_secs < self.auth.access_token_ttl_secs
        {
            bail!(
                "auth.access_token_ttl_secs must be at least 30 and at most auth.session_ttl_secs"
            );
        }
        let jwks = &self.auth.jwks_url;
        if !jwks.is_empty() {
            // Whoever answers this URL decides which tokens are accepted.
            if let Err(e) = emporium_auth::keys::check_jwks_url(jwks) {
                bail!("auth.jwks_url: {e}");
            }
        }
        if !(10..=60_000).contains(&self.auth.revocation_poll_ms) {
            bail!("auth.revocation_poll_ms must be between 10 and 60000");
        }
        Ok(())
    }

    /// Shipping and taxes, the cart and order limits, the initial stock
    /// and the payment window.
    fn validate_shop(&self) -> anyhow::Result<()> {
        self.pricing()
            .validate()
            .map_err(|e| anyhow::anyhow!("[shop]: {e}"))?;
        if self.shop.max_quantity_per_line == 0
            || self.shop.max_lines_per_cart == 0
            || self.shop.max_unpaid_orders_per_user == 0
        {
            bail!("shop.max_quantity_per_line, shop.max_lines_per_cart and shop.max_unpaid_orders_per_user must be at least 1");
        }
        if self.shop.initial_stock > MAX_ON_HAND {
            bail!("shop.initial_stock must be at most {MAX_ON_HAND}");
        }
        if self.shop.payment_window_secs < 60 {
            bail!("shop.payment_window_secs must be at least 60");
        }
        Ok(())
    }

    /// The provider's URLs and keys, the simulator's role, the timeouts
    /// and retries, the alert webhook and the payment queue.
    fn validate_payments(&self) -> anyhow::Result<()> {
        let p = &self.payments;
        for (name, url) in [
            ("payments.provider_url", &p.provider_url),
            ("payments.tokenization_url", &p.tokenization_url),
        ] {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                bail!("{name} must be an http(s) URL");
            }
        }
        if p.mode == PaymentMode::Provider {
            self.validate_provider()?;
        }
        if p.mode == PaymentMode::Simulator
            && matches!(self.server.role, ServerRole::Api | ServerRole::Worker)
        {
            bail!("payments.mode = \"simulator\" runs the simulator inside one process (role all); with split roles use mode = \"provider\" and a provider (or one `emporium paysim`) they share");
        }
        // The provider call with every retry must end before the server's
        // own request timeout, so that a slow provider gets a 202 (queued).
        let attempts = u64::from(p.retries) + 1;
        let worst = p.timeout_ms.saturating_mul(attempts)
            + p.backoff_ms.saturating_mul((1u64 << p.retries.min(16)) - 1);
        if worst >= self.server.request_timeout_ms {
            bail!("[payments]: timeout_ms × (retries + 1) plus the backoffs ({worst} ms) must be less than server.request_timeout_ms ({} ms)", self.server.request_timeout_ms);
        }
        let url = &p.alert_webhook_url;
        let http = url.starts_with("http://") || url.starts_with("https://");
        if !url.is_empty() && !http {
            bail!("payments.alert_webhook_url must be empty or an http(s) URL");
        }
        if p.timeout_ms == 0
            || p.connect_timeout_ms == 0
            || p.worker_interval_ms == 0
            || p.queue_retry_base_ms == 0
            || p.queue_retry_max_ms < p.queue_retry_base_ms
            || p.breaker_threshold == 0
            || p.max_attempts_per_order == 0
            || p.processing_timeout_secs == 0
        {
            bail!("[payments]: timeouts, worker_interval_ms, queue_retry_base_ms, breaker_threshold and max_attempts_per_order must be at least 1, and queue_retry_max_ms at least queue_retry_base_ms");
        }
        Ok(())
    }

    /// A real provider: card payments cross the network only over TLS,
    /// with keys of their own; plain http and paysim's keys are for a
    /// simulator on this machine.
    fn validate_provider(&self) -> anyhow::Result<()> {
        let p = &self.payments;
        for (name, url) in [
            ("payments.provider_url", &p.provider_url),
            ("payments.tokenization_url", &p.tokenization_url),
        ] {
            if url.starts_with("http://") && !is_local(url) {
                bail!("{name} must be https:// (plain http only for a simulator on 127.0.0.1)");
            }
        }
        if !is_local(&p.provider_url) && is_local(&p.tokenization_url) {
            bail!("payments.tokenization_url must be the provider's (browsers post cards there), not a local address");
        }
        let paysim_keys = p.secret_key.expose_secret() == emporium_paysim::SECRET_KEY_DEFAULT
            || p.webhook_secret.expose_secret() == PAYSIM_WEBHOOK_SECRET;
        if paysim_keys && !is_local(&p.provider_url) {
            bail!("payments.secret_key and payments.webhook_secret must be the provider's (set EMPORIUM_PAYMENTS__SECRET_KEY and EMPORIUM_PAYMENTS__WEBHOOK_SECRET), not the simulator's");
        }
        Ok(())
    }

    /// Connections, request sizes and where `/metrics` is served.
    fn validate_server(&self) -> anyhow::Result<()> {
        let s = &self.server;
        if s.max_connections == 0 {
            bail!("server.max_connections must be at least 1");
        }
        if s.header_read_timeout_ms == 0 || s.idle_timeout_ms == 0 {
            bail!("server.header_read_timeout_ms and server.idle_timeout_ms must be at least 1");
        }
        // Hyper answers URIs past 64 KiB itself (414, empty body).
        if !(256..=65_000).contains(&s.max_uri_bytes) {
            bail!("server.max_uri_bytes must be between 256 and 65000");
        }
        if !(1024..=1024 * 1024).contains(&s.max_header_bytes) {
            bail!("server.max_header_bytes must be between 1024 and 1048576");
        }
        if !s.metrics_addr.is_empty() {
            let addr: SocketAddr = s.metrics_addr.parse().context(
                "server.metrics_addr must be empty or an address such as 127.0.0.1:9090",
            )?;
            if addr == s.addr && addr.port() != 0 {
                bail!("server.metrics_addr must differ from server.addr");
            }
        }
        let token = s.metrics_token.expose_secret();
        if !token.is_empty() && (token.len() < 16 || token.contains(char::is_whitespace)) {
            bail!("server.metrics_token must be empty or at least 16 characters without spaces");
        }
        Ok(())
    }

    /// Every rate limit and its window, and the two sign-in limits
    /// against each other.
    fn validate_limits(&self) -> anyhow::Result<()> {
        let l = &self.limits;
        if [
            l.login_attempts_per_account_and_ip,
            l.login_attempts_per_account,
            l.login_failures_per_ip,
            l.registrations_per_ip,
            l.api_requests_per_ip,
            l.api_requests_per_user,
            l.checkouts_per_ip,
            l.checkouts_per_user,
            l.carts_per_ip,
            l.payment_attempts_per_ip,
            l.payment_attempts_per_user,
            l.web_requests_per_ip,
        ]
        .contains(&0)
            || [
                l.login_window_secs,
                l.registration_window_secs,
                l.api_window_secs,
                l.checkout_window_secs,
                l.cart_window_secs,
                l.payment_window_secs,
            ]
            .contains(&0)
        {
            bail!("every limit and window in [limits] must be at least 1");
        }
        if l.login_attempts_per_account < l.login_attempts_per_account_and_ip {
            // Otherwise anyone could lock an account's owner out from
            // another address, which the per-address lock exists to avoid.
            bail!("limits.login_attempts_per_account must be at least limits.login_attempts_per_account_and_ip (10 times it is the default)");
        }
        Ok(())
    }
}

/// Whether `url` is on this machine (a simulator's address).
fn is_local(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|u| {
        matches!(
            u.host_str(),
            Some("127.0.0.1" | "localhost" | "[::1]" | "::1")
        )
    })
}
