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
//!   Progress is recorded by an IO wrapper (`conn::Tracked`) and checked by a
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

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;

use crate::export::live::{Def, StatsCollector};
use crate::export::model::Kind;
use crate::export::names;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::conn::{Clock, Conn, Registry, Slot, Task, serve_connection};
use super::fdlimit;
use super::policy::{Throttle, next_accept_backoff};
use super::webconfig::WebConfigSource;
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
    pub(super) accepted: AtomicU64,
    pub(super) open: AtomicU64,
    pub(super) evicted: AtomicU64,
    pub(super) idle_closed: AtomicU64,
    pub(super) header_timeouts: AtomicU64,
    pub(super) accept_errors: AtomicU64,
    pub(super) dropped_at_shutdown: AtomicU64,
    pub(super) tls_handshake_failures: AtomicU64,
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
    /// TLS handshakes that failed or timed out (no or a rejected client
    /// certificate, a plain-HTTP client, a scanner).
    pub tls_handshake_failures: u64,
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
            tls_handshake_failures: get(&self.tls_handshake_failures),
        }
    }

    pub(super) fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
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

/// Serves `app` on `listener` (plain HTTP) until `shutdown`, then shuts
/// down within `limits.shutdown_timeout` and returns. Accept errors are
/// retried, never returned.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    stats: Arc<ServerStats>,
    shutdown: CancellationToken,
) -> io::Result<()> {
    serve_all(vec![listener], app, limits, stats, None, shutdown).await
}

/// What the accept loops of one server share: the connection cap (one
/// semaphore and one registry for every listener, so the cap and eviction
/// cover them all), the clock, ids and the shutdown tokens.
struct Shared {
    cap: u32,
    slots: Arc<Semaphore>,
    registry: Arc<Registry>,
    force: CancellationToken,
    clock: Clock,
    next_id: AtomicU64,
    app: Router,
    limits: Limits,
    stats: Arc<ServerStats>,
    tls: Option<Arc<WebConfigSource>>,
    shutdown: CancellationToken,
}

/// Serves `app` on every listener (one accept loop each, sharing the
/// connection cap) until `shutdown`, then shuts down within
/// `limits.shutdown_timeout` and returns. With `tls` (a web configuration
/// file that enables TLS) every connection starts with a TLS handshake
/// using the file's current certificate.
pub async fn serve_all(
    listeners: Vec<TcpListener>,
    app: Router,
    limits: Limits,
    stats: Arc<ServerStats>,
    tls: Option<Arc<WebConfigSource>>,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let cap = limits.max_connections.clamp(1, u32::MAX as usize) as u32;
    let shared = Arc::new(Shared {
        cap,
        slots: Arc::new(Semaphore::new(cap as usize)),
        registry: Arc::new(Registry::default()),
        force: CancellationToken::new(),
        clock: Clock(Instant::now()),
        next_id: AtomicU64::new(0),
        app,
        limits,
        stats,
        tls: tls.filter(|t| t.tls_enabled()),
        shutdown,
    });
    let loops: Vec<_> = listeners
        .into_iter()
        .map(|l| tokio::spawn(accept_loop(l, shared.clone())))
        .collect();
    for l in loops {
        let _ = l.await;
    }

    // The listeners are closed; the connections saw `shutdown` and finish.
    let open = shared.registry.lock().len();
    if open > 0 {
        tracing::debug!(
            open,
            "HTTP server stopping: waiting for open connections to finish"
        );
    }
    let drained =
        tokio::time::timeout(limits.shutdown_timeout, shared.slots.acquire_many(cap)).await;
    if drained.is_err() {
        let open = shared.registry.lock().len() as u64;
        shared
            .stats
            .dropped_at_shutdown
            .fetch_add(open, Ordering::Relaxed);
        tracing::info!(
            open,
            timeout = ?limits.shutdown_timeout,
            "HTTP server: dropping the connections still open at the shutdown deadline (web.shutdown_timeout)"
        );
        shared.force.cancel();
        let _ = shared.slots.acquire_many(cap).await;
    }
    Ok(())
}

/// One listener's accept loop, until shutdown (then the listener is closed).
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let (cap, slots, registry, stats, shutdown) = (
        shared.cap,
        &shared.slots,
        &shared.registry,
        &shared.stats,
        &shared.shutdown,
    );
    let mut backoff = None;
    let mut accept_log = Throttle::new(Duration::from_secs(1));
    let mut cap_log = Throttle::new(Duration::from_secs(10));

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
        // until one finishes or goes idle. At most cap + one per listener
        // sockets are open.
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
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let conn = Arc::new(Conn::new(
            id,
            shared.clock,
            shared.force.child_token(),
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
        let task = Task {
            app: shared.app.clone(),
            limits: shared.limits,
            tls: shared.tls.clone(),
            graceful: shutdown.clone(),
            stats: stats.clone(),
        };
        tokio::spawn(async move {
            let _slot = slot;
            serve_connection(stream, conn, task).await;
        });
    }
    drop(listener);
}

const STATS_DEFS: &[Def] = &[
    Def {
        name: names::HTTP_ACCEPTED,
        help: "HTTP connections accepted since the exporter started.",
        kind: Kind::Counter,
        labels: &[],
    },
    Def {
        name: names::HTTP_OPEN,
        help: "HTTP connections open now.",
        kind: Kind::Gauge,
        labels: &[],
    },
    Def {
        name: names::HTTP_EVICTED,
        help: "Idle HTTP connections closed to make room at the connection cap (web.max_connections).",
        kind: Kind::Counter,
        labels: &[],
    },
    Def {
        name: names::HTTP_IDLE_CLOSED,
        help: "HTTP connections closed after web.idle_timeout without progress.",
        kind: Kind::Counter,
        labels: &[],
    },
    Def {
        name: names::HTTP_HEADER_TIMEOUTS,
        help: "HTTP connections closed because the request headers did not arrive within web.header_read_timeout.",
        kind: Kind::Counter,
        labels: &[],
    },
    Def {
        name: names::HTTP_ACCEPT_ERRORS,
        help: "Failed accept calls (such as running out of file descriptors).",
        kind: Kind::Counter,
        labels: &[],
    },
    Def {
        name: names::HTTP_TLS_HANDSHAKE_FAILURES,
        help: "TLS handshakes that failed or timed out (no or a rejected client certificate, a plain-HTTP client, a scanner).",
        kind: Kind::Counter,
        labels: &[],
    },
];

/// The server's counters as live metrics (read at every scrape).
pub fn stats_collector(stats: Arc<ServerStats>) -> StatsCollector {
    StatsCollector::new(STATS_DEFS, move |defs, out| {
        let s = stats.snapshot();
        let values = [
            s.accepted,
            s.open,
            s.evicted,
            s.idle_closed,
            s.header_timeouts,
            s.accept_errors,
            s.tls_handshake_failures,
        ];
        for (i, v) in values.into_iter().enumerate() {
            out.add(defs, i, &[], v as f64);
        }
    })
}
