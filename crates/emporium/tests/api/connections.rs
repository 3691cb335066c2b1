//! Connections over raw TCP: clients that send half a request head are cut
//! off after the header-read timeout while searches go on, a silent
//! keep-alive connection waits the idle timeout (not the header timeout)
//! and is then closed, and the connection cap makes a connection past it
//! wait until another closes.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::support::{Backend, TestApp};

/// The soft limit on open files, raised to the hard limit when it is below
/// `needed` (what `ulimit -n` does in scripts/test.sh); None when it stays
/// below.
fn enough_files(needed: u64) -> Option<u64> {
    let soft = || -> Option<(u64, String)> {
        let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
        let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
        let mut fields = line.split_whitespace().skip(3);
        let soft = fields.next()?.parse().ok()?;
        Some((soft, fields.next()?.to_owned()))
    };
    let (now, hard) = soft()?;
    if now >= needed {
        return Some(now);
    }
    // Raising the soft limit up to the hard one needs no privilege.
    let _ = std::process::Command::new("prlimit")
        .arg(format!("--pid={}", std::process::id()))
        .arg(format!("--nofile={hard}:{hard}"))
        .status();
    soft().map(|(n, _)| n).filter(|n| *n >= needed)
}

/// Sends a whole `GET path` and reads the response head and body (small,
/// `Content-Length`), leaving the connection open.
async fn get_on(conn: &mut TcpStream, path: &str) -> String {
    let req = format!("GET {path} HTTP/1.1\r\nHost: shop\r\n\r\n");
    conn.write_all(req.as_bytes()).await.unwrap();
    read_response(conn).await
}

async fn read_response(conn: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = conn.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before a whole response: {got:?}");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
    }
}

/// Resolves when the server closes `conn` (end of stream or reset).
async fn closed(mut conn: TcpStream) {
    let mut buf = [0u8; 1024];
    loop {
        match conn.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_cut_off_while_searches_go_on() {
    const SLOW: usize = 2_000;
    // Both ends of every connection live in this process.
    let Some(files) = enough_files(2 * SLOW as u64 + 500) else {
        eprintln!(
            "note: skipped: the open-file limit cannot be raised to {} (ulimit -n)",
            2 * SLOW + 500
        );
        return;
    };
    eprintln!("open-file limit: {files}");
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.server.header_read_timeout_ms = 1_000;
        c.server.idle_timeout_ms = 60_000;
    })
    .await;
    let addr = app.addr;
    let opened = tokio::time::Instant::now();
    let mut slow = Vec::with_capacity(SLOW);
    for chunk in 0..SLOW / 100 {
        let batch = (0..100).map(|i| async move {
            let mut conn = TcpStream::connect(addr).await.unwrap();
            // Half a request line, never finished.
            let partial = format!("GET /api/products?q=slow{chunk}x{i}");
            conn.write_all(partial.as_bytes()).await.unwrap();
            conn
        });
        slow.extend(futures::future::join_all(batch).await);
    }
    let closing: Vec<_> = slow.into_iter().map(|c| tokio::spawn(closed(c))).collect();
    // The shop keeps answering while they hang.
    for q in ["laptop", "samsung", "tv", "phone", "camera"] {
        let res = app.get(&format!("/api/products?q={q}")).await;
        assert_eq!(res.status(), 200, "a search while {SLOW} clients dawdle");
    }
    // Generous: the timeout is 1 s, the bound 15 s after the last connect.
    let all = futures::future::join_all(closing);
    let done = timeout(Duration::from_secs(15), all).await;
    assert!(
        done.is_ok(),
        "{SLOW} half-sent heads were not all closed within 15 s of the last connect ({:?} after the first)",
        opened.elapsed()
    );
    app.json("/api/products?q=laptop", 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_waits_the_idle_timeout_not_the_header_timeout() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.server.header_read_timeout_ms = 1_000;
        c.server.idle_timeout_ms = 8_000;
    })
    .await;
    let mut conn = TcpStream::connect(app.addr).await.unwrap();
    assert!(get_on(&mut conn, "/health/live")
        .await
        .starts_with("HTTP/1.1 200"));
    // Three times the header timeout, well within the idle timeout: the
    // silent connection is still there for the next request.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(get_on(&mut conn, "/health/live")
        .await
        .starts_with("HTTP/1.1 200"));
    // Then, left silent, it is closed (generous: 8 s idle, 30 s bound).
    assert!(
        timeout(Duration::from_secs(30), closed(conn)).await.is_ok(),
        "an idle connection outlived the idle timeout"
    );
}

/// Opens a connection and has one request answered on it.
async fn served(addr: SocketAddr) -> TcpStream {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    let res = timeout(Duration::from_secs(30), get_on(&mut conn, "/health/live"))
        .await
        .expect("a connection under the cap is served");
    assert!(res.starts_with("HTTP/1.1 200"), "{res}");
    conn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_past_the_cap_waits_for_a_slot() {
    let mut app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.server.max_connections = 20;
        c.server.header_read_timeout_ms = 60_000;
        c.server.idle_timeout_ms = 60_000;
    })
    .await;
    // The start-up probe's pooled connection would hold a slot: let it go.
    app.client = reqwest::Client::new();
    let mut open = Vec::new();
    for _ in 0..20 {
        open.push(served(app.addr).await);
    }
    let mut extra = TcpStream::connect(app.addr).await.unwrap();
    extra
        .write_all(b"GET /health/live HTTP/1.1\r\nHost: shop\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    assert!(
        timeout(Duration::from_secs(3), extra.read(&mut buf))
            .await
            .is_err(),
        "the 21st connection was served while 20 were open"
    );
    drop(open.pop());
    let res = timeout(Duration::from_secs(30), read_response(&mut extra))
        .await
        .expect("a slot freed: the waiting connection is served");
    assert!(res.starts_with("HTTP/1.1 200"), "{res}");
}
