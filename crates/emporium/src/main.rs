//! `emporium`: parse the command line, load the configuration, start
//! logging, run the command.

use anyhow::Context;
use clap::Parser;
use emporium::cli::{
    AdminCommand, Cli, Command, KeysCommand, PaysimArgs, SeedArgs, ServeArgs, StoreArgs,
};
use emporium::config::{Config, Overrides};
use emporium::{accounts, bench, seed, startup, telemetry};
use emporium_http::Catalog;

fn overrides(addr: Option<std::net::SocketAddr>, store: &StoreArgs) -> Overrides {
    Overrides {
        addr: addr.map(|a| a.to_string()),
        data_dir: store.data_dir.clone(),
        role: None,
    }
}

/// The command-line values of `command` that override the configuration.
fn command_overrides(command: &Command) -> Overrides {
    match command {
        Command::Serve(a) => Overrides {
            role: a.role,
            ..overrides(a.addr, &a.store)
        },
        Command::Keys(KeysCommand::Rotate(s)) => overrides(None, s),
        Command::Admin(AdminCommand::Create(a)) => overrides(None, &a.store),
        Command::Migrate(s) => overrides(None, s),
        Command::Seed(a) => overrides(None, &a.store),
        Command::Bench(a) => overrides(None, &a.store),
        Command::Paysim(_) | Command::Drill(_) => Overrides::default(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve(ServeArgs::default()));
    let flags = command_overrides(&command);
    let config = Config::load(cli.config.as_deref(), &flags)?;
    telemetry::init(&config.log.format);

    match command {
        Command::Serve(_) => {
            let listener = tokio::net::TcpListener::bind(config.server.addr)
                .await
                .with_context(|| format!("cannot listen on {}", config.server.addr))?;
            startup::run(config, listener, startup::shutdown_signal()).await
        }
        Command::Migrate(_) => {
            let store = startup::open_store(&config).await?;
            println!("migrations applied ({} store)", store.kind());
            Ok(())
        }
        Command::Seed(args) => run_seed(&config, args).await,
        Command::Keys(KeysCommand::Rotate(_)) => accounts::rotate_keys(&config).await,
        Command::Admin(AdminCommand::Create(args)) => {
            accounts::create_admin(&config, &args.email, &args.name).await
        }
        Command::Paysim(args) => run_paysim(args).await,
        Command::Bench(args) => bench::run(&config, &args).await,
        Command::Drill(args) => emporium::drill::run(&args).await,
    }
}

/// `emporium seed`: imports the demo catalog or a file, and reports the
/// counts and the first rejected lines.
async fn run_seed(config: &Config, args: SeedArgs) -> anyhow::Result<()> {
    let catalog: Catalog = emporium_domain::catalog::CatalogService::new(
        startup::open_store(config).await?,
        emporium_cache::AnyCache::None,
        config.cache_ttl(),
    );
    let source = match args.file {
        Some(p) => seed::Source::File(p),
        None => seed::Source::Demo,
    };
    let report = seed::import(
        &catalog,
        source,
        args.synthetic,
        config.currency()?,
        config.shop.initial_stock,
        true,
    )
    .await?;
    for r in report.rejections.iter().take(50) {
        eprintln!("rejected line {}: {}", r.line, r.reason);
    }
    if report.rejections.len() > 50 {
        eprintln!("… and {} more rejected lines", report.rejections.len() - 50);
    }
    let c = report.counts;
    println!(
        "imported {}, updated {}, unchanged {}, rejected {}",
        c.imported, c.updated, c.unchanged, c.rejected
    );
    Ok(())
}

/// `emporium paysim`: runs the payment-provider simulator until SIGINT or
/// SIGTERM.
async fn run_paysim(args: PaysimArgs) -> anyhow::Result<()> {
    let config = emporium_paysim::Config {
        ledger_path: args.ledger,
        webhook_url: args.webhook_url,
        faults: emporium_paysim::Faults {
            down: args.down,
            latency_ms: args.latency_ms,
            error_rate: args.error_rate,
            timeout_after_success: args.timeout_after_success,
            timeout_ms: args.delay_after_success_ms,
            ..emporium_paysim::Faults::default()
        },
        ..emporium_paysim::Config::default()
    };
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    println!(
        "paysim listening on http://{}  (ledger: {})",
        listener.local_addr()?,
        config.ledger_path.display()
    );
    emporium_paysim::run(config, listener, startup::shutdown_signal()).await
}
