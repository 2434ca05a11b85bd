//! The gRPC channel's TCP stream, its writes gathered by a writer task
//! (in effect a user-space extension of the socket's send buffer).
//!
//! Why: h2 writes each DATA frame with a `writev` of its own and flushes
//! after it, and a Collector's gRPC server (grpc-go) takes frames of at
//! most 16 KiB. A 64 MB export was ~4,000 syscalls, each a TCP segment of
//! its own: kernel work per frame that made the gRPC output cost twice the
//! HTTP/protobuf one (whose body reqwest writes in large chunks) and put
//! it over its CPU target (bench/RESULTS.md, "OTLP gRPC"). h2 has no
//! setting to batch frames (its `FramedWrite` flushes before it takes the
//! next one), and turning `TCP_NODELAY` off did not help (measured).
//!
//! How: [`Coalesced`] accepts each write into a queue and returns at once;
//! a task spawned beside it ([`pump`]) writes all that has gathered with
//! one `writev`, so while one write is in the kernel the next frames queue
//! behind it. A flush returns once the bytes are queued: the pump writes
//! them without another call (flush's promise), and that is what lets h2
//! hand over its next frame. The queue is bounded ([`CAPACITY`]): a full
//! one makes writes wait for the pump, so a slow collector pushes back on
//! h2 as a full socket buffer would. Reads go straight to the socket. The
//! pump's I/O error is what the next call returns; once the stream is
//! dropped, the pump writes what is queued and shuts the write side.
//!
//! Without a copy: a message being sent is lent to the connection's
//! [`Bodies`]. A written slice that lies inside a lent body (h2 hands its
//! DATA payloads over as slices of the very `Bytes` it was given) is
//! queued as a reference-counted slice of that body; anything else (frame
//! headers, HEADERS and SETTINGS frames) is copied.
//!
//! Nothing here knows HTTP/2: it moves opaque bytes, in order.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Bytes queued before a write waits for the pump. Mostly references to a
/// lent body, so cheap to hold; measured (bench/RESULTS.md): 256 KiB cost
/// the gRPC output 54 ms of CPU per 64 MB export, 1 MiB 38-48, 4 MiB
/// 39-44, 16 MiB no less.
pub const CAPACITY: usize = 4 * 1024 * 1024;

/// Messages being sent, which a [`Coalesced`] stream may queue by
/// reference instead of copying (see the module docs). Shared by a client
/// and the connections it makes.
#[derive(Clone, Default)]
pub struct Bodies(Arc<Mutex<Vec<Bytes>>>);

impl Bodies {
    /// Lends `body` until the guard drops.
    pub fn lend(&self, body: Bytes) -> Lent<'_> {
        let mut v = self.0.lock().expect("bodies lock");
        v.push(body.clone());
        Lent { bodies: self, body }
    }

    /// `slice` as a slice of a lent body, when it lies inside one.
    fn find(&self, slice: &[u8]) -> Option<Bytes> {
        let (start, end) = (
            slice.as_ptr() as usize,
            slice.as_ptr() as usize + slice.len(),
        );
        let v = self.0.lock().expect("bodies lock");
        v.iter()
            .find(|b| {
                let at = b.as_ptr() as usize;
                at <= start && end <= at + b.len()
            })
            .map(|b| b.slice_ref(slice))
    }
}

/// A body lent to [`Bodies`]; returned when dropped.
pub struct Lent<'a> {
    bodies: &'a Bodies,
    body: Bytes,
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        let mut v = self.bodies.0.lock().expect("bodies lock");
        if let Some(i) = v.iter().position(|b| b.as_ptr() == self.body.as_ptr()) {
            v.swap_remove(i);
        }
    }
}

/// A TCP stream whose writes a pump task gathers (see the module docs).
pub struct Coalesced {
    read: OwnedReadHalf,
    shared: Arc<Shared>,
    bodies: Bodies,
}

struct Shared {
    state: Mutex<State>,
    /// Wakes the pump: bytes queued, or a shutdown.
    pump: Notify,
    /// Cancelled when the stream is dropped.
    dropped: CancellationToken,
}

#[derive(Default)]
struct State {
    /// Queued, not yet taken by the pump.
    queue: Queue,
    /// Copied bytes not yet in `queue` (they join it before the next
    /// borrowed slice, or when the pump takes the queue).
    copied: BytesMut,
    /// A writer waiting for room, or for the shutdown to finish.
    waiting: Option<Waker>,
    /// The pump's failure, which the next call returns.
    failed: Option<(io::ErrorKind, String)>,
    shutdown: bool,
    closed: bool,
}

impl State {
    fn failure(&self) -> Option<io::Error> {
        self.failed
            .as_ref()
            .map(|(kind, msg)| io::Error::new(*kind, msg.clone()))
    }

    fn queued(&self) -> usize {
        self.queue.len + self.copied.len()
    }

    fn seal_copied(&mut self) {
        if !self.copied.is_empty() {
            let b = self.copied.split().freeze();
            self.queue.push(b);
        }
    }

    fn wake_writer(&mut self) {
        if let Some(w) = self.waiting.take() {
            w.wake();
        }
    }
}

/// Byte chunks in order, as one [`Buf`] (so the pump's write is one
/// `writev` over many of them).
#[derive(Default)]
struct Queue {
    chunks: VecDeque<Bytes>,
    len: usize,
}

impl Queue {
    fn push(&mut self, b: Bytes) {
        self.len += b.len();
        self.chunks.push_back(b);
    }
}

impl Buf for Queue {
    fn remaining(&self) -> usize {
        self.len
    }

    fn chunk(&self) -> &[u8] {
        self.chunks.front().map_or(&[], |b| &b[..])
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [io::IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, b) in dst.iter_mut().zip(&self.chunks) {
            *slot = io::IoSlice::new(b);
            n += 1;
        }
        n
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(cnt <= self.len, "advance past the queue");
        self.len -= cnt;
        while cnt > 0 {
            let front = self.chunks.front_mut().expect("counted");
            if cnt < front.len() {
                front.advance(cnt);
                return;
            }
            cnt -= front.len();
            self.chunks.pop_front();
        }
    }
}

impl Coalesced {
    /// Splits `stream` and spawns its pump (needs a Tokio runtime).
    pub fn new(stream: TcpStream, bodies: Bodies) -> Self {
        let (read, write) = stream.into_split();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            pump: Notify::new(),
            dropped: CancellationToken::new(),
        });
        tokio::spawn(pump(shared.clone(), write));
        Self {
            read,
            shared,
            bodies,
        }
    }

    fn accept<'a>(
        &self,
        cx: &mut Context<'_>,
        bufs: impl Iterator<Item = &'a [u8]>,
    ) -> Poll<io::Result<usize>> {
        let mut s = self.shared.state.lock().expect("coalesce lock");
        if let Some(e) = s.failure() {
            return Poll::Ready(Err(e));
        }
        if s.shutdown || s.closed {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "write after shutdown",
            )));
        }
        let was_empty = s.queued() == 0;
        let room = CAPACITY.saturating_sub(s.queued());
        if room == 0 {
            s.waiting = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let mut n = 0;
        for b in bufs {
            let part = &b[..b.len().min(room - n)];
            if part.is_empty() {
                continue;
            }
            match self.bodies.find(part) {
                Some(lent) => {
                    s.seal_copied();
                    s.queue.push(lent);
                }
                None => s.copied.extend_from_slice(part),
            }
            n += part.len();
            if n == room {
                break;
            }
        }
        drop(s);
        // The pump takes the whole queue each time, so it needs a call
        // only when the queue was empty (a stored permit if it is busy).
        if was_empty && n > 0 {
            self.shared.pump.notify_one();
        }
        Poll::Ready(Ok(n))
    }
}

impl Drop for Coalesced {
    fn drop(&mut self) {
        self.shared.dropped.cancel();
    }
}

/// Writes what the stream queued, all that has gathered at a time. Once
/// the stream is dropped it makes one last attempt that does not wait
/// (so a GOAWAY goes out, and a collector that stopped reading cannot
/// keep the task and its socket alive) and ends.
async fn pump(shared: Arc<Shared>, mut write: OwnedWriteHalf) {
    let mut out = Queue::default();
    loop {
        let shutdown = {
            let mut s = shared.state.lock().expect("coalesce lock");
            s.seal_copied();
            std::mem::swap(&mut s.queue, &mut out);
            if out.len > 0 {
                // Room again: a writer that waited can queue behind this write.
                s.wake_writer();
            }
            s.shutdown
        };
        if out.len == 0 && shutdown {
            let r = write.shutdown().await;
            let mut s = shared.state.lock().expect("coalesce lock");
            if let Err(e) = r {
                s.failed.get_or_insert((e.kind(), e.to_string()));
            }
            s.closed = true;
            s.wake_writer();
            return;
        }
        let r = tokio::select! {
            biased;
            r = write_all(&write, &mut out), if out.len > 0 => r,
            _ = shared.pump.notified(), if out.len == 0 => continue,
            _ = shared.dropped.cancelled() => {
                let mut s = shared.state.lock().expect("coalesce lock");
                s.seal_copied();
                let rest = std::mem::take(&mut s.queue);
                drop(s);
                for b in rest.chunks {
                    out.push(b);
                }
                last_write(&write, &mut out);
                return;
            }
        };
        // Written (or failed): release the lent slices now.
        out.chunks.clear();
        out.len = 0;
        if let Err(e) = r {
            let mut s = shared.state.lock().expect("coalesce lock");
            s.failed = Some((e.kind(), e.to_string()));
            s.queue = Queue::default();
            s.copied.clear();
            s.closed = true;
            s.wake_writer();
            return;
        }
    }
}

/// Writes all of `out`, up to [`IOV_MAX`] slices a syscall (tokio's
/// `write_all_buf` stops at 64).
async fn write_all(write: &OwnedWriteHalf, out: &mut Queue) -> io::Result<()> {
    while out.has_remaining() {
        write.writable().await?;
        match try_write(write, out) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => out.advance(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One `writev` of `out`'s first [`IOV_MAX`] chunks, without waiting.
fn try_write(write: &OwnedWriteHalf, out: &Queue) -> io::Result<usize> {
    let mut slices = [io::IoSlice::new(&[]); IOV_MAX];
    let n = out.chunks_vectored(&mut slices);
    write.try_write_vectored(&slices[..n])
}

/// Slices per `writev` (Linux's `UIO_MAXIOV`).
const IOV_MAX: usize = 1024;

/// What the socket takes of `out` without waiting.
fn last_write(write: &OwnedWriteHalf, out: &mut Queue) {
    while out.has_remaining() {
        match try_write(write, out) {
            Ok(0) | Err(_) => return,
            Ok(n) => out.advance(n),
        }
    }
}

impl AsyncRead for Coalesced {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.read).poll_read(cx, buf)
    }
}

impl AsyncWrite for Coalesced {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.accept(cx, std::iter::once(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.accept(cx, bufs.iter().map(|b| &b[..]))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    /// Ready once the bytes are queued (the pump writes them without
    /// another call), or the pump's failure.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let s = self.shared.state.lock().expect("coalesce lock");
        Poll::Ready(s.failure().map_or(Ok(()), Err))
    }

    /// Ready once the pump has written everything and shut the write side.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut s = self.shared.state.lock().expect("coalesce lock");
        if s.closed {
            return Poll::Ready(s.failure().map_or(Ok(()), Err));
        }
        s.shutdown = true;
        s.waiting = Some(cx.waker().clone());
        drop(s);
        self.shared.pump.notify_one();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    /// A connected pair on loopback: our end coalesced, the peer plain.
    async fn pair(bodies: Bodies) -> (Coalesced, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (ours, theirs) = tokio::join!(TcpStream::connect(addr), l.accept());
        (Coalesced::new(ours.unwrap(), bodies), theirs.unwrap().0)
    }

    #[test]
    fn a_slice_inside_a_lent_body_is_found_by_reference() {
        let bodies = Bodies::default();
        let body = Bytes::from((0..=255u8).cycle().take(100_000).collect::<Vec<u8>>());
        let other = body.to_vec();
        {
            let _lent = bodies.lend(body.clone());
            let found = bodies.find(&body[1000..17_384]).expect("inside");
            assert_eq!(found.as_ptr(), body[1000..].as_ptr(), "the same memory");
            assert_eq!(found, body.slice(1000..17_384));
            // Equal bytes elsewhere, and a slice running past the end, are
            // not the body's.
            assert!(bodies.find(&other[1000..2000]).is_none());
            let past = &body[..];
            assert!(bodies.find(past).is_some());
            assert!(bodies.find(&past[99_000..]).is_some());
        }
        // Returned: no longer found.
        assert!(bodies.find(&body[1000..2000]).is_none());
        assert!(bodies.0.lock().unwrap().is_empty());
    }

    #[test]
    fn the_queue_is_one_buf_over_its_chunks() {
        let mut q = Queue::default();
        for b in [&b"ab"[..], b"", b"cde", b"f"] {
            q.push(Bytes::copy_from_slice(b));
        }
        assert_eq!(q.remaining(), 6);
        let mut slices = [io::IoSlice::new(&[]); 2];
        assert_eq!(q.chunks_vectored(&mut slices), 2);
        assert_eq!((&slices[0][..], &slices[1][..]), (&b"ab"[..], &b""[..]));
        q.advance(3);
        assert_eq!(q.chunk(), b"de");
        assert_eq!(q.copy_to_bytes(3), Bytes::from_static(b"def"));
        assert!(!q.has_remaining());
    }

    #[tokio::test]
    async fn bytes_arrive_in_order_copied_and_borrowed_alike_then_eof() {
        let bodies = Bodies::default();
        let (mut ours, mut theirs) = pair(bodies.clone()).await;
        let body = Bytes::from(
            (0..3_000_000u32)
                .map(|i| (i % 251) as u8)
                .collect::<Vec<_>>(),
        );
        let lent = bodies.lend(body.clone());
        let mut want = Vec::new();
        // As h2 writes: a 9-byte head (copied) and a 16 KiB payload
        // (borrowed) per frame, a flush after each.
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            theirs.read_to_end(&mut got).await.unwrap();
            got
        });
        for (i, chunk) in body.chunks(16_384).enumerate() {
            let head = [i as u8; 9];
            let bufs = [io::IoSlice::new(&head), io::IoSlice::new(chunk)];
            let n = ours.write_vectored(&bufs).await.unwrap();
            // Partly taken when the queue was nearly full: the rest as h2
            // would resend it.
            let frame = [&head[..], chunk].concat();
            ours.write_all(&frame[n..]).await.unwrap();
            ours.flush().await.unwrap();
            want.extend_from_slice(&head);
            want.extend_from_slice(chunk);
        }
        ours.shutdown().await.unwrap();
        drop(lent);
        let got = reader.await.unwrap();
        assert_eq!(got.len(), want.len());
        assert!(got == want, "the peer read other bytes");
        // Once written, nothing holds the body but us.
        assert!(body.is_unique());
    }

    #[tokio::test]
    async fn a_full_queue_makes_writes_wait() {
        // Current-thread runtime: the pump cannot run while this test
        // does not yield, so the queue fills to its bound and stops there.
        let (mut ours, _theirs) = pair(Bodies::default()).await;
        let chunk = vec![7u8; 64 * 1024];
        let mut queued = 0;
        let pending = poll_fn(|cx| {
            loop {
                match Pin::new(&mut ours).poll_write(cx, &chunk) {
                    Poll::Ready(Ok(n)) => queued += n,
                    Poll::Ready(Err(e)) => panic!("{e}"),
                    Poll::Pending => return Poll::Ready(true),
                }
                if queued > 4 * CAPACITY {
                    return Poll::Ready(false);
                }
            }
        })
        .await;
        assert!(pending, "writes never waited");
        assert_eq!(queued, CAPACITY);
    }

    #[tokio::test]
    async fn the_pumps_error_is_the_next_calls() {
        let (mut ours, theirs) = pair(Bodies::default()).await;
        // The peer resets the connection.
        theirs.set_zero_linger().unwrap();
        drop(theirs);
        let chunk = vec![1u8; 256 * 1024];
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        let err = loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no error after 10 s"
            );
            if let Err(e) = ours.write(&chunk).await {
                break e;
            }
            if let Err(e) = ours.flush().await {
                break e;
            }
            tokio::task::yield_now().await;
        };
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            ),
            "{err:?}"
        );
        // And it stays failed.
        assert!(ours.flush().await.is_err());
    }

    #[tokio::test]
    async fn dropped_the_stream_sends_what_it_queued_and_closes() {
        let (mut ours, mut theirs) = pair(Bodies::default()).await;
        ours.write_all(b"GOAWAY").await.unwrap();
        ours.flush().await.unwrap();
        drop(ours);
        let mut got = Vec::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            theirs.read_to_end(&mut got),
        )
        .await
        .expect("closed")
        .unwrap();
        assert_eq!(got, b"GOAWAY");
    }
}
