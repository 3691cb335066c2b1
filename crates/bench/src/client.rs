//! A minimal HTTP/1.1 keep-alive client connection on top of hyper's
//! connection API, which reopens itself after a failure.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::anyhow;
use bytes::Bytes;
use http::header::HOST;
use http::{HeaderValue, Request, Response, Uri};
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Pause after a failed (re)connect, so a dead server does not turn a
/// closed-loop worker into a busy loop.
const RECONNECT_BACKOFF: Duration = Duration::from_millis(10);

/// File descriptors the harness keeps free beyond one per connection.
pub(crate) const FD_HEADROOM: u64 = 64;

/// The soft limit on open files of this process (`ulimit -n`), read from
/// `/proc/self/limits`; `None` if unlimited or unknown (e.g. not Linux).
///
/// Each HTTP connection holds one descriptor; if the server runs in the same
/// process it holds another per connection. Raise the limit in the shell
/// before starting (`ulimit -n 65536`) when benchmarking with many
/// connections.
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let rest = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))?;
    rest.split_whitespace().next()?.parse().ok()
}

/// Fails early, with advice, when `connections` cannot fit under the
/// open-files limit.
pub(crate) fn check_fd_limit(connections: usize) -> anyhow::Result<()> {
    let needed = u64::try_from(connections)
        .unwrap_or(u64::MAX)
        .saturating_add(FD_HEADROOM);
    match open_files_limit() {
        Some(limit) if limit < needed => Err(anyhow!(
            "{connections} connections need about {needed} file descriptors but the open-files \
             limit is {limit}; raise it first, e.g. `ulimit -n 65536` (twice the connections if \
             the server runs in this process)"
        )),
        _ => Ok(()),
    }
}

/// Turns a connect error into one that says what to do about EMFILE/ENFILE.
fn connect_error(addr: SocketAddr, err: io::Error) -> anyhow::Error {
    // 24 = EMFILE, 23 = ENFILE on Linux and macOS.
    if matches!(err.raw_os_error(), Some(23 | 24)) {
        anyhow!(
            "cannot connect to {addr}: {err}; too many open files, raise the limit first, \
             e.g. `ulimit -n 65536`"
        )
    } else {
        anyhow::Error::new(err).context(format!("cannot connect to {addr}"))
    }
}

/// Opens one HTTP/1.1 connection and spawns the task that drives it.
pub(crate) async fn open(addr: SocketAddr) -> anyhow::Result<SendRequest<Empty<Bytes>>> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| connect_error(addr, e))?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // A connection error also fails the pending request, which is where
        // it gets counted; nothing more to do with it here.
        let _ = conn.await;
    });
    Ok(sender)
}

/// The `Host` header value for `addr`.
pub(crate) fn host_header(addr: SocketAddr) -> anyhow::Result<HeaderValue> {
    Ok(HeaderValue::from_str(&addr.to_string())?)
}

/// A GET request for `uri` (origin form) with a `Host` header.
pub(crate) fn get_request(uri: Uri, host: HeaderValue) -> Request<Empty<Bytes>> {
    let mut req = Request::new(Empty::new());
    *req.uri_mut() = uri;
    req.headers_mut().insert(HOST, host);
    req
}

/// One keep-alive connection to `addr`, reopened on demand after failures.
pub(crate) struct HttpConn {
    addr: SocketAddr,
    host: HeaderValue,
    sender: Option<SendRequest<Empty<Bytes>>>,
}

impl HttpConn {
    /// Opens the connection now (so the caller can open all connections
    /// before the clock starts).
    pub(crate) async fn connect(addr: SocketAddr) -> anyhow::Result<HttpConn> {
        Ok(HttpConn {
            addr,
            host: host_header(addr)?,
            sender: Some(open(addr).await?),
        })
    }

    /// Sends `GET uri`, reads and discards the whole body. `Err` on a
    /// transport error or a non-2xx status.
    ///
    /// A request that never left (the server had closed the idle connection)
    /// is retried once on a fresh connection without counting as an error.
    pub(crate) async fn get(&mut self, uri: &Uri) -> Result<(), String> {
        let mut retried = false;
        loop {
            let sender = match self.sender.as_mut() {
                Some(sender) => sender,
                None => match open(self.addr).await {
                    Ok(sender) => self.sender.insert(sender),
                    Err(e) => {
                        tokio::time::sleep(RECONNECT_BACKOFF).await;
                        return Err(format!("{e:#}"));
                    }
                },
            };
            if let Err(e) = sender.ready().await {
                self.sender = None;
                if retried {
                    return Err(format!("connection not ready: {e}"));
                }
                retried = true;
                continue;
            }
            let req = get_request(uri.clone(), self.host.clone());
            match sender.try_send_request(req).await {
                Ok(resp) => {
                    let result = read_response(resp).await;
                    if matches!(result, Err(Failure::Transport(_))) {
                        self.sender = None;
                    }
                    return result.map_err(|f| f.to_string());
                }
                Err(mut e) => {
                    self.sender = None;
                    if e.take_message().is_some() && !retried {
                        retried = true;
                        continue;
                    }
                    return Err(format!("request failed: {}", e.into_error()));
                }
            }
        }
    }
}

/// Why a request that got a response still failed.
enum Failure {
    /// The body could not be read; the connection is unusable.
    Transport(String),
    /// The server answered with a non-2xx status.
    Status(u16),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Transport(e) => write!(f, "reading body failed: {e}"),
            Failure::Status(status) => write!(f, "HTTP status {status}"),
        }
    }
}

/// Reads and discards the body, then judges the status.
async fn read_response(resp: Response<Incoming>) -> Result<(), Failure> {
    let status = resp.status();
    let mut body = resp.into_body();
    while let Some(frame) = body.frame().await {
        frame.map_err(|e| Failure::Transport(e.to_string()))?;
    }
    if status.is_success() {
        Ok(())
    } else {
        Err(Failure::Status(status.as_u16()))
    }
}
