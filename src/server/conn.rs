//! One connection: the TLS handshake when the web configuration asks for
//! it, then hyper (HTTP/1.1, or HTTP/2 when ALPN chose it) serving the
//! router over a socket wrapper that records progress, a per-connection idle
//! watchdog, the marks that tell the eviction policy whether a connection is
//! busy, and the registry of open connections the accept loop evicts from.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::body::{Body as HttpBody, Bytes, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, OwnedSemaphorePermit};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::listener::{Limits, ServerStats};
use super::policy::{Candidate, pick_victim};
use super::webconfig::WebConfigSource;

/// Milliseconds since the server started (one clock for every connection).
#[derive(Debug, Clone, Copy)]
pub(super) struct Clock(pub(super) Instant);

impl Clock {
    fn now_ms(&self) -> u64 {
        self.0.elapsed().as_millis() as u64
    }

    fn at(&self, ms: u64) -> Instant {
        self.0 + Duration::from_millis(ms)
    }
}

/// One connection's state, shared by its task, its IO and the registry.
#[derive(Debug)]
pub(super) struct Conn {
    pub(super) id: u64,
    clock: Clock,
    /// Last byte read or written.
    last_progress_ms: AtomicU64,
    /// When it last became idle.
    idle_since_ms: AtomicU64,
    /// Requests whose response is not finished.
    in_flight: AtomicUsize,
    /// The last write found the socket full (a response waits for the client).
    write_blocked: AtomicBool,
    /// Cancelled to drop the connection at once (eviction, shutdown deadline).
    close: CancellationToken,
    /// Told when this connection goes idle (a waiting accept may evict it).
    went_idle: Arc<Notify>,
}

impl Conn {
    pub(super) fn new(
        id: u64,
        clock: Clock,
        close: CancellationToken,
        went_idle: Arc<Notify>,
    ) -> Self {
        let now = clock.now_ms();
        Self {
            id,
            clock,
            last_progress_ms: AtomicU64::new(now),
            idle_since_ms: AtomicU64::new(now),
            in_flight: AtomicUsize::new(0),
            write_blocked: AtomicBool::new(false),
            close,
            went_idle,
        }
    }

    fn progress(&self) {
        self.last_progress_ms
            .store(self.clock.now_ms(), Ordering::Relaxed);
    }

    fn candidate(&self) -> Candidate {
        Candidate {
            id: self.id,
            busy: self.in_flight.load(Ordering::Relaxed) > 0
                || self.write_blocked.load(Ordering::Relaxed),
            idle_since_ms: self.idle_since_ms.load(Ordering::Relaxed),
        }
    }

    fn became_idle(&self) {
        if self.in_flight.load(Ordering::Relaxed) == 0
            && !self.write_blocked.load(Ordering::Relaxed)
        {
            self.idle_since_ms
                .store(self.clock.now_ms(), Ordering::Relaxed);
            self.went_idle.notify_one();
        }
    }
}

/// The open connections, for eviction.
#[derive(Debug, Default)]
pub(super) struct Registry {
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    /// Notified when a connection goes idle.
    pub(super) went_idle: Arc<Notify>,
}

impl Registry {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Closes the longest-idle connection; `false` when all are busy.
    pub(super) fn evict_idlest(&self) -> bool {
        let conns = self.lock();
        let victim = pick_victim(
            conns
                .values()
                .filter(|c| !c.close.is_cancelled())
                .map(|c| c.candidate()),
        );
        match victim.and_then(|id| conns.get(&id)) {
            Some(c) => {
                c.close.cancel();
                true
            }
            None => false,
        }
    }
}

/// A connection's slot: removes it from the registry and frees its permit
/// when the connection's task ends (after the socket is closed).
pub(super) struct Slot {
    pub(super) id: u64,
    pub(super) registry: Arc<Registry>,
    pub(super) stats: Arc<ServerStats>,
    pub(super) _permit: OwnedSemaphorePermit,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
        self.stats.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The socket, recording progress (bytes moved) and write backpressure.
struct Tracked {
    inner: TcpStream,
    conn: Arc<Conn>,
}

impl Tracked {
    fn wrote(&self, r: &Poll<io::Result<usize>>) {
        match r {
            Poll::Ready(Ok(n)) => {
                if *n > 0 {
                    self.conn.progress();
                }
                if self.conn.write_blocked.swap(false, Ordering::Relaxed) {
                    self.conn.became_idle();
                }
            }
            Poll::Ready(Err(_)) => {}
            Poll::Pending => self.conn.write_blocked.store(true, Ordering::Relaxed),
        }
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.conn.progress();
        }
        r
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.wrote(&r);
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.wrote(&r);
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Marks a request in flight until its response body is dropped (hyper
/// drops it once the last frame is taken).
struct InFlight(Arc<Conn>);

impl InFlight {
    fn enter(conn: Arc<Conn>) -> Self {
        conn.in_flight.fetch_add(1, Ordering::Relaxed);
        Self(conn)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.0.became_idle();
        }
    }
}

/// A response body carrying its request's [`InFlight`] mark.
struct Guarded {
    inner: axum::body::Body,
    _in_flight: InFlight,
}

impl HttpBody for Guarded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// How a connection ended.
#[derive(Debug)]
enum Ended {
    Done,
    HeaderTimeout,
    Idle,
    Dropped,
    Error(Box<dyn std::error::Error + Send + Sync>),
}

/// The socket (or the TLS stream over it) as hyper sees it.
trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// What every connection of a server is served with.
pub(super) struct Task {
    pub(super) app: Router,
    pub(super) limits: Limits,
    /// The web configuration when it enables TLS.
    pub(super) tls: Option<Arc<WebConfigSource>>,
    /// Shutdown: finish the request in flight, then close.
    pub(super) graceful: CancellationToken,
    pub(super) stats: Arc<ServerStats>,
}

/// The TLS handshake (bounded by the header-read timeout, since the client
/// sends nothing else first); `None` when it failed, was cut short or the
/// connection was closed meanwhile.
async fn handshake(
    tracked: Tracked,
    source: &WebConfigSource,
    conn: &Conn,
    task: &Task,
) -> Option<(tokio_rustls::server::TlsStream<Tracked>, bool)> {
    let config = source.for_connection()?;
    let accept = tokio_rustls::TlsAcceptor::from(config).accept(tracked);
    let r = tokio::select! {
        r = tokio::time::timeout(task.limits.header_read_timeout, accept) => r,
        _ = conn.close.cancelled() => return None,
        _ = task.graceful.cancelled() => return None,
    };
    match r {
        Ok(Ok(stream)) => {
            let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
            Some((stream, h2))
        }
        Ok(Err(e)) => {
            ServerStats::inc(&task.stats.tls_handshake_failures);
            tracing::debug!(conn = conn.id, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            ServerStats::inc(&task.stats.tls_handshake_failures);
            tracing::debug!(
                conn = conn.id,
                "TLS handshake not finished within web.header_read_timeout"
            );
            None
        }
    }
}

pub(super) async fn serve_connection(stream: TcpStream, conn: Arc<Conn>, task: Task) {
    let tracked = Tracked {
        inner: stream,
        conn: conn.clone(),
    };
    let (io, h2): (Box<dyn Io>, bool) = match &task.tls {
        None => (Box::new(tracked), false),
        Some(source) => match handshake(tracked, source, &conn, &task).await {
            Some((tls, h2)) => (Box::new(tls), h2),
            None => return,
        },
    };
    let limits = task.limits;
    let svc_conn = conn.clone();
    let app = task.app.clone();
    let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let in_flight = InFlight::enter(svc_conn.clone());
        let app = app.clone();
        async move {
            let resp = match app.oneshot(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            Ok::<_, Infallible>(resp.map(|inner| Guarded {
                inner,
                _in_flight: in_flight,
            }))
        }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    // HTTP/2 only where ALPN chose it (TLS); HTTP/1.1 otherwise, without
    // sniffing the connection preface.
    let builder = if h2 {
        builder.http2_only()
    } else {
        builder.http1_only()
    };
    let http = builder.serve_connection(TokioIo::new(io), svc);
    let mut http = pin!(http);
    let watchdog = tokio::time::sleep(limits.idle_timeout);
    let mut watchdog = pin!(watchdog);
    let mut shutting_down = false;
    let ended = loop {
        tokio::select! {
            // The connection first: bytes already received are read (and a
            // started request seen as started) before a signal is acted on.
            biased;
            r = http.as_mut() => break match r {
                Ok(()) => Ended::Done,
                Err(e) if e
                    .downcast_ref::<hyper::Error>()
                    .is_some_and(|e| e.is_timeout()) => Ended::HeaderTimeout,
                Err(e) => Ended::Error(e),
            },
            _ = conn.close.cancelled() => break Ended::Dropped,
            _ = task.graceful.cancelled(), if !shutting_down => {
                shutting_down = true;
                http.as_mut().graceful_shutdown();
            }
            _ = &mut watchdog => {
                let last = conn.last_progress_ms.load(Ordering::Relaxed);
                let deadline = conn
                    .clock
                    .at(last)
                    .checked_add(limits.idle_timeout)
                    // Beyond the clock's range: check again in a day.
                    .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400));
                if deadline <= Instant::now() {
                    break Ended::Idle;
                }
                watchdog.as_mut().reset(deadline);
            }
        }
    };
    let stats = &task.stats;
    match ended {
        Ended::Done | Ended::Dropped => {}
        Ended::HeaderTimeout => {
            ServerStats::inc(&stats.header_timeouts);
            tracing::debug!(
                conn = conn.id,
                "closed a connection: no request headers within web.header_read_timeout"
            );
        }
        Ended::Idle => {
            ServerStats::inc(&stats.idle_closed);
            tracing::debug!(
                conn = conn.id,
                "closed a connection: nothing read or written for web.idle_timeout"
            );
        }
        Ended::Error(e) => tracing::debug!(conn = conn.id, error = %e, "connection ended"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_evicts_idle_connections_only() {
        let clock = Clock(Instant::now());
        let registry = Registry::default();
        let conn = |id| {
            Arc::new(Conn::new(
                id,
                clock,
                CancellationToken::new(),
                registry.went_idle.clone(),
            ))
        };
        let busy = conn(1);
        busy.in_flight.store(1, Ordering::Relaxed);
        let blocked = conn(2);
        blocked.write_blocked.store(true, Ordering::Relaxed);
        let idle = conn(3);
        for c in [&busy, &blocked, &idle] {
            registry.lock().insert(c.id, c.clone());
        }
        assert!(registry.evict_idlest());
        assert!(idle.close.is_cancelled());
        assert!(!busy.close.is_cancelled() && !blocked.close.is_cancelled());
        // The evicted one is not picked twice; the busy ones never.
        assert!(!registry.evict_idlest());
    }
}
