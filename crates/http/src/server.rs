//! The accept loop: HTTP/1.1 connections served by hyper with a cap on
//! open connections, a header-read timeout, a keep-alive idle timeout and
//! graceful shutdown. Handlers see the peer as `ConnectInfo<SocketAddr>`.
//!
//! * **The cap.** A connection takes a slot before it is accepted; over
//!   `max_connections` the loop stops accepting, so new connections wait in
//!   the kernel's listen backlog (they are not refused) until a slot frees.
//! * **Timeouts.** While a connection waits for its next request, it may
//!   send nothing for `idle_timeout`; once the first byte of a request
//!   arrives, the whole head (request line and headers) must follow within
//!   `header_read_timeout`. Either way the connection is closed, which
//!   frees its slot. Hyper starts its header timer whenever it waits for a
//!   head, idle or not, so [`HeadClock`] (the connection's timer) tells the
//!   two phases apart by watching the bytes read ([`Watched`]).
//! * **Metrics.** `http_connections_open` (gauge), `http_connections_at_cap_total`
//!   (times the loop waited for a slot) and `http_connection_timeouts_total`
//!   (connections closed by either timeout).
//! * **Shutdown.** When `shutdown` resolves the loop stops accepting, idle
//!   connections close, and requests in flight finish before `serve` returns.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tower::Service;

/// Limits on connections.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Connections open at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// From the first byte of a request to the end of its headers.
    pub header_read_timeout: Duration,
    /// How long a connection may wait, silent, for its next request.
    pub idle_timeout: Duration,
    /// Hyper's read buffer: a request head larger than this is answered
    /// 431 by hyper itself, with an empty body. Keep it above the limits
    /// the application enforces (see `HttpConfig`) so that they answer first.
    pub max_buf_bytes: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 10_000,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_buf_bytes: 400 * 1024,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets
/// in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut h1 = http1::Builder::new();
    h1.header_read_timeout(limits.header_read_timeout)
        // hyper refuses less than 8 KiB.
        .max_buf_size(limits.max_buf_bytes.max(8192));
    tokio::pin!(shutdown);
    let mut was_full = false;
    loop {
        // A slot first, then accept: over the cap, clients wait in the backlog.
        let full = slots.available_permits() == 0;
        if full {
            metrics::counter!("http_connections_at_cap_total").increment(1);
            if !was_full {
                tracing::warn!(
                    max = limits.max_connections,
                    "connection cap reached: new connections wait"
                );
            }
        }
        was_full = full;
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of file descriptors, most likely: wait rather than spin.
                    tracing::error!(error = %e, "accepting a connection failed");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        () = &mut shutdown => break,
                    }
                }
            },
            () = &mut shutdown => break,
        };
        spawn_connection(&h1, &graceful, &app, limits, (stream, peer), permit);
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Serves one accepted connection on a task of its own, holding its slot
/// until it closes.
fn spawn_connection(
    h1: &http1::Builder,
    graceful: &GracefulShutdown,
    app: &Router,
    limits: ConnectionLimits,
    (stream, peer): (tokio::net::TcpStream, std::net::SocketAddr),
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let clock = Arc::new(HeadClock::new(limits));
    let io = TokioIo::new(Watched {
        inner: stream,
        clock: clock.clone(),
    });
    let app = app.clone();
    let service = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        app.clone().call(req.map(Body::new))
    });
    let conn = h1
        .clone()
        .timer(ConnTimer(clock))
        .serve_connection(io, service);
    let conn = graceful.watch(conn);
    tokio::spawn(async move {
        let open = metrics::gauge!("http_connections_open");
        open.increment(1.0);
        if let Err(e) = conn.await {
            if e.is_timeout() {
                metrics::counter!("http_connection_timeouts_total").increment(1);
            }
            // Timeouts and clients that go away are routine.
            tracing::debug!(%peer, error = %e, "connection closed with an error");
        }
        open.decrement(1.0);
        drop(permit);
    });
}

/// Errors of one connection that leave the listener fine.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// One connection's timer for hyper's header-read timeout. Hyper asks for
/// a sleep each time it starts waiting for a request head (on a new
/// connection and after each response); that sleep ends `idle_timeout`
/// after the wait began, or `header_read_timeout` after the head's first
/// byte arrived once one has.
struct HeadClock {
    header: Duration,
    idle: Duration,
    state: Mutex<Wait>,
}

#[derive(Default)]
struct Wait {
    /// When hyper started waiting for a head; none while it is not.
    since: Option<Instant>,
    /// When the head's first byte arrived.
    first_byte: Option<Instant>,
}

impl HeadClock {
    fn new(limits: ConnectionLimits) -> HeadClock {
        HeadClock {
            header: limits.header_read_timeout,
            idle: limits.idle_timeout,
            state: Mutex::new(Wait::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Wait> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn deadline(&self) -> Instant {
        let wait = self.lock();
        match (wait.first_byte, wait.since) {
            (Some(first), _) => first + self.header,
            (None, Some(since)) => since + self.idle,
            (None, None) => Instant::now() + self.idle,
        }
    }

    /// Bytes were read from the client.
    fn saw_bytes(&self) {
        let mut wait = self.lock();
        if wait.since.is_some() && wait.first_byte.is_none() {
            wait.first_byte = Some(Instant::now());
        }
    }
}

/// Hyper's timer for one connection.
struct ConnTimer(Arc<HeadClock>);

impl hyper::rt::Timer for ConnTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(PlainSleep(Box::pin(tokio::time::sleep(duration))))
    }

    fn sleep_until(&self, _deadline: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        // Only the header-read timeout asks for a deadline on a server
        // connection: a new wait for a head starts now.
        *self.0.lock() = Wait {
            since: Some(Instant::now()),
            first_byte: None,
        };
        let deadline = self.0.deadline();
        Box::pin(HeadSleep {
            clock: self.0.clone(),
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
        })
    }
}

/// Ends at the clock's deadline, which moves once the head's first byte
/// arrives (hyper polls it after each read).
struct HeadSleep {
    clock: Arc<HeadClock>,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl Future for HeadSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = self.clock.deadline();
        if self.sleep.deadline() != deadline {
            self.sleep.as_mut().reset(deadline);
        }
        self.sleep.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for HeadSleep {}

impl Drop for HeadSleep {
    fn drop(&mut self) {
        // The head has arrived (or the connection is done): not waiting.
        *self.clock.lock() = Wait::default();
    }
}

struct PlainSleep(Pin<Box<tokio::time::Sleep>>);

impl Future for PlainSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for PlainSleep {}

/// The client's socket, telling the clock when bytes arrive.
struct Watched {
    inner: TcpStream,
    clock: Arc<HeadClock>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.clock.saw_bytes();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_silent_wait_gets_the_idle_timeout_and_a_started_head_the_header_timeout() {
        let clock = Arc::new(HeadClock::new(ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(600),
            ..ConnectionLimits::default()
        }));
        let start = Instant::now();
        let timer = ConnTimer(clock.clone());
        let sleep = hyper::rt::Timer::sleep_until(&timer, std::time::Instant::now());
        let silent = clock.deadline();
        assert!(silent >= start + Duration::from_secs(600));
        clock.saw_bytes();
        let started = clock.deadline();
        assert!(started <= Instant::now() + Duration::from_secs(10));
        assert!(started < silent);
        drop(sleep);
        // Bytes outside a wait (a request's body) move nothing.
        clock.saw_bytes();
        assert!(clock.lock().first_byte.is_none());
    }
}
