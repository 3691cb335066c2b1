//! `emporium bench`: replays the real query mix against a running server
//! (open loop at a fixed arrival rate, closed loop at fixed concurrencies)
//! and, with `--direct`, straight against the store with no cache, so the
//! server's cost over its database shows as a ratio. With `--checkout`
//! it also times guest checkouts ([`checkout`]), with `--payments` the
//! payment path and the queue's drain ([`payments`]).
//!
//! Where the load tooling lives: the engine (query mix, open and closed
//! loops, histograms) is the `emporium-bench` crate (`crates/bench`); this
//! module and its two children are the `emporium bench` command; the query
//! data is `bench/queries.jsonl.gz`; the scripts that run whole benchmarks
//! are `scripts/bench*.sh`, and the figures are in `docs/benchmarks.md`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use emporium_bench::{
    fetch_category_slugs, markdown_table, run_direct, run_http, Mode, QueryMix, Report,
    SearchRequest,
};
use emporium_cache::AnyCache;
use emporium_domain::catalog::{CatalogService, SearchParams, SearchQuery};
use emporium_domain::ports::CatalogStore;

mod checkout;
mod payments;

use crate::cli::BenchArgs;
use crate::config::Config;
use crate::startup;

/// Registers one account per client, then has each sign in back to back
/// until cancelled. The returned report counts the sign-ins.
async fn start_logins(
    addr: std::net::SocketAddr,
    clients: usize,
) -> anyhow::Result<(
    tokio_util::sync::CancellationToken,
    tokio::task::JoinHandle<Report>,
)> {
    let http = reqwest::Client::new();
    let run = fastrand::u64(..);
    let mut accounts = Vec::new();
    for i in 0..clients {
        let email = format!("bench-{run:x}-{i}@example.com");
        let body =
            serde_json::json!({"email": email, "password": "bench password one", "name": "Bench"});
        let res = http
            .post(format!("http://{addr}/api/auth/register"))
            .json(&body)
            .send()
            .await?;
        if res.status() != 201 {
            bail!("registering a bench account: {}", res.status());
        }
        accounts.push(serde_json::json!({"email": email, "password": "bench password one"}));
    }
    let stop = tokio_util::sync::CancellationToken::new();
    let token = stop.clone();
    let handle = tokio::spawn(async move {
        let started = std::time::Instant::now();
        let tasks: Vec<_> = accounts
            .into_iter()
            .map(|body| {
                let (http, stop) = (http.clone(), token.clone());
                tokio::spawn(async move {
                    let mut h = emporium_bench::new_histogram();
                    let (mut sent, mut ok, mut first_error) = (0u64, 0u64, None);
                    while !stop.is_cancelled() {
                        let t = std::time::Instant::now();
                        sent += 1;
                        match http
                            .post(format!("http://{addr}/api/auth/login"))
                            .json(&body)
                            .send()
                            .await
                        {
                            Ok(r) if r.status() == 200 => {
                                ok += 1;
                                h.saturating_record(
                                    u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX),
                                );
                            }
                            Ok(r) => {
                                first_error = first_error.or(Some(format!("status {}", r.status())))
                            }
                            Err(e) => first_error = first_error.or(Some(e.to_string())),
                        }
                    }
                    (h, sent, ok, first_error)
                })
            })
            .collect();
        let mut report = Report::empty(&format!("sign-ins, {} clients back to back", tasks.len()));
        for t in tasks {
            if let Ok((h, sent, ok, err)) = t.await {
                let _ = report.histogram.add(&h);
                report.sent += sent;
                report.ok += ok;
                report.first_error = report.first_error.take().or(err);
            }
        }
        report.errors = report.sent - report.ok;
        report.elapsed = started.elapsed();
        report
    });
    Ok((stop, handle))
}

const SEED: u64 = 7;

pub async fn run(config: &Config, args: &BenchArgs) -> anyhow::Result<()> {
    if !args.addr.ip().is_loopback() {
        bail!("bench only loads servers on 127.0.0.1");
    }
    let duration = Duration::from_secs(args.duration.max(1));
    let requests = query_mix_requests(args).await?;

    let mut reports: Vec<Report> = Vec::new();
    if args.warmup > 0 {
        warm_up(args, &requests, &mut reports).await?;
    }
    if matches!(args.mode.as_str(), "open" | "all") {
        open_loop(args, duration, &requests, &mut reports).await?;
    }
    let closed = if matches!(args.mode.as_str(), "closed" | "all") {
        closed_loop(args, duration, &requests, &mut reports).await?
    } else {
        Vec::new()
    };
    if args.checkout {
        checkouts(config, args, &closed, &mut reports).await?;
    }
    if args.payments > 0 {
        payment_queue(config, args, &mut reports).await?;
    }
    if args.direct {
        store_direct(config, duration, &requests, &closed, &mut reports).await?;
    }
    println!("\n{}", markdown_table(&reports));
    Ok(())
}

/// The requests to replay: drawn from the query mix, over the categories
/// of the server at `args.addr`.
async fn query_mix_requests(args: &BenchArgs) -> anyhow::Result<Vec<SearchRequest>> {
    let categories = fetch_category_slugs(args.addr)
        .await
        .with_context(|| format!("is the server running on {}?", args.addr))?;
    let mix = QueryMix::load(&args.queries, categories, SEED)?;
    let requests = mix.requests(200_000);
    println!(
        "query mix: {} distinct queries, {} requests generated",
        mix.len(),
        requests.len()
    );
    Ok(requests)
}

/// The open loop's first seconds, on a cold cache.
async fn warm_up(
    args: &BenchArgs,
    requests: &[SearchRequest],
    reports: &mut Vec<Report>,
) -> anyhow::Result<()> {
    let mode = Mode::Open {
        rate_per_sec: args.rate,
        connections: args.connections,
        duration: Duration::from_secs(args.warmup),
    };
    let label = format!(
        "server open loop {}/s, first {} s (cold cache)",
        args.rate, args.warmup
    );
    let r = run_http(args.addr, &mode, requests, &label).await?;
    println!("{r}");
    reports.push(r);
    Ok(())
}

/// The server at a fixed arrival rate; then again while clients sign in
/// back to back, when `args.logins` asks for them.
async fn open_loop(
    args: &BenchArgs,
    duration: Duration,
    requests: &[SearchRequest],
    reports: &mut Vec<Report>,
) -> anyhow::Result<()> {
    let mode = Mode::Open {
        rate_per_sec: args.rate,
        connections: args.connections,
        duration,
    };
    let label = format!(
        "server open loop {}/s over {} conns",
        args.rate, args.connections
    );
    let r = run_http(args.addr, &mode, requests, &label).await?;
    println!("{r}");
    let idle_p95 = r.percentile_ms(95.0);
    reports.push(r);
    if args.logins > 0 {
        let (stop, logins) = start_logins(args.addr, args.logins).await?;
        let label = format!("{label}, {} clients signing in", args.logins);
        let r = run_http(args.addr, &mode, requests, &label).await?;
        stop.cancel();
        let logins = logins.await?;
        println!("{r}\n{logins}");
        println!(
            "search p95 while signing in / idle: {:.2}",
            r.percentile_ms(95.0) / idle_p95.max(0.001)
        );
        reports.push(r);
        reports.push(logins);
    }
    Ok(())
}

/// The server at each fixed concurrency. Returns each concurrency with
/// its report, for the ratios that follow.
async fn closed_loop(
    args: &BenchArgs,
    duration: Duration,
    requests: &[SearchRequest],
    reports: &mut Vec<Report>,
) -> anyhow::Result<Vec<(usize, Report)>> {
    let mut closed = Vec::new();
    for &c in &args.concurrency {
        let mode = Mode::Closed {
            concurrency: c,
            duration,
        };
        let r = run_http(
            args.addr,
            &mode,
            requests,
            &format!("server closed loop c={c}"),
        )
        .await?;
        println!("{r}");
        closed.push((c, r.clone()));
        reports.push(r);
    }
    Ok(closed)
}

/// Checkouts at each closed-loop concurrency, against the search at the
/// same concurrency.
async fn checkouts(
    config: &Config,
    args: &BenchArgs,
    closed: &[(usize, Report)],
    reports: &mut Vec<Report>,
) -> anyhow::Result<()> {
    let store = startup::open_store(config).await?;
    for (c, search) in closed {
        let duration = Duration::from_secs(args.duration.max(1));
        let r = checkout::run(args.addr, &store, *c, duration).await?;
        println!("{r}");
        println!(
            "ratio at c={c}: checkout p95 / search p95 = {:.2}",
            r.percentile_ms(95.0) / search.percentile_ms(95.0).max(0.001)
        );
        reports.push(r);
    }
    store.close().await;
    Ok(())
}

/// Payments through the simulator at `args.paysim`, and how long the queue
/// takes to empty after an outage.
async fn payment_queue(
    config: &Config,
    args: &BenchArgs,
    reports: &mut Vec<Report>,
) -> anyhow::Result<()> {
    let store = startup::open_store(config).await?;
    let (healthy, drained) = payments::run(
        args.addr,
        &args.paysim,
        &store,
        args.payments,
        args.payment_rate,
    )
    .await?;
    println!("{healthy}");
    println!(
        "payment queue: {} payments queued while the provider was down; empty {:.2} s after it came back",
        args.payments,
        drained.as_secs_f64()
    );
    reports.push(healthy);
    store.close().await;
    Ok(())
}

/// The same searches straight against the store, with no cache, at each
/// closed-loop concurrency, against the server at the same concurrency.
async fn store_direct(
    config: &Config,
    duration: Duration,
    requests: &[SearchRequest],
    closed: &[(usize, Report)],
    reports: &mut Vec<Report>,
) -> anyhow::Result<()> {
    let store = startup::open_store(config).await?;
    let products = store.product_count().await?;
    let catalog = Arc::new(CatalogService::new(
        store,
        AnyCache::None,
        config.cache_ttl(),
    ));
    println!("direct: store has {products} products");
    for (c, server) in closed {
        let cat = catalog.clone();
        let r = run_direct(
            *c,
            duration,
            requests,
            &format!("store direct c={c}"),
            move |req: SearchRequest| {
                let cat = cat.clone();
                async move {
                    let raw = SearchQuery {
                        q: req.q,
                        category: req.category,
                        min_price: req.min_price.map(|p| p.to_string()),
                        max_price: req.max_price.map(|p| p.to_string()),
                        ..Default::default()
                    };
                    let params = SearchParams::parse(&raw).map_err(|e| e.to_string())?;
                    cat.search_params(&params)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                }
            },
        )
        .await;
        println!("{r}");
        println!(
            "ratio at c={c}: server p50 / store p50 = {:.2}, store throughput / server throughput = {:.2}",
            server.percentile_ms(50.0) / r.percentile_ms(50.0).max(0.001),
            r.throughput() / server.throughput().max(0.001),
        );
        reports.push(r);
    }
    Ok(())
}
