//! The HTTP server cannot be held: header-read and idle timeouts, the
//! connection cap with eviction of idle connections, and the shutdown
//! deadline, over real sockets on 127.0.0.1.
//!
//! In-process tests serve a small router with `server::listener::serve` and
//! read the server's counters; the process tests run the real binary
//! (`serve --demo`) where the process boundary matters: its open-file limit
//! (set with `setrlimit` before `exec`) and SIGTERM.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use asc_perf_exporter::server::listener::{self, Limits, ServerStats, ServerStatsSnapshot};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bytes::Bytes;
use tokio_util::sync::CancellationToken;

const BIN: &str = env!("CARGO_BIN_EXE_asc-perf-exporter");

/// A deadline for things that must happen (generous: slow shared machines).
const MUST: Duration = Duration::from_secs(20);

// ------------------------------------------------------------ in-process

/// 64 MiB in 64 KiB chunks: far more than loopback socket buffers hold, so
/// a client that stops reading leaves the response in flight.
const BIG: usize = 64 << 20;

fn app() -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/big",
            get(|| async {
                let chunk = Bytes::from(vec![b'x'; 64 << 10]);
                let chunks =
                    (0..BIG / chunk.len()).map(move |_| Ok::<_, std::io::Error>(chunk.clone()));
                Body::from_stream(futures::stream::iter(chunks))
            }),
        )
}

struct Server {
    addr: SocketAddr,
    stats: Arc<ServerStats>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(limits: Limits) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stats = Arc::new(ServerStats::default());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(listener::serve(
            listener,
            app(),
            limits,
            stats.clone(),
            shutdown.clone(),
        ));
        Server {
            addr,
            stats,
            shutdown,
            task,
        }
    }

    fn stats(&self) -> ServerStatsSnapshot {
        self.stats.snapshot()
    }

    /// Polls the counters until `done` holds.
    async fn wait_for(&self, what: &str, done: impl Fn(&ServerStatsSnapshot) -> bool) {
        let deadline = Instant::now() + MUST;
        while !done(&self.stats()) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {:?}",
                self.stats()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn limits(header: u64, idle: u64, cap: usize, shutdown: u64) -> Limits {
    Limits {
        header_read_timeout: Duration::from_millis(header),
        idle_timeout: Duration::from_millis(idle),
        max_connections: cap,
        shutdown_timeout: Duration::from_millis(shutdown),
    }
}

/// A raw client connection (blocking std socket, used from `spawn_blocking`
/// or briefly on the test thread).
fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(MUST)).unwrap();
    s
}

/// Reads until the server closes the connection (EOF or reset); returns the
/// bytes read. Panics if it stays open past [`MUST`].
fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 64 << 10];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return out,
            Err(e) => panic!("the server did not close the connection: {e}"),
        }
    }
}

/// Reads one complete `/healthz` response from a kept-alive connection.
fn read_health_response(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&got).ends_with("ok\n") {
        let n = s.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "closed before the response: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_kept_alive_connection_is_closed_by_the_idle_timeout() {
    let srv = Server::start(limits(60_000, 300, 16, 5_000)).await;
    let addr = srv.addr;
    let resp = blocking(move || {
        let mut s = connect(addr);
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let resp = read_health_response(&mut s);
        // Kept alive: nothing more comes, then the server closes it.
        assert!(read_to_close(&mut s).is_empty());
        resp
    })
    .await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    srv.wait_for("the idle close to be counted", |s| {
        s.idle_closed == 1 && s.open == 0
    })
    .await;
    assert_eq!(srv.stats().header_timeouts, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_header_timeout_also_bounds_a_kept_alive_wait() {
    // hyper 1.12 arms the header timer right after each response.
    let srv = Server::start(limits(300, 60_000, 16, 5_000)).await;
    let addr = srv.addr;
    blocking(move || {
        let mut s = connect(addr);
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        read_health_response(&mut s);
        assert!(read_to_close(&mut s).is_empty());
    })
    .await;
    srv.wait_for("the header timeout", |s| {
        s.header_timeouts == 1 && s.open == 0
    })
    .await;
    assert_eq!(srv.stats().idle_closed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_request_head_is_cut_at_the_header_timeout() {
    let srv = Server::start(limits(500, 60_000, 16, 5_000)).await;
    let addr = srv.addr;
    let got = blocking(move || {
        let mut s = connect(addr);
        // A byte every 50 ms keeps the connection "active", but the head
        // never completes in time.
        let start = Instant::now();
        for b in b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: "
            .iter()
            .cycle()
        {
            if s.write_all(&[*b]).is_err() || start.elapsed() > MUST {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        read_to_close(&mut s)
    })
    .await;
    assert!(got.is_empty(), "{:?}", String::from_utf8_lossy(&got));
    srv.wait_for("the header timeout", |s| s.header_timeouts == 1)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped_after_the_idle_timeout() {
    let srv = Server::start(limits(60_000, 500, 16, 5_000)).await;
    let addr = srv.addr;
    let mut s = connect(addr);
    s.write_all(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    // Never read: the server's writes block, no progress, then the drop.
    srv.wait_for("the stalled reader to be dropped", |s| {
        s.idle_closed == 1 && s.open == 0
    })
    .await;
    let got = blocking(move || read_to_close(&mut s)).await;
    assert!(
        got.len() < BIG,
        "the whole body arrived ({} bytes): the connection was not cut",
        got.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_at_the_cap_make_room_for_a_scraper() {
    let srv = Server::start(limits(60_000, 60_000, 4, 5_000)).await;
    // Four sockets that never send a byte fill the cap.
    let mut idle: Vec<TcpStream> = (0..4).map(|_| connect(srv.addr)).collect();
    srv.wait_for("four accepted connections", |s| s.accepted == 4)
        .await;
    let body = reqwest::get(format!("http://{}/healthz", srv.addr))
        .await
        .expect("a scrape gets in although idle sockets fill the cap")
        .text()
        .await
        .unwrap();
    assert_eq!(body, "ok\n");
    let st = srv.stats();
    assert!(st.evicted >= 1, "{st:?}");
    assert!(st.open <= 4, "{st:?}");
    // The oldest idle one went first.
    let first = idle.remove(0);
    blocking(move || {
        let mut first = first;
        assert!(read_to_close(&mut first).is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_connection_is_busy_a_new_one_waits_and_nothing_busy_is_evicted() {
    let srv = Server::start(limits(60_000, 1_000, 2, 5_000)).await;
    // Two clients read the start of a big response, then stop: both busy.
    let mut busy = Vec::new();
    for _ in 0..2 {
        let mut s = connect(srv.addr);
        s.write_all(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let mut first = [0u8; 12];
        s.read_exact(&mut first).unwrap();
        assert_eq!(&first, b"HTTP/1.1 200");
        busy.push(s);
    }
    // A third waits for a slot; it gets one when the stalled two time out.
    let body = reqwest::Client::new()
        .get(format!("http://{}/healthz", srv.addr))
        .timeout(MUST)
        .send()
        .await
        .expect("the waiting connection is served once a slot frees")
        .text()
        .await
        .unwrap();
    assert_eq!(body, "ok\n");
    let st = srv.stats();
    assert_eq!(st.evicted, 0, "a busy connection was evicted: {st:?}");
    // The slot came from a stalled connection timing out.
    assert!(st.idle_closed >= 1, "{st:?}");
    drop(busy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drops_a_half_sent_request_at_the_deadline() {
    let srv = Server::start(limits(60_000, 60_000, 16, 300)).await;
    let mut half = connect(srv.addr);
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        .unwrap();
    srv.wait_for("the connection", |s| s.accepted == 1).await;
    // Let the server read the half request (a connection that has sent
    // nothing is closed at once, which is not what this test is about).
    tokio::time::sleep(Duration::from_millis(300)).await;
    srv.shutdown.cancel();
    tokio::time::timeout(MUST, srv.task)
        .await
        .expect("serve returns after the shutdown deadline")
        .unwrap()
        .unwrap();
    let st = srv.stats.snapshot();
    assert_eq!(st.dropped_at_shutdown, 1, "{st:?}");
    assert_eq!(st.open, 0, "{st:?}");
    assert!(blocking(move || read_to_close(&mut half)).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_idle_connections_at_once_and_lets_a_response_finish() {
    // A deadline far beyond MUST: returning in time proves nothing waited for it.
    let srv = Server::start(limits(120_000, 120_000, 16, 120_000)).await;
    let mut kept = connect(srv.addr);
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut kept = blocking(move || {
        read_health_response(&mut kept);
        kept
    })
    .await;
    let _silent = connect(srv.addr);
    srv.wait_for("two connections", |s| s.accepted == 2).await;
    srv.shutdown.cancel();
    tokio::time::timeout(MUST, srv.task)
        .await
        .expect("serve returns without waiting for the deadline")
        .unwrap()
        .unwrap();
    assert_eq!(srv.stats.snapshot().dropped_at_shutdown, 0);
    assert!(blocking(move || read_to_close(&mut kept)).await.is_empty());
}

// ------------------------------------------------------------ the binary

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The exporter in demo mode on a free port, killed on drop.
struct Exporter {
    child: Child,
    addr: SocketAddr,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Exporter {
    /// `nofile`: soft and hard `RLIMIT_NOFILE` of the child.
    fn spawn(env: &[(&str, &str)], nofile: Option<u64>) -> Exporter {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("exporter.log");
        let out = std::fs::File::create(&log).unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--demo", "--listen", &addr.to_string()])
            .env_remove("RUST_LOG")
            .env("ASC_EXPORTER_LOG_LEVEL", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out));
        if let Some(n) = nofile {
            // SAFETY: only async-signal-safe calls between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    let rl = libc::rlimit {
                        rlim_cur: n as libc::rlim_t,
                        rlim_max: n as libc::rlim_t,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &rl) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let child = cmd.spawn().expect("the exporter binary starts");
        let mut e = Exporter {
            child,
            addr,
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = e.child.try_wait().unwrap() {
                panic!("the exporter exited ({status}):\n{}", e.log());
            }
            if http_get(addr, "/healthz").is_some_and(|(status, _)| status == 200) {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "the exporter never listened:\n{}",
                e.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn pid(&self) -> libc::pid_t {
        self.child.id() as libc::pid_t
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blocking GET with `Connection: close`: `(status, body)`, `None` when
/// the request fails.
fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    s.set_read_timeout(Some(MUST)).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body)?;
    }
    Some((status, body))
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = b.windows(2).position(|w| w == b"\r\n")?;
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..line_end]).ok()?.trim(), 16).ok()?;
        b = &b[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

#[test]
fn three_hundred_idle_connections_with_256_descriptors_do_not_take_metrics_down() {
    let exp = Exporter::spawn(&[("ASC_EXPORTER_WEB_HEADER_READ_TIMEOUT", "3s")], Some(256));
    let log = exp.log();
    assert!(
        log.contains("web.max_connections lowered to fit the open-file limit")
            && log.contains("cap=192"),
        "the cap follows RLIMIT_NOFILE=256:\n{log}"
    );

    // The flood: 300 connections that never send a byte.
    let flood: Vec<TcpStream> = (0..300)
        .map(|i| {
            TcpStream::connect(exp.addr)
                .unwrap_or_else(|e| panic!("connection {i} of the flood: {e}\n{}", exp.log()))
        })
        .collect();

    // A scrape during the flood gets in (an idle socket makes room) and is complete.
    let (status, body) = http_get(exp.addr, "/metrics")
        .unwrap_or_else(|| panic!("/metrics failed during the flood:\n{}", exp.log()));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.ends_with('\n') && text.contains("asc_exporter_build_info"),
        "{text}"
    );

    // Every idle socket is closed: evicted, or by the 3 s header timeout.
    let started = Instant::now();
    let handles: Vec<_> = flood
        .into_iter()
        .map(|mut s| {
            std::thread::spawn(move || {
                s.set_read_timeout(Some(MUST)).unwrap();
                read_to_close(&mut s).len()
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().expect("every idle connection is closed"), 0);
    }
    assert!(started.elapsed() < MUST);

    // Still serving, and it never ran out of descriptors.
    assert_eq!(http_get(exp.addr, "/metrics").map(|r| r.0), Some(200));
    let log = exp.log();
    assert!(!log.contains("Too many open files"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn a_half_sent_request_does_not_hold_sigterm() {
    let exp = Exporter::spawn(
        &[
            ("ASC_EXPORTER_WEB_SHUTDOWN_TIMEOUT", "1s"),
            ("ASC_EXPORTER_WEB_HEADER_READ_TIMEOUT", "5m"),
            ("ASC_EXPORTER_WEB_IDLE_TIMEOUT", "5m"),
        ],
        None,
    );
    let mut half = TcpStream::connect(exp.addr).unwrap();
    half.write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\nAccept: ")
        .unwrap();
    // Let the server accept the connection and read the half request (one
    // that has sent nothing is closed at once, not what this test is about).
    std::thread::sleep(Duration::from_millis(500));

    let mut exp = exp;
    let sent = Instant::now();
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(exp.pid(), libc::SIGTERM) }, 0);
    let deadline = sent + Duration::from_secs(1) + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = exp.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "SIGTERM waited for the half-sent request past the 1 s shutdown deadline (+10 s margin):\n{}",
            exp.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}:\n{}", exp.log());
    half.set_read_timeout(Some(MUST)).unwrap();
    assert!(read_to_close(&mut half).is_empty());
    let log = exp.log();
    assert!(
        log.contains("dropping the connections still open at the shutdown deadline"),
        "{log}"
    );
}
