//! A tiny keep-alive HTTP/1.1 server on a raw tokio `TcpListener`, for tests
//! only: it parses request heads minimally and answers from a handler.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// How the test server answers.
#[derive(Clone)]
pub(crate) struct Behaviour {
    /// `(status, body)` for a request path.
    pub handler: fn(&str) -> (u16, String),
    /// Delay before each response (per connection, responses are serial).
    pub delay: Duration,
    /// Send `Connection: close` and close the socket after each response.
    pub close_after_response: bool,
}

impl Behaviour {
    /// `200 {}` for every path, except 500 for paths containing "fail".
    pub fn ok_unless_fail() -> Behaviour {
        Behaviour {
            handler: |path| {
                if path.contains("fail") {
                    (500, "{\"error\":\"boom\"}".to_owned())
                } else {
                    (200, "{}".to_owned())
                }
            },
            delay: Duration::ZERO,
            close_after_response: false,
        }
    }
}

/// A running test server and its counters.
pub(crate) struct TestServer {
    pub addr: SocketAddr,
    pub requests: Arc<AtomicU64>,
    pub connections: Arc<AtomicU64>,
}

/// Starts a server on 127.0.0.1 with an ephemeral port.
pub(crate) async fn spawn(behaviour: Behaviour) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicU64::new(0));
    let connections = Arc::new(AtomicU64::new(0));
    let (req_count, conn_count) = (Arc::clone(&requests), Arc::clone(&connections));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            conn_count.fetch_add(1, Ordering::Relaxed);
            let (b, counter) = (behaviour.clone(), Arc::clone(&req_count));
            tokio::spawn(async move {
                let _ = serve(stream, b, counter).await;
            });
        }
    });
    TestServer {
        addr,
        requests,
        connections,
    }
}

async fn serve(stream: TcpStream, b: Behaviour, counter: Arc<AtomicU64>) -> io::Result<()> {
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            let n = read_some(&stream, &mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        buf.drain(..head_end);
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
        counter.fetch_add(1, Ordering::Relaxed);
        if !b.delay.is_zero() {
            tokio::time::sleep(b.delay).await;
        }
        let (status, body) = (b.handler)(&path);
        let reason = if status == 200 { "OK" } else { "Error" };
        let connection = if b.close_after_response {
            "Connection: close\r\n"
        } else {
            ""
        };
        let response = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nContent-Type: application/json\r\n{connection}\r\n{body}",
            body.len()
        );
        write_all(&stream, response.as_bytes()).await?;
        if b.close_after_response {
            return Ok(());
        }
    }
}

async fn read_some(stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        stream.readable().await?;
        match stream.try_read(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            other => return other,
        }
    }
}

async fn write_all(stream: &TcpStream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        stream.writable().await?;
        match stream.try_write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
