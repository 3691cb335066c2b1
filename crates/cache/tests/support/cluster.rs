//! A throwaway Redis Cluster of three masters, no replicas: `redis-server`
//! processes of the test's own on free ports, in a temporary directory,
//! joined with `redis-cli --cluster create`; nodes can be killed or
//! frozen to test failures. Dropping it kills every
//! process it started (each [`Node`] kills its own child, by pid) and then
//! removes the directory.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long starting the processes and forming the cluster may take, on a
/// loaded machine.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How many times a node is started on fresh ports when another process
/// took its port between our check and its start.
const START_ATTEMPTS: usize = 5;

pub struct Cluster {
    // Fields drop in order: the nodes are killed before the directory
    // they write to is removed.
    nodes: Vec<Node>,
    dir: tempfile::TempDir,
}

/// One `redis-server` child; killed when dropped.
struct Node {
    port: u16,
    /// `None` once killed.
    child: Option<Child>,
}

impl Cluster {
    /// Starts three nodes and forms the cluster; returns once every node
    /// reports `cluster_state:ok`.
    pub async fn start() -> Cluster {
        tokio::task::spawn_blocking(Cluster::start_blocking)
            .await
            .expect("starting the cluster panicked")
    }

    fn start_blocking() -> Cluster {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut cluster = Cluster {
            nodes: Vec::new(),
            dir,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        for n in 0..3 {
            let node = cluster.start_node(n, deadline);
            cluster.nodes.push(node);
        }
        cluster.create(deadline);
        for node in &cluster.nodes {
            node.wait_for_state_ok(deadline);
        }
        cluster
    }

    /// Starts node `n` on free ports, and again on others if it could not
    /// bind them; returns once it answers. Earlier nodes are up by then,
    /// so their ports are not free and cannot be chosen again.
    fn start_node(&self, n: usize, deadline: Instant) -> Node {
        for _ in 0..START_ATTEMPTS {
            let port = free_port_pair();
            let mut node = Node {
                port,
                child: Some(spawn_node(self.dir.path(), n, port)),
            };
            if node.wait_until_it_answers(deadline) {
                return node;
            }
        }
        panic!("redis-server node {n} could not start on a free port");
    }

    /// `redis-cli --cluster create` over the three nodes, as masters.
    fn create(&self, deadline: Instant) {
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for node in &self.nodes {
            create.arg(format!("127.0.0.1:{}", node.port));
        }
        create.args(["--cluster-replicas", "0", "--cluster-yes"]);
        let mut child = create
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-cli must be installed (.ci/run installs it)");
        loop {
            if let Some(status) = child.try_wait().expect("waiting for redis-cli") {
                assert!(status.success(), "redis-cli --cluster create failed");
                return;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("redis-cli --cluster create did not finish");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The seed list, as `REDIS_URL` would hold it.
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("redis://127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The index of the node holding `key` (as the cluster says).
    pub fn node_of(&self, key: &str) -> usize {
        let slot: u16 = cli(self.nodes[0].port, &["CLUSTER", "KEYSLOT", key])
            .trim()
            .parse()
            .expect("CLUSTER KEYSLOT answers a number");
        let port = owner_of(&cli(self.nodes[0].port, &["CLUSTER", "NODES"]), slot);
        self.nodes
            .iter()
            .position(|n| n.port == port)
            .expect("the owner is one of our nodes")
    }

    /// Kills node `n` with SIGKILL and reaps it.
    pub fn kill(&mut self, n: usize) {
        self.nodes[n].kill();
    }

    /// Stops node `n` with SIGSTOP: its port still accepts connections but
    /// nothing is answered, as with a hung or partitioned server. The node
    /// is still killed on drop (SIGKILL ends a stopped process too).
    pub fn freeze(&mut self, n: usize) {
        let child = self.nodes[n].child.as_ref().expect("a running node");
        let status = Command::new("kill")
            .args(["-STOP", &child.id().to_string()])
            .status()
            .expect("kill(1) runs");
        assert!(status.success(), "SIGSTOP failed");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Node {
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until this node's own process answers on its port (the pid
    /// `INFO` reports is checked, so another test's server on a reused
    /// port cannot pass for it); false if the process exited instead.
    fn wait_until_it_answers(&mut self, deadline: Instant) -> bool {
        let Some(child) = &mut self.child else {
            return false;
        };
        let pid = format!("process_id:{}", child.id());
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                self.child = None;
                return false;
            }
            if cli(self.port, &["INFO", "server"])
                .lines()
                .any(|l| l.trim() == pid)
            {
                return true;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until this node sees every slot served (the cluster has
    /// formed and the node knows it).
    fn wait_for_state_ok(&self, deadline: Instant) {
        while !cli(self.port, &["CLUSTER", "INFO"]).contains("cluster_state:ok") {
            assert!(
                Instant::now() < deadline,
                "the cluster did not reach cluster_state:ok"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A port free on 127.0.0.1 whose cluster bus port (+10000) is free too.
/// Both are released before the server binds them; another process could
/// take one meanwhile, which the server's start would then report.
fn free_port_pair() -> u16 {
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding port 0");
        let port = listener.local_addr().expect("a local address").port();
        let Some(bus) = port.checked_add(10_000) else {
            continue;
        };
        if TcpListener::bind(("127.0.0.1", bus)).is_ok() {
            return port;
        }
    }
}

fn spawn_node(dir: &Path, n: usize, port: u16) -> Child {
    let config = dir.join(format!("nodes-{n}.conf"));
    Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--cluster-enabled", "yes", "--cluster-config-file"])
        .arg(&config)
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server must be installed (.ci/run installs it)")
}

/// `redis-cli -p port args…`'s output ("" if it could not run).
fn cli(port: u16, args: &[&str]) -> String {
    Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// The port of the master serving `slot`, from `CLUSTER NODES` (`id
/// host:port@bus flags master ping pong epoch state slot…`).
fn owner_of(nodes: &str, slot: u16) -> u16 {
    for line in nodes.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 9 || !fields[2].contains("master") {
            continue;
        }
        let serves = fields[8..].iter().any(|range| {
            let (lo, hi) = range.split_once('-').unwrap_or((range, range));
            matches!((lo.parse::<u16>(), hi.parse::<u16>()), (Ok(lo), Ok(hi)) if (lo..=hi).contains(&slot))
        });
        if serves {
            let addr = fields[1].split('@').next().unwrap_or_default();
            let port = addr.rsplit(':').next().unwrap_or_default();
            return port.parse().expect("CLUSTER NODES lists host:port");
        }
    }
    panic!("no master serves slot {slot}");
}
