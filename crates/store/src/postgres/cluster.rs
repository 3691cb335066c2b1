//! The PostgreSQL servers a store talks to: one pool per server, each with
//! its own circuit breaker, and a monitor that asks every server every
//! `probe_interval` whether it is in recovery (a replica) and how far it
//! lags. Writes go to the server that says it is the primary; reads that
//! may lag go to a replica within `max_replica_lag`, else to the primary,
//! and move to the other when the one they tried is unavailable.
//!
//! Nothing about roles is configured: after a replica is promoted, the
//! monitor sees it answer `pg_is_in_recovery() = false` and writes follow
//! it, without a restart.

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use emporium_domain::StoreError;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Executor, PgPool};

use super::breaker::{Breaker, BreakerState};
use crate::error::db;

pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// How the store uses its servers; every field has a default
/// ([`PgOptions::default`]) and a `store.*` setting.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Connections per server.
    pub pool_size: u32,
    /// How long a request waits for a connection before the server counts
    /// as unavailable.
    pub acquire_timeout: Duration,
    /// Consecutive failures that open a server's circuit breaker.
    pub breaker_failures: u32,
    /// How long an open breaker refuses calls before one trial.
    pub breaker_cooldown: Duration,
    /// How often every server is asked for its role and lag.
    pub probe_interval: Duration,
    /// A replica further behind than this serves no reads.
    pub max_replica_lag: Duration,
}

impl Default for PgOptions {
    fn default() -> PgOptions {
        PgOptions {
            pool_size: 8,
            acquire_timeout: Duration::from_secs(2),
            breaker_failures: 3,
            breaker_cooldown: Duration::from_secs(2),
            probe_interval: Duration::from_millis(500),
            max_replica_lag: Duration::from_secs(5),
        }
    }
}

const UNKNOWN: u8 = 0;
const PRIMARY: u8 = 1;
const REPLICA: u8 = 2;
const NO_PRIMARY: usize = usize::MAX;

/// What a server said it is when last asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerRole {
    Primary,
    Replica,
    /// Not reachable when last asked (or never asked yet).
    Unknown,
}

/// One server as the store sees it (for health reports and metrics).
#[derive(Debug, Clone)]
pub struct ServerStatus {
    /// `host:port/database`, without credentials.
    pub name: String,
    pub role: ServerRole,
    pub breaker: BreakerState,
    /// How far behind the primary a replica is (zero for a primary).
    pub lag: Duration,
}

#[derive(Debug)]
struct Server {
    name: String,
    pool: PgPool,
    breaker: Breaker,
    role: AtomicU8,
    lag_ms: AtomicU64,
}

impl Server {
    fn role(&self) -> ServerRole {
        match self.role.load(Ordering::Acquire) {
            PRIMARY => ServerRole::Primary,
            REPLICA => ServerRole::Replica,
            _ => ServerRole::Unknown,
        }
    }

    /// Reports a call's outcome to the breaker: only an unavailable
    /// server counts as a failure (a conflict or a time limit is an answer).
    fn record<T>(&self, result: &Result<T, StoreError>) {
        match result {
            Err(StoreError::Unavailable(cause)) => {
                if self.breaker.failure() {
                    tracing::warn!(server = %self.name, %cause, "database circuit breaker open");
                }
                self.role.store(UNKNOWN, Ordering::Release);
            }
            _ => self.breaker.success(),
        }
    }
}

/// Which server a read prefers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Prefer {
    /// A replica within the lag bound, else the primary (catalog reads).
    Replica,
    /// The primary, else a replica (reads that should see recent writes
    /// but may do without when the primary is down).
    Primary,
}

#[derive(Debug)]
pub(crate) struct Cluster {
    servers: Vec<Server>,
    primary: AtomicUsize,
    /// Round robin over replicas.
    next: AtomicUsize,
    options: PgOptions,
}

/// The probe: role, replay lag in milliseconds (zero when the replica has
/// replayed all it received, so an idle primary does not look like lag).
const PROBE: &str = "SELECT pg_is_in_recovery(), CASE \
     WHEN NOT pg_is_in_recovery() THEN 0 \
     WHEN pg_last_wal_receive_lsn() IS NULL \
       OR pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0 \
     ELSE COALESCE((EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) * 1000)::bigint, 0) \
     END";

impl Cluster {
    /// Opens a pool per URL (lazily: a server that is down at start is
    /// found later) and asks each for its role once before returning.
    pub(crate) async fn connect(
        urls: &[&str],
        options: PgOptions,
    ) -> Result<Arc<Cluster>, StoreError> {
        let mut servers = Vec::with_capacity(urls.len());
        for url in urls {
            let connect: PgConnectOptions = url.parse().map_err(|_| {
                StoreError::Unavailable("DATABASE_URL is not a valid postgres:// URL".into())
            })?;
            let name = format!(
                "{}:{}/{}",
                connect.get_host(),
                connect.get_port(),
                connect.get_database().unwrap_or("")
            );
            servers.push(Server {
                name,
                pool: pool_options(&options).connect_lazy_with(connect),
                breaker: Breaker::new(options.breaker_failures, options.breaker_cooldown),
                role: AtomicU8::new(UNKNOWN),
                lag_ms: AtomicU64::new(0),
            });
        }
        if servers.is_empty() {
            return Err(StoreError::Unavailable(
                "DATABASE_URL names no server".into(),
            ));
        }
        let cluster = Arc::new(Cluster {
            servers,
            primary: AtomicUsize::new(NO_PRIMARY),
            next: AtomicUsize::new(0),
            options,
        });
        cluster.probe_all().await;
        tokio::spawn(monitor(Arc::downgrade(&cluster)));
        Ok(cluster)
    }

    /// The primary's pool, if one is known and its breaker is closed.
    /// Writes fail at once otherwise (`Unavailable`), not after a timeout.
    pub(crate) fn primary(&self) -> Result<PgPool, StoreError> {
        let i = self.primary.load(Ordering::Acquire);
        let server = self
            .servers
            .get(i)
            .ok_or_else(|| StoreError::Unavailable("no primary database is reachable".into()))?;
        if !server.breaker.is_closed() {
            return Err(StoreError::Unavailable(format!(
                "the primary database ({}) is not answering (circuit open)",
                server.name
            )));
        }
        Ok(server.pool.clone())
    }

    /// Runs `read` on the preferred server, and on the next one when that
    /// one is unavailable, in the order `prefer` gives.
    pub(crate) async fn read<T, F, Fut>(&self, prefer: Prefer, read: F) -> Result<T, StoreError>
    where
        F: Fn(PgPool) -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let mut last = StoreError::Unavailable("no database server is reachable".into());
        for i in self.read_order(prefer) {
            let server = &self.servers[i];
            if !server.breaker.allow() {
                continue;
            }
            let result = read(server.pool.clone()).await;
            server.record(&result);
            match result {
                Err(e @ StoreError::Unavailable(_)) => {
                    metrics::counter!("store_read_failovers_total").increment(1);
                    last = e;
                }
                other => return other,
            }
        }
        Err(last)
    }

    /// Servers to try for a read: replicas within the lag bound (starting
    /// at the next in turn) and the primary, in the preferred order; then
    /// any server whose role is not known, as a last resort.
    fn read_order(&self, prefer: Prefer) -> Vec<usize> {
        let max_lag = millis(self.options.max_replica_lag);
        let n = self.servers.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut replicas = Vec::new();
        let mut primaries = Vec::new();
        let mut unknown = Vec::new();
        for k in 0..n {
            let i = (start + k) % n;
            let s = &self.servers[i];
            match s.role() {
                ServerRole::Replica if s.lag_ms.load(Ordering::Acquire) <= max_lag => {
                    replicas.push(i);
                }
                ServerRole::Replica => {}
                ServerRole::Primary => primaries.push(i),
                ServerRole::Unknown => unknown.push(i),
            }
        }
        let mut order = match prefer {
            Prefer::Replica => [replicas, primaries].concat(),
            Prefer::Primary => [primaries, replicas].concat(),
        };
        order.extend(unknown);
        order
    }

    /// Asks every server for its role and lag, then settles the primary.
    async fn probe_all(&self) {
        let probes = self.servers.iter().map(|s| self.probe(s));
        futures::future::join_all(probes).await;
        self.settle_primary();
    }

    async fn probe(&self, server: &Server) {
        if !server.breaker.allow() {
            return;
        }
        let limit = self.options.acquire_timeout;
        let answer = tokio::time::timeout(limit, async {
            sqlx::query_as::<_, (bool, i64)>(PROBE)
                .fetch_one(&server.pool)
                .await
                .map_err(db)
        })
        .await
        .unwrap_or_else(|_| Err(StoreError::Unavailable("the probe timed out".into())));
        server.record(&answer);
        if let Ok((in_recovery, lag_ms)) = answer {
            let role = if in_recovery { REPLICA } else { PRIMARY };
            server.role.store(role, Ordering::Release);
            server
                .lag_ms
                .store(u64::try_from(lag_ms).unwrap_or(0), Ordering::Release);
        }
        let labels = [("server", server.name.clone())];
        metrics::gauge!("store_breaker_state", &labels).set(server.breaker.state().gauge());
        metrics::gauge!("store_replica_lag_seconds", &labels)
            .set(server.lag_ms.load(Ordering::Acquire) as f64 / 1000.0);
    }

    /// Keeps the current primary while it still says so; otherwise adopts
    /// the first server that does (a promoted replica). Two servers that
    /// both say primary (an old primary started again without being
    /// rebuilt) are reported, and writes stay where they were.
    fn settle_primary(&self) {
        let current = self.primary.load(Ordering::Acquire);
        let primaries: Vec<usize> = (0..self.servers.len())
            .filter(|&i| self.servers[i].role() == ServerRole::Primary)
            .collect();
        if primaries.len() > 1 {
            tracing::error!(
                servers = ?primaries.iter().map(|&i| &self.servers[i].name).collect::<Vec<_>>(),
                "more than one database server says it is the primary; writes stay on the current one"
            );
        }
        if primaries.contains(&current) {
            return;
        }
        let next = primaries.first().copied().unwrap_or(NO_PRIMARY);
        if next != current {
            self.primary.store(next, Ordering::Release);
            match self.servers.get(next) {
                Some(s) => {
                    metrics::counter!("store_primary_changes_total").increment(1);
                    tracing::warn!(server = %s.name, "writes go to this database server: it is the primary now");
                }
                None => tracing::error!("no database server is the primary: writes are paused"),
            }
        }
    }

    pub(crate) fn status(&self) -> Vec<ServerStatus> {
        self.servers
            .iter()
            .map(|s| ServerStatus {
                name: s.name.clone(),
                role: s.role(),
                breaker: s.breaker.state(),
                lag: Duration::from_millis(s.lag_ms.load(Ordering::Acquire)),
            })
            .collect()
    }

    /// Whether writes can go anywhere now.
    pub(crate) fn writable(&self) -> bool {
        self.primary().is_ok()
    }

    pub(crate) async fn close(&self) {
        for s in &self.servers {
            s.pool.close().await;
        }
    }
}

fn pool_options(options: &PgOptions) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(options.pool_size.max(1))
        .acquire_timeout(options.acquire_timeout)
        .after_connect(|conn, _| {
            Box::pin(async move {
                // Typo candidates: looser than the 0.3 default, so that a
                // swapped pair of letters in a short word still qualifies.
                // (Ignored before pg_trgm exists, i.e. before migrations.)
                let _ = conn
                    .execute("SET pg_trgm.similarity_threshold = 0.25")
                    .await;
                Ok(())
            })
        })
}

/// Probes every server every `probe_interval` for as long as the cluster
/// is in use.
async fn monitor(cluster: Weak<Cluster>) {
    loop {
        let Some(c) = cluster.upgrade() else { return };
        if c.servers.iter().all(|s| s.pool.is_closed()) {
            return;
        }
        let interval = c.options.probe_interval;
        c.probe_all().await;
        drop(c);
        tokio::time::sleep(interval).await;
    }
}
