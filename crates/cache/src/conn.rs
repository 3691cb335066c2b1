//! The one Redis connection every adapter here uses: a single server or a
//! Redis Cluster, chosen by how many URLs `REDIS_URL` lists.
//!
//! `redis://host:6379` is a single server; `redis://a:7001,redis://b:7002`
//! (two or more, comma-separated) are seed nodes of a cluster, from which
//! the client learns every master and which slots it holds. [`RedisConn`]
//! hides the difference, so the cache, the limiter and the revocation store
//! have one code path. What they must keep to for a cluster:
//!
//! - every Lua script and every `MULTI` touches exactly one key (a cluster
//!   runs them on one node only); one that needs more keys must give them
//!   a common hash tag (`…{bucket}…`) so they share a slot;
//! - scripts are run with [`OneKeyScript::run`] (`EVALSHA`, then `EVAL` on
//!   the node that lacked the script), not `SCRIPT LOAD`, which a cluster
//!   sends to every node and so fails while any node is down;
//! - key listings go through [`RedisConn::keys_matching`], which scans
//!   every master.
//!
//! Both kinds time out quickly (500 ms a response), so a dead node costs
//! one short wait; the adapters bound each call as well (`bounded`).

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, FromRedisValue, Pipeline, RedisFuture, RedisResult, Value};

use crate::CacheError;

/// How long to wait for a TCP connection to one node.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one node may take to answer one command.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);
/// The most `connect_redis` may take as a whole.
const SETUP_TIMEOUT: Duration = Duration::from_secs(5);
/// Keys asked for per `SCAN` call.
const SCAN_COUNT: usize = 1000;

/// A connection to a single Redis server or to a Redis Cluster. Clones are
/// cheap and share the underlying connections; both kinds reconnect by
/// themselves after a failure.
#[derive(Clone)]
#[expect(
    clippy::large_enum_variant,
    reason = "cloned for every call: copying the manager is cheaper than boxing it, which would allocate per clone"
)]
pub enum RedisConn {
    /// One server, through a reconnecting multiplexed connection.
    Single(ConnectionManager),
    /// A cluster: commands go to the master holding their key's slot.
    Cluster(ClusterConnection),
}

impl std::fmt::Debug for RedisConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind())
    }
}

impl From<ConnectionManager> for RedisConn {
    fn from(conn: ConnectionManager) -> RedisConn {
        RedisConn::Single(conn)
    }
}

impl From<ClusterConnection> for RedisConn {
    fn from(conn: ClusterConnection) -> RedisConn {
        RedisConn::Cluster(conn)
    }
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            RedisConn::Single(c) => c.req_packed_command(cmd),
            RedisConn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            RedisConn::Single(c) => c.req_packed_commands(cmd, offset, count),
            RedisConn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConn::Single(c) => c.get_db(),
            RedisConn::Cluster(c) => c.get_db(),
        }
    }
}

impl RedisConn {
    /// `single` or `cluster`, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            RedisConn::Single(_) => "single",
            RedisConn::Cluster(_) => "cluster",
        }
    }

    /// Whether this is a cluster connection.
    pub fn is_cluster(&self) -> bool {
        matches!(self, RedisConn::Cluster(_))
    }

    /// Every key matching the glob `pattern`, from every master (`SCAN`,
    /// so no server is blocked the way `KEYS` would block it). Keys written
    /// meanwhile may or may not be listed.
    pub async fn keys_matching(&self, pattern: &str) -> RedisResult<Vec<String>> {
        let mut conn = self.clone();
        if !self.is_cluster() {
            return scan(&mut conn, None, pattern).await;
        }
        let mut keys = Vec::new();
        for (host, port) in masters(&mut conn).await? {
            let node = SingleNodeRoutingInfo::ByAddress { host, port };
            keys.extend(scan(&mut conn, Some(node), pattern).await?);
        }
        Ok(keys)
    }
}

/// Runs `cmd` on `node` of a cluster, or wherever its key says.
async fn query<T: FromRedisValue>(
    conn: &mut RedisConn,
    node: Option<&SingleNodeRoutingInfo>,
    cmd: &Cmd,
) -> RedisResult<T> {
    match (conn, node) {
        (RedisConn::Cluster(c), Some(node)) => {
            let value = c
                .route_command(cmd, RoutingInfo::SingleNode(node.clone()))
                .await?;
            T::from_redis_value(&value)
        }
        (conn, _) => cmd.query_async(conn).await,
    }
}

/// Every key matching `pattern` on one server (`node`, in a cluster).
async fn scan(
    conn: &mut RedisConn,
    node: Option<SingleNodeRoutingInfo>,
    pattern: &str,
) -> RedisResult<Vec<String>> {
    let mut keys = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(SCAN_COUNT);
        let (next, batch): (u64, Vec<String>) = query(conn, node.as_ref(), &cmd).await?;
        keys.extend(batch);
        if next == 0 {
            return Ok(keys);
        }
        cursor = next;
    }
}

/// The address of every master of the cluster (`CLUSTER SLOTS`: each slot
/// range, then its master's host and port first).
async fn masters(conn: &mut RedisConn) -> RedisResult<Vec<(String, u16)>> {
    let ranges: Vec<Value> = redis::cmd("CLUSTER").arg("SLOTS").query_async(conn).await?;
    let mut found = Vec::new();
    for range in ranges {
        let Value::Array(items) = range else { continue };
        let Some(Value::Array(master)) = items.get(2) else {
            continue;
        };
        let (Some(host), Some(port)) = (master.first(), master.get(1)) else {
            continue;
        };
        let node = (
            String::from_redis_value(host)?,
            u16::from_redis_value(port)?,
        );
        if !found.contains(&node) {
            found.push(node);
        }
    }
    Ok(found)
}

/// `text` with the glob characters of `SCAN MATCH` escaped, so that a key
/// prefix matches only itself.
pub(crate) fn glob_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// A Lua script that touches exactly one key (`KEYS[1]`), so that a
/// cluster can run it on the node holding that key.
pub(crate) struct OneKeyScript {
    source: &'static str,
    script: redis::Script,
}

impl OneKeyScript {
    pub(crate) fn new(source: &'static str) -> OneKeyScript {
        OneKeyScript {
            source,
            script: redis::Script::new(source),
        }
    }

    /// Runs the script on `key`: `EVALSHA` first, then `EVAL` with the
    /// source when that node lacks the script (new, restarted or flushed).
    /// Unlike `SCRIPT LOAD`, which a cluster sends to every node, this
    /// only needs the key's own node to be up.
    pub(crate) async fn run<T: FromRedisValue>(
        &self,
        conn: &mut RedisConn,
        key: &str,
        args: &[u64],
    ) -> RedisResult<T> {
        let mut by_hash = redis::cmd("EVALSHA");
        by_hash
            .arg(self.script.get_hash())
            .arg(1)
            .arg(key)
            .arg(args);
        match by_hash.query_async(conn).await {
            Err(e) if e.kind() == redis::ErrorKind::NoScriptError => {
                let mut by_source = redis::cmd("EVAL");
                by_source.arg(self.source).arg(1).arg(key).arg(args);
                by_source.query_async(conn).await
            }
            other => other,
        }
    }
}

/// The URLs listed in `urls`: comma-separated, blanks ignored.
pub(crate) fn split_urls(urls: &str) -> Vec<&str> {
    urls.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .collect()
}

/// Connects (and checks the connection) to the Redis that `urls` names:
/// one URL is a single server, two or more (comma-separated) are seed
/// nodes of a Redis Cluster. Timeouts: 2 s to connect to a node, 500 ms
/// per response, 5 s for the whole set-up.
///
/// A single URL that turns out to be a cluster node is refused: most keys
/// would live on other nodes and every call for them would fail. List two
/// or more seed nodes instead (the same URL twice will do for a cluster's
/// one configuration endpoint).
pub async fn connect_redis(urls: &str) -> Result<RedisConn, CacheError> {
    let urls = split_urls(urls);
    let setup = async {
        match urls.as_slice() {
            [] => Err(CacheError::BadUrl("no Redis URL given".into())),
            [url] => connect_single(url).await,
            seeds => connect_cluster(seeds).await,
        }
    };
    tokio::time::timeout(SETUP_TIMEOUT, setup)
        .await
        .map_err(|_| CacheError::TimedOut)?
}

/// A reconnecting connection to one server (one retry per command).
async fn connect_single(url: &str) -> Result<RedisConn, CacheError> {
    let client = redis::Client::open(url).map_err(|e| CacheError::BadUrl(e.to_string()))?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(CONNECT_TIMEOUT)
        .set_response_timeout(RESPONSE_TIMEOUT)
        .set_number_of_retries(1);
    let mut conn = ConnectionManager::new_with_config(client, config)
        .await
        .map(RedisConn::Single)
        .map_err(|e| CacheError::Redis(format!("connecting: {e}")))?;
    // `INFO cluster` may be refused (renamed, ACLs): then assume a server.
    let info = redis::cmd("INFO")
        .arg("cluster")
        .query_async::<String>(&mut conn)
        .await
        .unwrap_or_default();
    if info.lines().any(|l| l.trim() == "cluster_enabled:1") {
        return Err(CacheError::BadUrl(
            "this Redis is a cluster node: list two or more seed nodes, comma-separated".into(),
        ));
    }
    Ok(conn)
}

/// A cluster connection from the seed nodes `seeds` (at least one must
/// answer). Retries are few and short: a command for a dead node fails in
/// well under a second, and the adapters answer from memory meanwhile.
async fn connect_cluster(seeds: &[&str]) -> Result<RedisConn, CacheError> {
    let client = ClusterClient::builder(seeds.iter().copied())
        .connection_timeout(CONNECT_TIMEOUT)
        .response_timeout(RESPONSE_TIMEOUT)
        .retries(3)
        .min_retry_wait(10)
        .max_retry_wait(100)
        .build()
        .map_err(|e| CacheError::BadUrl(e.to_string()))?;
    client
        .get_async_connection()
        .await
        .map(RedisConn::Cluster)
        .map_err(|e| CacheError::Redis(format!("connecting to the cluster: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_split_on_commas_and_trimmed() {
        assert_eq!(split_urls("redis://a:1"), ["redis://a:1"]);
        assert_eq!(
            split_urls(" redis://a:1 , redis://b:2,,redis://c:3 ,"),
            ["redis://a:1", "redis://b:2", "redis://c:3"]
        );
        assert!(split_urls(" , ").is_empty());
    }

    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(glob_escape("shop:"), "shop:");
        assert_eq!(glob_escape(r"a*b?c[d]e\f"), r"a\*b\?c\[d\]e\\f");
    }

    #[tokio::test]
    async fn no_url_is_a_bad_url() {
        assert!(matches!(
            connect_redis(" , ").await,
            Err(CacheError::BadUrl(_))
        ));
    }

    #[tokio::test]
    async fn an_unparsable_seed_is_a_bad_url() {
        assert!(matches!(
            connect_redis("redis://127.0.0.1:1,not a url").await,
            Err(CacheError::BadUrl(_))
        ));
    }
}
