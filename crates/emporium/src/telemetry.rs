//! Logging set up in one place: `RUST_LOG` filters (default `info`),
//! text for people, JSON for log shippers (`log.format = "json"`).
//!
//! Every line goes through [`redact`] on its way out, whatever emitted it
//! (our code, a library, the provider simulator): card numbers, credentials
//! and payment secrets never reach stderr.

mod pan;
mod redact;
mod writer;

use std::io::IsTerminal;

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

pub use pan::{find_pans, find_pans_in_bytes, is_luhn_valid};
pub use redact::redact;
pub use writer::{Redacting, RedactingWriter};

/// Logs to stderr in `format` (`"json"` or text), redacted. Colours only
/// when stderr is a terminal, so that files and journals get plain text.
pub fn init(format: &str) {
    let ansi = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    install(format, std::io::stderr, ansi);
}

/// Logs to `make_writer` instead of stderr, redacted and without colours
/// (tests that capture the log use this).
pub fn init_with_writer<M>(format: &str, make_writer: M)
where
    M: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    install(format, make_writer, false);
}

fn install<M>(format: &str, make_writer: M, ansi: bool)
where
    M: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(Redacting::new(make_writer));
    // A second init (tests) is harmless; ignore the error.
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
