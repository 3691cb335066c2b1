//! The public runners: the query mix over HTTP (open or closed loop) and
//! straight against an in-process target.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Context as _};
use futures::stream::{self, StreamExt as _, TryStreamExt as _};
use http::Uri;

use crate::client::{check_fd_limit, HttpConn};
use crate::engine::{run_closed, run_open, Worker, DRAIN_GRACE};
use crate::{Report, SearchRequest};

/// How many connections are opened at once before a run.
const CONNECT_PARALLELISM: usize = 32;

/// How load is generated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Requests are due at a fixed arrival rate over `connections`
    /// pre-opened keep-alive HTTP/1.1 connections (round robin, a FIFO queue
    /// per connection, never dropped or skipped). Latency is measured from
    /// when each request was due, not when it was sent, so queueing delay
    /// counts (like wrk2). Tokio timers tick in milliseconds, so the
    /// dispatcher can wake up to ~1 ms after a due time and that lag is part
    /// of the measured latency: sub-millisecond open-loop figures read up to
    /// ~1 ms high (compare open-loop runs with each other).
    Open {
        /// Offered arrival rate.
        rate_per_sec: u32,
        /// Connections opened before the clock starts.
        connections: usize,
        /// How long requests keep arriving.
        duration: Duration,
    },
    /// `concurrency` workers, each with its own keep-alive connection,
    /// sending back-to-back.
    Closed {
        /// Number of workers (and connections).
        concurrency: usize,
        /// How long workers keep sending.
        duration: Duration,
    },
}

impl Mode {
    /// How long requests are issued.
    pub fn duration(&self) -> Duration {
        match self {
            Mode::Open { duration, .. } | Mode::Closed { duration, .. } => *duration,
        }
    }

    /// How many connections the mode opens.
    pub fn connections(&self) -> usize {
        match self {
            Mode::Open { connections, .. } => *connections,
            Mode::Closed { concurrency, .. } => *concurrency,
        }
    }
}

/// An HTTP connection as a load worker.
struct HttpWorker(HttpConn);

impl Worker<Uri> for HttpWorker {
    fn call(&mut self, uri: &Uri) -> impl Future<Output = Result<(), String>> + Send {
        self.0.get(uri)
    }
}

/// Runs `requests` against the server at `addr` over HTTP/1.1, cycling
/// through them as often as needed.
///
/// All connections are opened before the clock starts; a connection that
/// fails during the run is reopened. A request is an error on a transport
/// error or a non-2xx status; the body is always read in full and discarded.
/// Requests not finished [`crate::DRAIN_GRACE`] after `duration` count as
/// errors.
///
/// Fails up front if `requests` is empty, the mode has zero
/// connections/rate, the open-files limit is too low for the connections
/// (see [`crate::open_files_limit`]) or a connection cannot be opened.
pub async fn run_http(
    addr: SocketAddr,
    mode: &Mode,
    requests: &[SearchRequest],
    label: &str,
) -> anyhow::Result<Report> {
    ensure!(!requests.is_empty(), "no requests to send");
    let connections = mode.connections();
    ensure!(connections > 0, "the bench needs at least one connection");
    if let Mode::Open { rate_per_sec, .. } = mode {
        ensure!(*rate_per_sec > 0, "the open-loop rate must be above 0");
    }
    check_fd_limit(connections)?;
    let uris = requests
        .iter()
        .map(|r| {
            let path = r.to_path();
            path.parse::<Uri>()
                .with_context(|| format!("invalid request path {path}"))
        })
        .collect::<anyhow::Result<Vec<Uri>>>()?;
    let uris: Arc<[Uri]> = uris.into();
    let workers: Vec<HttpWorker> = stream::iter(0..connections)
        .map(|_| HttpConn::connect(addr))
        .buffer_unordered(CONNECT_PARALLELISM)
        .map_ok(HttpWorker)
        .try_collect()
        .await
        .with_context(|| format!("cannot open {connections} connections to {addr}"))?;
    Ok(match *mode {
        Mode::Open {
            rate_per_sec,
            duration,
            ..
        } => run_open(workers, rate_per_sec, duration, DRAIN_GRACE, uris, label).await,
        Mode::Closed { duration, .. } => {
            run_closed(workers, duration, DRAIN_GRACE, uris, label).await
        }
    })
}

/// A user function as a load worker.
pub(crate) struct DirectWorker<F>(pub(crate) F);

impl<F, Fut> Worker<SearchRequest> for DirectWorker<F>
where
    F: Fn(SearchRequest) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    fn call(&mut self, req: &SearchRequest) -> impl Future<Output = Result<(), String>> + Send {
        (self.0)(req.clone())
    }
}

/// Runs the mix straight against something that is not HTTP (e.g. the
/// store): a closed loop of `concurrency` tasks (at least 1) for `duration`,
/// calling `f` once per request; `Err` counts as an error. Latency is
/// measured per call. `f` runs on spawned tokio tasks, so its futures must be
/// `'static` (own what they use, e.g. a cloned store handle).
pub async fn run_direct<F, Fut>(
    concurrency: usize,
    duration: Duration,
    requests: &[SearchRequest],
    label: &str,
    f: F,
) -> Report
where
    F: Fn(SearchRequest) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let workers = direct_workers(concurrency, f);
    run_closed(workers, duration, DRAIN_GRACE, requests.into(), label).await
}

/// The open-loop variant of [`run_direct`]: requests are due at
/// `rate_per_sec`, spread round robin over `concurrency` in-flight slots (at
/// least 1) with a FIFO queue each, and latency is measured from when each
/// request was due. An empty `requests` or a zero rate gives an empty report.
pub async fn run_direct_open<F, Fut>(
    rate_per_sec: u32,
    concurrency: usize,
    duration: Duration,
    requests: &[SearchRequest],
    label: &str,
    f: F,
) -> Report
where
    F: Fn(SearchRequest) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let workers = direct_workers(concurrency, f);
    run_open(
        workers,
        rate_per_sec,
        duration,
        DRAIN_GRACE,
        requests.into(),
        label,
    )
    .await
}

fn direct_workers<F: Clone>(concurrency: usize, f: F) -> Vec<DirectWorker<F>> {
    (0..concurrency.max(1))
        .map(|_| DirectWorker(f.clone()))
        .collect()
}
