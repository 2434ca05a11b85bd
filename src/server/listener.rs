//! The HTTP server's own accept loop: an axum [`Router`] served over hyper's
//! HTTP/1.1 connections with limits that no client can outlast.
//!
//! - **Header-read timeout** (`web.header_read_timeout`, hyper's
//!   `header_read_timeout`): a client has this long to send a request's
//!   headers. In hyper 1.12 the timer starts whenever the connection starts
//!   reading a request head: at accept *and* right after each response
//!   (`proto/h1/conn.rs`, `State::idle` sets `notify_read` so the next
//!   `poll_read_head` arms the timer at once). So it also bounds the wait of
//!   a kept-alive connection for its next request: an idle kept-alive
//!   connection is closed after `min(header_read_timeout, idle_timeout)`,
//!   10 s by default. Scrapers simply reconnect (Prometheus' Go client
//!   retries a GET whose reused connection was closed).
//! - **Idle timeout** (`web.idle_timeout`): a connection that reads and
//!   writes nothing for this long is dropped, whatever its state: a client
//!   that stopped reading its response, a request body that never comes.
//!   Progress is recorded by an IO wrapper ([`Tracked`]) and checked by a
//!   per-connection watchdog.
//! - **Connection cap** (`web.max_connections`, bounded by the open-file
//!   limit, see [`super::fdlimit`]): at the cap, the connection idle longest
//!   (no request in flight, nothing waiting to be written) is closed to make
//!   room, so idle sockets can never lock a scraper out; only when every
//!   connection is busy does the loop wait for one to finish.
//! - **Accept errors** (`EMFILE`, `ENFILE`, `ECONNABORTED`, ...) are never
//!   fatal: the loop backs off 5 ms, doubling to 1 s (as Go's `net/http`
//!   does), logs at most one line a second, and on descriptor exhaustion
//!   also closes the longest-idle connection.
//! - **Shutdown**: the listener is closed, every connection is told to finish
//!   (idle ones close at once), and after `web.shutdown_timeout` the ones
//!   still open (a half-sent request, a stalled reader) are dropped; then
//!   [`serve`] returns.
//!
//! HTTP/2 is not offered: scrapers use HTTP/1.1 without TLS.

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
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::fdlimit;
use crate::config::WebConfig;

/// The server's limits (the `web` settings, the cap already bounded by the
/// open-file limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    /// Concurrent connections, at least 1.
    pub max_connections: usize,
    pub shutdown_timeout: Duration,
}

impl Limits {
    /// The `web` settings, with `max_connections` lowered to fit the current
    /// soft `RLIMIT_NOFILE` (logged when it is).
    pub fn from_config(web: &WebConfig) -> Self {
        let soft = fdlimit::nofile().map(|l| l.soft);
        let cap = fdlimit::connection_cap(web.max_connections, soft);
        if cap < web.max_connections {
            tracing::info!(
                configured = web.max_connections,
                cap,
                open_file_limit = soft,
                reserve = fdlimit::FD_RESERVE,
                "web.max_connections lowered to fit the open-file limit"
            );
        }
        Self {
            header_read_timeout: web.header_read_timeout,
            idle_timeout: web.idle_timeout,
            max_connections: cap,
            shutdown_timeout: web.shutdown_timeout,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        let web = WebConfig::default();
        Self {
            header_read_timeout: web.header_read_timeout,
            idle_timeout: web.idle_timeout,
            max_connections: web.max_connections,
            shutdown_timeout: web.shutdown_timeout,
        }
    }
}

/// What the server did, counted since it started (for tests and logs).
#[derive(Debug, Default)]
pub struct ServerStats {
    accepted: AtomicU64,
    open: AtomicU64,
    evicted: AtomicU64,
    idle_closed: AtomicU64,
    header_timeouts: AtomicU64,
    accept_errors: AtomicU64,
    dropped_at_shutdown: AtomicU64,
}

/// A copy of [`ServerStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStatsSnapshot {
    /// Connections accepted.
    pub accepted: u64,
    /// Connections open now.
    pub open: u64,
    /// Idle connections closed to make room at the cap.
    pub evicted: u64,
    /// Connections closed after `idle_timeout` without progress.
    pub idle_closed: u64,
    /// Connections closed because the request headers did not arrive in time.
    pub header_timeouts: u64,
    /// Failed `accept` calls.
    pub accept_errors: u64,
    /// Connections still open at the shutdown deadline, dropped.
    pub dropped_at_shutdown: u64,
}

impl ServerStats {
    pub fn snapshot(&self) -> ServerStatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ServerStatsSnapshot {
            accepted: get(&self.accepted),
            open: get(&self.open),
            evicted: get(&self.evicted),
            idle_closed: get(&self.idle_closed),
            header_timeouts: get(&self.header_timeouts),
            accept_errors: get(&self.accept_errors),
            dropped_at_shutdown: get(&self.dropped_at_shutdown),
        }
    }

    fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

// ------------------------------------------------------------ pure policy

/// First delay after a failed `accept`.
pub const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);
/// Longest delay between `accept` retries.
pub const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// The delay before the next `accept` after a failure: 5 ms, doubling to
/// 1 s (Go's `net/http` `Server.Serve`). `prev` is the previous delay of the
/// current run of failures (`None` after a success).
pub fn next_accept_backoff(prev: Option<Duration>) -> Duration {
    match prev {
        None => ACCEPT_BACKOFF_MIN,
        Some(d) => (d * 2).clamp(ACCEPT_BACKOFF_MIN, ACCEPT_BACKOFF_MAX),
    }
}

/// A connection as the eviction policy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub id: u64,
    /// A request in flight or a response still being written.
    pub busy: bool,
    /// When it last became idle (accepted, or its last response done), in
    /// the server clock's milliseconds.
    pub idle_since_ms: u64,
}

/// The connection to close to make room: the one idle longest; `None` when
/// every connection is busy.
pub fn pick_victim(conns: impl IntoIterator<Item = Candidate>) -> Option<u64> {
    conns
        .into_iter()
        .filter(|c| !c.busy)
        .min_by_key(|c| (c.idle_since_ms, c.id))
        .map(|c| c.id)
}

/// Lets a repeated log line through at most once per `every`, counting the
/// ones held back.
#[derive(Debug)]
pub struct Throttle {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(lines held back since the last one)` when a line may be logged now.
    pub fn ready(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < self.every => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

// ------------------------------------------------------------ connections

/// Milliseconds since the server started (one clock for every connection).
#[derive(Debug, Clone, Copy)]
struct Clock(Instant);

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
struct Conn {
    id: u64,
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
    fn new(id: u64, clock: Clock, close: CancellationToken, went_idle: Arc<Notify>) -> Self {
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
struct Registry {
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    /// Notified when a connection goes idle.
    went_idle: Arc<Notify>,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Closes the longest-idle connection; `false` when all are busy.
    fn evict_idlest(&self) -> bool {
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
struct Slot {
    id: u64,
    registry: Arc<Registry>,
    stats: Arc<ServerStats>,
    _permit: tokio::sync::OwnedSemaphorePermit,
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
    Error(hyper::Error),
}

async fn serve_connection(
    stream: TcpStream,
    conn: Arc<Conn>,
    app: Router,
    limits: Limits,
    graceful: CancellationToken,
    stats: Arc<ServerStats>,
) {
    let io = TokioIo::new(Tracked {
        inner: stream,
        conn: conn.clone(),
    });
    let svc_conn = conn.clone();
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
    let http = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true)
        .serve_connection(io, svc);
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
                Err(e) if e.is_timeout() => Ended::HeaderTimeout,
                Err(e) => Ended::Error(e),
            },
            _ = conn.close.cancelled() => break Ended::Dropped,
            _ = graceful.cancelled(), if !shutting_down => {
                shutting_down = true;
                http.as_mut().graceful_shutdown();
            }
            _ = &mut watchdog => {
                let last = conn.last_progress_ms.load(Ordering::Relaxed);
                let deadline = conn.clock.at(last) + limits.idle_timeout;
                if deadline <= Instant::now() {
                    break Ended::Idle;
                }
                watchdog.as_mut().reset(deadline);
            }
        }
    };
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

/// Whether an accept error means the process or system ran out of file
/// descriptors (closing a connection frees one).
fn out_of_descriptors(e: &io::Error) -> bool {
    #[cfg(unix)]
    {
        matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

/// Serves `app` on `listener` until `shutdown`, then shuts down within
/// `limits.shutdown_timeout` and returns. Accept errors are retried, never
/// returned.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    stats: Arc<ServerStats>,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let cap = limits.max_connections.clamp(1, u32::MAX as usize) as u32;
    let slots = Arc::new(Semaphore::new(cap as usize));
    let registry = Arc::new(Registry::default());
    let force = CancellationToken::new();
    let clock = Clock(Instant::now());
    let mut backoff = None;
    let mut accept_log = Throttle::new(Duration::from_secs(1));
    let mut cap_log = Throttle::new(Duration::from_secs(10));
    let mut next_id = 0u64;

    'accept: loop {
        let (stream, _peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(accepted) => {
                    backoff = None;
                    accepted
                }
                Err(e) => {
                    ServerStats::inc(&stats.accept_errors);
                    let delay = next_accept_backoff(backoff);
                    backoff = Some(delay);
                    let freed = out_of_descriptors(&e) && registry.evict_idlest();
                    if freed {
                        ServerStats::inc(&stats.evicted);
                    }
                    if let Some(suppressed) = accept_log.ready(Instant::now()) {
                        let hint = if out_of_descriptors(&e) {
                            "; out of file descriptors: raise the open-file limit (ulimit -n) or lower web.max_connections"
                        } else {
                            ""
                        };
                        tracing::warn!(
                            error = %e,
                            retry_in = ?delay,
                            suppressed,
                            "cannot accept a connection, retrying{hint}"
                        );
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => continue 'accept,
                        _ = shutdown.cancelled() => break 'accept,
                    }
                }
            },
            _ = shutdown.cancelled() => break 'accept,
        };
        // A slot for it: at the cap, the longest-idle connection makes room;
        // when all are busy, this one (and the backlog behind it) waits
        // until one finishes or goes idle. At most cap + 1 sockets are open.
        let permit = loop {
            if let Ok(p) = slots.clone().try_acquire_owned() {
                break p;
            }
            let evicted = registry.evict_idlest();
            if evicted {
                ServerStats::inc(&stats.evicted);
            }
            if let Some(suppressed) = cap_log.ready(Instant::now()) {
                if evicted {
                    tracing::info!(
                        cap,
                        suppressed,
                        "connection cap reached: closing the longest-idle connection to make room (web.max_connections)"
                    );
                } else {
                    tracing::warn!(
                        cap,
                        suppressed,
                        "connection cap reached and every connection is busy: a new connection waits (web.max_connections)"
                    );
                }
            }
            tokio::select! {
                p = slots.clone().acquire_owned() => break p.expect("the semaphore is never closed"),
                _ = registry.went_idle.notified(), if !evicted => continue,
                _ = shutdown.cancelled() => break 'accept,
            }
        };
        let _ = stream.set_nodelay(true);
        next_id += 1;
        let conn = Arc::new(Conn::new(
            next_id,
            clock,
            force.child_token(),
            registry.went_idle.clone(),
        ));
        registry.lock().insert(conn.id, conn.clone());
        ServerStats::inc(&stats.accepted);
        stats.open.fetch_add(1, Ordering::Relaxed);
        let slot = Slot {
            id: conn.id,
            registry: registry.clone(),
            stats: stats.clone(),
            _permit: permit,
        };
        let (app, graceful, task_stats) = (app.clone(), shutdown.clone(), stats.clone());
        tokio::spawn(async move {
            let _slot = slot;
            serve_connection(stream, conn, app, limits, graceful, task_stats).await;
        });
    }

    // Stop accepting; the connections saw `shutdown` and finish.
    drop(listener);
    let open = registry.lock().len();
    if open > 0 {
        tracing::debug!(
            open,
            "HTTP server stopping: waiting for open connections to finish"
        );
    }
    let drained = tokio::time::timeout(limits.shutdown_timeout, slots.acquire_many(cap)).await;
    if drained.is_err() {
        let open = registry.lock().len() as u64;
        stats.dropped_at_shutdown.fetch_add(open, Ordering::Relaxed);
        tracing::info!(
            open,
            timeout = ?limits.shutdown_timeout,
            "HTTP server: dropping the connections still open at the shutdown deadline (web.shutdown_timeout)"
        );
        force.cancel();
        let _ = slots.acquire_many(cap).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_backoff_doubles_from_5ms_to_1s() {
        let mut d = None;
        let mut seq = Vec::new();
        for _ in 0..10 {
            let next = next_accept_backoff(d);
            seq.push(next.as_millis());
            d = Some(next);
        }
        assert_eq!(seq, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        // A success resets the run.
        assert_eq!(next_accept_backoff(None), ACCEPT_BACKOFF_MIN);
    }

    #[test]
    fn eviction_takes_the_longest_idle_and_never_a_busy_one() {
        let c = |id, busy, idle_since_ms| Candidate {
            id,
            busy,
            idle_since_ms,
        };
        assert_eq!(
            pick_victim([c(1, true, 0), c(2, false, 50), c(3, false, 10)]),
            Some(3)
        );
        assert_eq!(pick_victim([c(1, true, 0), c(2, true, 5)]), None);
        assert_eq!(pick_victim([]), None);
        // Ties: the older connection.
        assert_eq!(pick_victim([c(9, false, 7), c(4, false, 7)]), Some(4));
    }

    #[test]
    fn throttle_lets_one_line_a_second_through_and_counts_the_rest() {
        let mut t = Throttle::new(Duration::from_secs(1));
        let start = Instant::now();
        assert_eq!(t.ready(start), Some(0));
        assert_eq!(t.ready(start + Duration::from_millis(10)), None);
        assert_eq!(t.ready(start + Duration::from_millis(999)), None);
        assert_eq!(t.ready(start + Duration::from_millis(1000)), Some(2));
        assert_eq!(t.ready(start + Duration::from_millis(1500)), None);
    }

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
