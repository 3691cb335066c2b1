use super::*;

#[test]
fn defaults_are_valid_and_embedded() {
    figment::Jail::expect_with(|_| {
        let c = Config::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
        assert_eq!(c.server.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.server.data_dir, PathBuf::from("./data"));
        assert!(c.database_url().is_none());
        assert_eq!(c.shop.currency, "USD");
        assert!(
            !format!("{c:?}").contains("sk_test_paysim"),
            "the provider's secret key stays hidden"
        );
        Ok(())
    });
}

#[test]
fn file_then_env_then_flags() {
    figment::Jail::expect_with(|jail| {
        jail.create_file("shop.toml", "[server]\naddr = \"127.0.0.1:9000\"\ndata_dir = \"/tmp/file\"\n[shop]\ncurrency = \"EUR\"\n")?;
        jail.set_env("EMPORIUM_SERVER__DATA_DIR", "/tmp/env");
        jail.set_env("DATABASE_URL", "postgres://u@h/db");
        let flags = Overrides {
            addr: Some("127.0.0.1:7000".into()),
            data_dir: None,
            role: None,
        };
        let c = Config::load(Some(Path::new("shop.toml")), &flags).map_err(|e| e.to_string())?;
        assert_eq!(c.server.addr.to_string(), "127.0.0.1:7000");
        assert_eq!(c.server.data_dir, PathBuf::from("/tmp/env"));
        assert_eq!(c.shop.currency, "EUR");
        assert_eq!(c.database_url(), Some("postgres://u@h/db"));
        assert!(
            !format!("{c:?}").contains("postgres://u@h/db"),
            "secrets must not show in Debug"
        );
        Ok(())
    });
}

#[test]
fn invalid_values_are_rejected_at_start() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("EMPORIUM_SHOP__CURRENCY", "dollars");
        assert!(Config::load(None, &Overrides::default()).is_err());
        jail.set_env("EMPORIUM_SHOP__CURRENCY", "USD");
        jail.set_env("DATABASE_URL", "mysql://x");
        assert!(Config::load(None, &Overrides::default()).is_err());
        Ok(())
    });
}

#[test]
fn tax_rates_must_be_from_0_to_100_percent() {
    figment::Jail::expect_with(|jail| {
        let load = || Config::load(None, &Overrides::default());
        jail.set_env("EMPORIUM_SHOP__TAX__DEFAULT_RATE_BP", "10000");
        assert!(load().is_ok(), "100 % is the most");
        jail.set_env("EMPORIUM_SHOP__TAX__DEFAULT_RATE_BP", "10001");
        let err = load().unwrap_err().to_string();
        assert!(
            err.contains("default_rate_bp") && err.contains("100 %"),
            "{err}"
        );
        jail.set_env("EMPORIUM_SHOP__TAX__DEFAULT_RATE_BP", "-5");
        let err = format!("{:#}", load().unwrap_err()).to_lowercase();
        assert!(err.contains("default_rate_bp"), "negative: {err}");
        jail.set_env("EMPORIUM_SHOP__TAX__DEFAULT_RATE_BP", "0");
        jail.create_file(
            "tax.toml",
            "[[shop.tax.rates]]\ncountry = \"FR\"\nrate_bp = 25000\n",
        )?;
        let err = Config::load(Some(Path::new("tax.toml")), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("FR") && err.contains("above 100 %"), "{err}");
        Ok(())
    });
}

#[test]
fn test_mode_payments_stay_on_loopback_unless_a_public_demo_is_declared() {
    figment::Jail::expect_with(|jail| {
        let load = || Config::load(None, &Overrides::default());
        assert!(load().is_ok(), "the default: simulator on 127.0.0.1");
        jail.set_env("EMPORIUM_SERVER__ADDR", "0.0.0.0:8080");
        let e = load().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("public_test_mode"), "{e}");
        // A provider holding paysim's keys is test mode too.
        jail.set_env("EMPORIUM_PAYMENTS__MODE", "provider");
        assert!(load().is_err(), "provider with the simulator's keys");
        jail.set_env("EMPORIUM_PAYMENTS__PUBLIC_TEST_MODE", "true");
        assert!(load().is_ok(), "declared public demo");
        jail.set_env("EMPORIUM_PAYMENTS__PUBLIC_TEST_MODE", "false");
        jail.set_env("EMPORIUM_PAYMENTS__MODE", "off");
        assert!(load().is_ok(), "no payments");
        jail.set_env("EMPORIUM_SERVER__ADDR", "[::1]:8080");
        jail.set_env("EMPORIUM_PAYMENTS__MODE", "simulator");
        assert!(load().is_ok(), "IPv6 loopback");
        Ok(())
    });
}

#[test]
fn shop_limits_and_the_search_timeout_are_checked() {
    figment::Jail::expect_with(|jail| {
        let load = || Config::load(None, &Overrides::default());
        let c = load().map_err(|e| e.to_string())?;
        assert_eq!(
            (
                c.limits.checkouts_per_ip,
                c.limits.carts_per_ip,
                c.shop.max_unpaid_orders_per_user
            ),
            (20, 60, 3)
        );
        for var in [
            "EMPORIUM_LIMITS__CHECKOUTS_PER_IP",
            "EMPORIUM_LIMITS__CHECKOUTS_PER_USER",
            "EMPORIUM_LIMITS__CHECKOUT_WINDOW_SECS",
            "EMPORIUM_LIMITS__CARTS_PER_IP",
            "EMPORIUM_LIMITS__CART_WINDOW_SECS",
            "EMPORIUM_LIMITS__PAYMENT_ATTEMPTS_PER_IP",
            "EMPORIUM_LIMITS__PAYMENT_ATTEMPTS_PER_USER",
            "EMPORIUM_LIMITS__PAYMENT_WINDOW_SECS",
            "EMPORIUM_SHOP__MAX_UNPAID_ORDERS_PER_USER",
        ] {
            jail.set_env(var, "0");
            assert!(load().is_err(), "{var} = 0");
            jail.set_env(var, "5");
        }
        jail.set_env("EMPORIUM_SHOP__INITIAL_STOCK", "10000001");
        assert!(load().is_err(), "initial stock above the cap");
        jail.set_env("EMPORIUM_SHOP__INITIAL_STOCK", "100");
        for bad in ["0", "10000"] {
            jail.set_env("EMPORIUM_STORE__SEARCH_TIMEOUT_MS", bad);
            let err = load().unwrap_err().to_string();
            assert!(err.contains("search_timeout_ms"), "{bad}: {err}");
        }
        Ok(())
    });
}

#[test]
fn connection_limits_and_the_metrics_endpoint_are_checked() {
    figment::Jail::expect_with(|jail| {
        let load = || Config::load(None, &Overrides::default());
        let c = load().map_err(|e| e.to_string())?;
        assert_eq!(c.server.max_connections, 10_000);
        assert_eq!(c.server.header_read_timeout_ms, 10_000);
        assert_eq!(c.server.max_uri_bytes, 8192);
        assert_eq!(c.server.max_header_bytes, 65_536);
        assert_eq!(c.server.hsts_max_age_secs, 0);
        assert_eq!(c.limits.web_requests_per_ip, 600);
        assert!(
            c.server.metrics_addr.is_empty(),
            "/metrics on the shop's port"
        );
        for (var, bad) in [
            ("EMPORIUM_SERVER__MAX_CONNECTIONS", "0"),
            ("EMPORIUM_SERVER__HEADER_READ_TIMEOUT_MS", "0"),
            ("EMPORIUM_SERVER__IDLE_TIMEOUT_MS", "0"),
            ("EMPORIUM_SERVER__MAX_URI_BYTES", "70000"),
            ("EMPORIUM_SERVER__MAX_HEADER_BYTES", "10"),
            ("EMPORIUM_SERVER__METRICS_ADDR", "not an address"),
            ("EMPORIUM_SERVER__METRICS_ADDR", "127.0.0.1:8080"),
            ("EMPORIUM_SERVER__METRICS_TOKEN", "short"),
            ("EMPORIUM_LIMITS__WEB_REQUESTS_PER_IP", "0"),
        ] {
            jail.set_env(var, bad);
            let err = format!("{:#}", load().unwrap_err());
            let key = var
                .trim_start_matches("EMPORIUM_")
                .to_lowercase()
                .replace("__", ".");
            let named =
                err.contains(&key) || (key.starts_with("limits.") && err.contains("[limits]"));
            assert!(named, "{var}={bad}: {err}");
            jail.clear_env();
        }
        jail.set_env("EMPORIUM_SERVER__METRICS_ADDR", "127.0.0.1:9090");
        jail.set_env("EMPORIUM_SERVER__METRICS_TOKEN", "a-long-enough-token");
        let c = load().map_err(|e| e.to_string())?;
        assert!(!format!("{c:?}").contains("a-long-enough-token"));
        Ok(())
    });
}

#[test]
fn the_jwks_url_is_https_except_on_loopback() {
    figment::Jail::expect_with(|jail| {
        let load = || Config::load(None, &Overrides::default());
        for bad in [
            "http://auth.internal:8081/.well-known/jwks.json",
            "http://10.0.0.7/.well-known/jwks.json",
        ] {
            jail.set_env("EMPORIUM_AUTH__JWKS_URL", bad);
            let err = load().unwrap_err().to_string();
            assert!(
                err.contains("auth.jwks_url") && err.contains("https://"),
                "{bad}: {err}"
            );
        }
        jail.set_env("EMPORIUM_AUTH__JWKS_URL", "not a url");
        assert!(load().is_err());
        for good in [
            "https://auth.internal/.well-known/jwks.json",
            "http://127.0.0.1:8081/.well-known/jwks.json",
            "http://[::1]:8081/.well-known/jwks.json",
            "",
        ] {
            jail.set_env("EMPORIUM_AUTH__JWKS_URL", good);
            load().map_err(|e| format!("{good}: {e}"))?;
        }
        jail.set_env("EMPORIUM_AUTH__REVOCATION_POLL_MS", "0");
        assert!(load().is_err(), "a poll interval of 0");
        Ok(())
    });
}

#[test]
fn a_real_provider_is_reached_over_tls_with_keys_of_its_own() {
    figment::Jail::expect_with(|jail| {
        let load = || Config::load(None, &Overrides::default());
        let c = load().map_err(|e| e.to_string())?;
        assert_eq!(c.payments.mode, PaymentMode::Simulator);
        jail.set_env("EMPORIUM_PAYMENTS__MODE", "provider");
        for bad in [
            "http://payments.example.com",
            "http://localhost.example.com",
        ] {
            jail.set_env("EMPORIUM_PAYMENTS__PROVIDER_URL", bad);
            let err = load().unwrap_err().to_string();
            assert!(err.contains("https"), "{bad}: {err}");
        }
        jail.set_env("EMPORIUM_PAYMENTS__PROVIDER_URL", "http://127.0.0.1:8090");
        assert!(load().is_ok(), "a local simulator");
        jail.set_env("EMPORIUM_PAYMENTS__PROVIDER_URL", "https://api.stripe.com");
        jail.set_env(
            "EMPORIUM_PAYMENTS__TOKENIZATION_URL",
            "https://api.stripe.com/v1/tokens",
        );
        let err = load().unwrap_err().to_string();
        assert!(err.contains("not the simulator's"), "paysim's keys: {err}");
        jail.set_env("EMPORIUM_PAYMENTS__SECRET_KEY", "sk_live_x");
        jail.set_env("EMPORIUM_PAYMENTS__WEBHOOK_SECRET", "whsec_x");
        assert!(load().is_ok());
        jail.set_env("EMPORIUM_PAYMENTS__TIMEOUT_MS", "10000");
        let err = load().unwrap_err().to_string();
        assert!(err.contains("request_timeout_ms"), "{err}");
        jail.set_env("EMPORIUM_PAYMENTS__TIMEOUT_MS", "2000");
        jail.set_env("EMPORIUM_PAYMENTS__MODE", "simulator");
        jail.set_env("EMPORIUM_SERVER__ROLE", "worker");
        assert!(
            load().is_err(),
            "one simulator per process cannot serve split roles"
        );
        jail.set_env("EMPORIUM_PAYMENTS__MODE", "sometimes");
        assert!(load().is_err());
        jail.set_env("EMPORIUM_PAYMENTS__MODE", "off");
        jail.set_env("EMPORIUM_PAYMENTS__QUEUE_RETRY_MAX_MS", "10");
        assert!(load().is_err(), "retry max below retry base");
        Ok(())
    });
}
