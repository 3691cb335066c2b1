//! `emporium keys rotate` and `emporium admin create`: identity chores
//! run against the configured store, safe while servers run.

use std::io::BufRead;

use anyhow::Context;
use emporium_domain::identity::Role;
use secrecy::{ExposeSecret, SecretString};

use crate::config::Config;
use crate::startup;

/// Adds a signing key and prunes keys no token needs any more.
pub async fn rotate_keys(config: &Config) -> anyhow::Result<()> {
    let store = startup::open_store(config).await?;
    let r =
        emporium_auth::keys::rotate(&store, config.access_ttl(), emporium_auth::now_ms()).await?;
    println!(
        "new signing key {}; servers sign with it within {} s",
        r.new_kid, config.auth.key_reload_secs
    );
    if !r.removed.is_empty() {
        println!("removed expired keys: {}", r.removed.join(", "));
    }
    store.close().await;
    Ok(())
}

/// The admin password: `EMPORIUM_ADMIN_PASSWORD`, else the first line of stdin.
fn admin_password() -> anyhow::Result<SecretString> {
    if let Ok(p) = std::env::var("EMPORIUM_ADMIN_PASSWORD") {
        if !p.is_empty() {
            return Ok(SecretString::from(p));
        }
    }
    eprintln!("Password for the new administrator (one line on standard input):");
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    Ok(SecretString::from(
        line.trim_end_matches(['\r', '\n']).to_owned(),
    ))
}

pub async fn create_admin(config: &Config, email: &str, name: &str) -> anyhow::Result<()> {
    let password = admin_password()?;
    let store = startup::open_store(config).await?;
    let hasher = startup::password_hasher(config)?;
    let result = emporium_auth::create_account(
        &store,
        &hasher,
        email,
        password.expose_secret(),
        name,
        Role::Admin,
    )
    .await;
    store.close().await;
    match result {
        Ok(user) => {
            println!("administrator {} created (id {})", user.email, user.id);
            Ok(())
        }
        Err(emporium_auth::AuthError::Validation(errors)) => {
            let reasons: Vec<String> = errors.iter().map(ToString::to_string).collect();
            anyhow::bail!("not created: {}", reasons.join("; "))
        }
        Err(e) => Err(anyhow::anyhow!("not created: {e}")),
    }
}
