//! Helpers shared by the contract tests: the test Redis
//! (`EMPORIUM_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`), a
//! throwaway Redis Cluster ([`Cluster`]), unique key prefixes, and a
//! throwaway `redis-server` to kill. Helpers take the `REDIS_URL`-style
//! URL list to use, so each contract runs unchanged against a single
//! server and against a cluster.

#![allow(dead_code, reason = "each test binary uses a different subset")]

mod cluster;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use emporium_cache::{connect_redis, RedisCache, RedisConn};

pub use cluster::Cluster;

pub fn redis_url() -> String {
    std::env::var("EMPORIUM_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A new connection to the Redis at `urls` (each call is another client,
/// as another instance of the shop would be).
pub async fn connect(urls: &str) -> RedisConn {
    connect_redis(urls)
        .await
        .expect("Redis must be running for the contract tests")
}

/// A key prefix no other test uses.
pub fn unique_prefix() -> String {
    format!("emporium-test:{}:", uuid::Uuid::now_v7())
}

/// Deletes every key under `prefix` in the Redis at `urls`, and checks
/// that none is left (on a cluster, every master is scanned).
pub async fn clear(urls: &str, prefix: &str) {
    let conn = connect(urls).await;
    RedisCache::new(conn.clone(), prefix).clear().await.unwrap();
    let left = conn.keys_matching(&format!("{prefix}*")).await.unwrap();
    assert_eq!(left, Vec::<String>::new());
}

/// A `redis-server` of this test's own on a free port, killed on `stop`
/// or drop.
pub struct Throwaway {
    child: Child,
    port: u16,
    pub url: String,
}

fn spawn(port: u16) -> Child {
    Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server must be installed (.ci/run installs it)")
}

impl Throwaway {
    /// Starts the server and waits until it answers; returns it with a
    /// connection to it.
    pub async fn start() -> (Throwaway, RedisConn) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = Throwaway {
            child: spawn(port),
            port,
            url: format!("redis://127.0.0.1:{port}"),
        };
        let conn = server.connect().await;
        (server, conn)
    }

    /// A new connection, once the server answers.
    pub async fn connect(&self) -> RedisConn {
        for _ in 0..100 {
            if let Ok(conn) = connect_redis(&self.url).await {
                return conn;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server on port {} did not start", self.port);
    }

    /// Starts the stopped server again, empty, on the same port.
    pub async fn restart(&mut self) {
        self.child = spawn(self.port);
        drop(self.connect().await);
    }

    /// Kills the server and waits until it is gone.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        self.stop();
    }
}
