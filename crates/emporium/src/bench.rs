//! `emporium bench`: replays the real query mix against a running server
//! (open loop at a fixed arrival rate, closed loop at fixed concurrencies)
//! and, with `--direct`, straight against the store with no cache, so the
//! server's cost over its database shows as a ratio.

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

use crate::cli::BenchArgs;
use crate::config::Config;
use crate::startup;

const SEED: u64 = 7;

pub async fn run(config: &Config, args: &BenchArgs) -> anyhow::Result<()> {
    if !args.addr.ip().is_loopback() {
        bail!("bench only loads servers on 127.0.0.1");
    }
    let duration = Duration::from_secs(args.duration.max(1));
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

    let mut reports: Vec<Report> = Vec::new();
    if args.warmup > 0 {
        let mode = Mode::Open {
            rate_per_sec: args.rate,
            connections: args.connections,
            duration: Duration::from_secs(args.warmup),
        };
        let label = format!(
            "server open loop {}/s, first {} s (cold cache)",
            args.rate, args.warmup
        );
        let r = run_http(args.addr, &mode, &requests, &label).await?;
        println!("{r}");
        reports.push(r);
    }
    if matches!(args.mode.as_str(), "open" | "all") {
        let mode = Mode::Open {
            rate_per_sec: args.rate,
            connections: args.connections,
            duration,
        };
        let label = format!(
            "server open loop {}/s over {} conns",
            args.rate, args.connections
        );
        let r = run_http(args.addr, &mode, &requests, &label).await?;
        println!("{r}");
        reports.push(r);
    }
    let mut closed = Vec::new();
    if matches!(args.mode.as_str(), "closed" | "all") {
        for &c in &args.concurrency {
            let mode = Mode::Closed {
                concurrency: c,
                duration,
            };
            let r = run_http(
                args.addr,
                &mode,
                &requests,
                &format!("server closed loop c={c}"),
            )
            .await?;
            println!("{r}");
            closed.push((c, r.clone()));
            reports.push(r);
        }
    }
    if args.direct {
        let store = startup::open_store(config).await?;
        let products = store.product_count().await?;
        let catalog = Arc::new(CatalogService::new(
            store,
            AnyCache::None,
            config.cache_ttl(),
        ));
        println!("direct: store has {products} products");
        for (c, server) in &closed {
            let cat = catalog.clone();
            let r = run_direct(
                *c,
                duration,
                &requests,
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
    }
    println!("\n{}", markdown_table(&reports));
    Ok(())
}
