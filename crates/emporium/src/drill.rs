//! `emporium drill`: a failure drill against a running deployment (the
//! local cluster of `scripts/cluster.sh`, through its gateway). It sends a
//! steady mix of shopper traffic at a fixed rate — searches over real
//! queries, product pages, cart adds, checkouts with payment — while it runs
//! a command that injects one fault and, later, one that ends it. Then it
//! checks that every write the shop acknowledged is there, and reports
//! reads answered, writes acknowledged vs found, responses by status and
//! the time to full recovery (see `drill/report.rs`).
//!
//! Open loop: each operation is due at a fixed time and timed from then,
//! so a stalled shop shows as latency and failures, not as fewer requests.

mod report;
mod traffic;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::Mutex;

pub use report::DrillReport;
use traffic::{Acked, Op, Outcome, Shopper};

#[derive(Debug, Clone, clap::Args)]
pub struct DrillArgs {
    /// A name for the drill, in the report.
    #[arg(long)]
    pub name: String,
    /// The gateway's base URL (on 127.0.0.1).
    #[arg(long)]
    pub target: String,
    /// A CA certificate (PEM) to trust: the local gateway's (deploy/nginx/make-cert.sh).
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// Operations per second (searches, product pages, cart adds, checkouts).
    #[arg(long, default_value_t = 30)]
    pub rate: u32,
    /// Seconds of traffic in all.
    #[arg(long, default_value_t = 60)]
    pub duration: u64,
    /// Shell command that injects the fault.
    #[arg(long)]
    pub fault: String,
    /// When to inject it, seconds after the start.
    #[arg(long, default_value_t = 10)]
    pub fault_at: u64,
    /// Shell command that ends the fault (none: the fault command's end is its end).
    #[arg(long)]
    pub recover: Option<String>,
    /// When to end it, seconds after the start.
    #[arg(long, default_value_t = 40)]
    pub recover_at: u64,
    /// Real shopper queries (JSON Lines, gzipped, with a "query" field).
    #[arg(long, default_value = "bench/queries.jsonl.gz")]
    pub queries: PathBuf,
    /// Write the report as JSON here too.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Exit with an error when the bar is missed (reads >= 99.9 %, no
    /// acknowledged write lost, no 500, recovered within --recovery-limit).
    #[arg(long)]
    pub check: bool,
    /// Seconds after the fault ends by which every request must succeed again.
    #[arg(long, default_value_t = 30)]
    pub recovery_limit: u64,
}

/// Runs the drill and prints its report.
pub async fn run(args: &DrillArgs) -> anyhow::Result<()> {
    let shopper = Shopper::connect(&args.target, args.ca.as_deref(), &args.queries).await?;
    let shopper = Arc::new(shopper);
    let start = Instant::now();
    let outcomes = Arc::new(Mutex::new(Vec::<Outcome>::new()));
    let acked = Arc::new(Mutex::new(Vec::<Acked>::new()));
    let faults = tokio::spawn(inject(args.clone(), start));
    let period = Duration::from_secs_f64(1.0 / f64::from(args.rate.max(1)));
    let total = u64::from(args.rate) * args.duration;
    let mut tasks = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for i in 0..total {
        let due = start + period.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let (shopper, outcomes, acked) = (shopper.clone(), outcomes.clone(), acked.clone());
        let op = Op::draw(i);
        tasks.push(tokio::spawn(async move {
            let (done, ack) = shopper.perform(op, due, start).await;
            outcomes.lock().await.extend(done);
            if let Some(ack) = ack {
                acked.lock().await.push(ack);
            }
        }));
    }
    for t in tasks {
        t.await.context("a drill request panicked")?;
    }
    let (fault_start, fault_end) = faults.await.context("the fault task panicked")??;
    // Give the shop the recovery limit to settle before checking the writes.
    let outcomes = std::mem::take(&mut *outcomes.lock().await);
    let acked = std::mem::take(&mut *acked.lock().await);
    let found = shopper
        .verify(&acked, Duration::from_secs(args.recovery_limit))
        .await;
    let report = DrillReport::new(
        &args.name,
        &outcomes,
        &acked,
        &found,
        fault_start,
        fault_end,
    );
    println!("{report}");
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
    }
    if args.check {
        report.check(Duration::from_secs(args.recovery_limit))?;
    }
    Ok(())
}

/// Runs the fault command at `fault_at` and the recovery command at
/// `recover_at`; returns when the fault began and ended (seconds from the
/// start).
async fn inject(args: DrillArgs, start: Instant) -> anyhow::Result<(f64, f64)> {
    tokio::time::sleep_until((start + Duration::from_secs(args.fault_at)).into()).await;
    let fault_start = start.elapsed().as_secs_f64();
    shell(&args.fault).await?;
    let mut fault_end = start.elapsed().as_secs_f64();
    if let Some(recover) = &args.recover {
        tokio::time::sleep_until((start + Duration::from_secs(args.recover_at)).into()).await;
        shell(recover).await?;
        fault_end = start.elapsed().as_secs_f64();
    }
    Ok((fault_start, fault_end))
}

async fn shell(command: &str) -> anyhow::Result<()> {
    eprintln!("drill: $ {command}");
    let owned = command.to_owned();
    let status = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh")
            .args(["-c", &owned])
            .status()
    })
    .await?
    .with_context(|| format!("running {command}"))?;
    anyhow::ensure!(status.success(), "{command} failed: {status}");
    Ok(())
}
