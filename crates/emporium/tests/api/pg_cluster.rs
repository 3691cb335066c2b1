//! A PostgreSQL primary and a streaming replica of the test's own: two
//! clusters made with `initdb` and `pg_basebackup -R` in a temporary
//! directory, on free ports, run as the `postgres` user when the tests run
//! as root. The test stops, starts, kills and promotes them; dropping the
//! fixture stops both (by `pg_ctl`, then by pid) and removes everything.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub primary: Node,
    pub replica: Node,
}

#[derive(Clone)]
pub struct Node {
    pub port: u16,
    data: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The newest PostgreSQL's binaries (`initdb` is not on PATH on Debian).
fn bin_dir() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's server binaries under /usr/lib/postgresql (see .ci/run)")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    dirs.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.pop().expect("initdb under /usr/lib/postgresql/*/bin")
}

fn is_root() -> bool {
    std::env::var("USER").map(|u| u == "root").unwrap_or(false)
        || Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout.starts_with(b"0\n"))
            .unwrap_or(false)
}

impl PgCluster {
    /// Starts a primary with database `emporium` and a replica streaming
    /// from it.
    pub fn start() -> PgCluster {
        let dir = tempfile::Builder::new()
            .prefix("emporium-pg-")
            .tempdir()
            .unwrap();
        let bin = bin_dir();
        let mut cluster = PgCluster {
            primary: Node {
                port: free_port(),
                data: dir.path().join("primary"),
            },
            replica: Node {
                port: free_port(),
                data: dir.path().join("replica"),
            },
            dir,
            bin,
        };
        if is_root() {
            // The postgres user runs the servers and owns their files.
            run(Command::new("chown")
                .args(["postgres:postgres"])
                .arg(cluster.dir.path()));
        }
        cluster.init_primary();
        cluster.init_replica();
        cluster
    }

    fn pg(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn init_primary(&mut self) {
        let p = self.primary.clone();
        run(self
            .pg("initdb")
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&p.data));
        let socket = self.dir.path();
        append(
            &p.data.join("postgresql.conf"),
            &format!(
                "port = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
                 wal_level = replica\nmax_wal_senders = 5\nwal_keep_size = '128MB'\n\
                 hot_standby = on\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n\
                 shared_buffers = '32MB'\nmax_connections = 100\n",
                p.port,
                socket.display()
            ),
        );
        self.start_node(&p);
        run(self
            .pg("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-p"])
            .arg(p.port.to_string())
            .args(["-qc", "CREATE DATABASE emporium", "postgres"]));
    }

    fn init_replica(&mut self) {
        let r = self.replica.clone();
        run(self
            .pg("pg_basebackup")
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "-p",
            ])
            .arg(self.primary.port.to_string())
            .arg("-D")
            .arg(&r.data));
        append(
            &r.data.join("postgresql.conf"),
            &format!("port = {}\n", r.port),
        );
        self.start_node(&r);
    }

    /// `postgres://…` for one node's `emporium` database.
    pub fn url(&self, node: &Node) -> String {
        format!("postgres://postgres@127.0.0.1:{}/emporium", node.port)
    }

    /// Both nodes, primary first: what `DATABASE_URL` holds.
    pub fn urls(&self) -> String {
        format!("{},{}", self.url(&self.primary), self.url(&self.replica))
    }

    pub fn start_node(&self, node: &Node) {
        run(self
            .pg("pg_ctl")
            .args(["-w", "-t", "60", "-D"])
            .arg(&node.data)
            .arg("-l")
            .arg(node.data.with_extension("log"))
            .arg("start"));
    }

    /// A clean, fast shutdown (`pg_ctl stop -m fast`).
    pub fn stop_node(&self, node: &Node) {
        run(self
            .pg("pg_ctl")
            .args(["-w", "-t", "60", "-m", "fast", "-D"])
            .arg(&node.data)
            .arg("stop"));
    }

    /// As a crash: `pg_ctl stop -m immediate` (no checkpoint; the
    /// clients' connections are cut).
    pub fn crash_node(&self, node: &Node) {
        let _ = self
            .pg("pg_ctl")
            .args(["-w", "-m", "immediate", "-D"])
            .arg(&node.data)
            .arg("stop")
            .output();
    }

    /// Promotes the replica to primary and waits until it accepts writes.
    pub fn promote_replica(&self) {
        run(self
            .pg("pg_ctl")
            .args(["-w", "-t", "60", "-D"])
            .arg(&self.replica.data)
            .arg("promote"));
    }

    /// Runs `sql` on a node (`psql -At`), returning its output.
    pub fn psql(&self, node: &Node, sql: &str) -> String {
        let out = run(self
            .pg("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-At", "-p"])
            .arg(node.port.to_string())
            .args(["-c", sql, "emporium"]));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Waits until the replica has replayed everything the primary wrote.
    pub async fn wait_replica_caught_up(&self) {
        let target = self.psql(&self.primary, "SELECT pg_current_wal_lsn()");
        for _ in 0..300 {
            let done = self.psql(
                &self.replica,
                &format!("SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"),
            );
            if done == "t" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the replica did not catch up with the primary in 30 s");
    }
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        for node in [&self.primary, &self.replica] {
            self.crash_node(node);
            // Whatever pg_ctl could not stop: its postmaster, by pid.
            if let Ok(pid) = std::fs::read_to_string(node.data.join("postmaster.pid")) {
                if let Some(pid) = pid.lines().next() {
                    let _ = Command::new("kill").args(["-9", pid.trim()]).output();
                }
            }
        }
    }
}
