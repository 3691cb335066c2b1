//! The command line: `emporium serve | migrate | seed | keys | admin | bench`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::ServerRole;

#[derive(Debug, Parser)]
#[command(
    name = "emporium",
    version,
    about = "Emporium: an e-commerce backend. Serves the product catalog and its search."
)]
pub struct Cli {
    /// A TOML config file (see crates/emporium/emporium.default.toml for every setting).
    #[arg(long, global = true, env = "EMPORIUM_CONFIG")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the shop: API, storefront at /, docs at /api/docs (the default command).
    ///
    /// Uses embedded SQLite in --data-dir unless DATABASE_URL=postgres://… is set, and an
    /// in-process cache unless REDIS_URL is set. Seeds the demo catalog on first start.
    /// Stops gracefully on SIGINT/SIGTERM.
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate(StoreArgs),
    /// Import products: the built-in demo catalog, or --file PATH (JSON Lines, optionally gzipped).
    ///
    /// One transaction: all or nothing. Re-running updates products by SKU, never duplicates.
    /// Bad records are rejected with their line number; the rest are imported.
    Seed(SeedArgs),
    /// Token-signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Staff accounts.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Run paysim, the payment-provider simulator (a subset of Stripe's PaymentIntents API,
    /// with test cards, signed webhooks and fault injection; see crates/paysim/README.md).
    Paysim(PaysimArgs),
    /// Load-test search against a running server (and, with --direct, straight against the store).
    Bench(BenchArgs),
    /// A failure drill: steady shopper traffic through a gateway while a fault is injected
    /// and ended; reports reads answered, writes acknowledged vs found, statuses and the
    /// time to recover (see scripts/drill.sh).
    Drill(crate::drill::DrillArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct PaysimArgs {
    /// Address to listen on, HOST:PORT.
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub addr: SocketAddr,
    /// The ledger (SQLite); a restart loses nothing.
    #[arg(long, default_value = "data/paysim.db")]
    pub ledger: PathBuf,
    /// Where to POST webhook events (e.g. http://127.0.0.1:8080/api/webhooks/payments).
    #[arg(long)]
    pub webhook_url: Option<String>,
    /// Start with every /v1 request answered 503 (change at runtime: POST /_control/faults).
    #[arg(long)]
    pub down: bool,
    /// Added latency per request, milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Share of requests answered 500 without doing anything, 0 to 1.
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Charge, then answer only after --delay-after-success-ms (the client times out, the
    /// money moved).
    #[arg(long)]
    pub timeout_after_success: bool,
    /// With --timeout-after-success: how long the answer is held back, milliseconds.
    #[arg(long, default_value_t = 30_000)]
    pub delay_after_success_ms: u64,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a new signing key; running servers sign with it within auth.key_reload_secs.
    ///
    /// Older keys keep verifying until every token they signed has expired; keys past
    /// that are removed. Safe to run while servers run.
    Rotate(StoreArgs),
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an administrator account.
    ///
    /// The password is read from EMPORIUM_ADMIN_PASSWORD or, if that is unset, from the
    /// first line of standard input (never from a flag, which would end up in shell
    /// history and process listings). Safe to run while servers run.
    Create(AdminCreateArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct AdminCreateArgs {
    #[arg(long)]
    pub email: String,
    #[arg(long)]
    pub name: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Clone, clap::Args, Default)]
pub struct StoreArgs {
    /// Directory for the embedded SQLite store [default: ./data]
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, clap::Args, Default)]
pub struct ServeArgs {
    /// Address to listen on, HOST:PORT [default: 127.0.0.1:8080]
    #[arg(long)]
    pub addr: Option<SocketAddr>,
    /// What to serve: all, auth (accounts, sessions, JWKS) or api (the rest) [default: all]
    #[arg(long, value_enum)]
    pub role: Option<ServerRole>,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Clone, clap::Args)]
pub struct SeedArgs {
    /// Import this JSON Lines file instead of the demo catalog (format: docs/catalog-format.md).
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Also derive N synthetic products from the imported ones (for benchmarks at 100k / 1M).
    #[arg(long, default_value_t = 0)]
    pub synthetic: usize,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// The server to load (127.0.0.1 only).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Real queries, weighted by popularity.
    #[arg(long, default_value = "bench/queries.jsonl.gz")]
    pub queries: PathBuf,
    /// Seconds per run.
    #[arg(long, default_value_t = 20)]
    pub duration: u64,
    /// Open loop: arrival rate, searches per second.
    #[arg(long, default_value_t = 2000)]
    pub rate: u32,
    /// Open loop: connections the arrivals are spread over.
    #[arg(long, default_value_t = 1000)]
    pub connections: usize,
    /// Closed loop: concurrencies to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,64,256")]
    pub concurrency: Vec<usize>,
    /// Seconds of open-loop load before the measured runs, reported on its
    /// own as the cold-cache figure (0 to skip).
    #[arg(long, default_value_t = 5)]
    pub warmup: u64,
    /// Also repeat the open-loop run while N clients sign in flat out (each sign-in is a
    /// full Argon2id hash), to show what a burst of logins costs searches (0 to skip).
    #[arg(long, default_value_t = 0)]
    pub logins: usize,
    /// Also measure checkout at each closed-loop concurrency: clients create a cart, add a
    /// product and check out, back to back (stocks 20 popular products through the store).
    #[arg(long)]
    pub checkout: bool,
    /// Also measure paying: N payments open loop at --payment-rate against a healthy
    /// provider, then N payments queued while it is down and the time the queue takes to
    /// drain once it is back. The server must use the paysim at --paysim as its provider.
    #[arg(long, default_value_t = 0)]
    pub payments: usize,
    /// Payments per second in the healthy open-loop run.
    #[arg(long, default_value_t = 20)]
    pub payment_rate: u32,
    /// The paysim the server pays through (for `--payments`).
    #[arg(long, default_value = "http://127.0.0.1:8090")]
    pub paysim: String,
    /// Which runs: open, closed or all.
    #[arg(long, default_value = "all")]
    pub mode: String,
    /// Also run the same queries straight against the store (configured as for serve),
    /// with no cache, and print the server/store ratios.
    #[arg(long)]
    pub direct: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_takes_addr_and_data_dir() {
        let cli = Cli::parse_from([
            "emporium",
            "serve",
            "--addr",
            "127.0.0.1:9999",
            "--data-dir",
            "/tmp/x",
        ]);
        match cli.command {
            Some(Command::Serve(a)) => {
                assert_eq!(a.addr.map(|a| a.port()), Some(9999));
                assert_eq!(a.store.data_dir, Some(PathBuf::from("/tmp/x")));
            }
            other => panic!("parsed {other:?}"),
        }
    }

    #[test]
    fn admin_create_takes_no_password_flag() {
        let cli = Cli::try_parse_from([
            "emporium",
            "admin",
            "create",
            "--email",
            "a@example.com",
            "--name",
            "A",
            "--password",
            "x",
        ]);
        assert!(cli.is_err(), "a password must never be a flag");
        let cli = Cli::parse_from(["emporium", "serve", "--role", "auth"]);
        assert!(matches!(
            cli.command,
            Some(Command::Serve(ServeArgs {
                role: Some(ServerRole::Auth),
                ..
            }))
        ));
    }
}
