//! A gzip member that can take more data before its end without compressing
//! again what it already holds.
//!
//! The exposition is compressed once per refresh, but every scrape adds a
//! small part read at scrape time (the process metrics, and for OpenMetrics
//! the `# EOF` after them). Appending a second gzip member would be valid
//! gzip (RFC 1952 §2.2, multi-member) but some clients read only the first
//! member, so instead the member is laid out as pigz lays out its blocks:
//!
//! ```text
//! header | deflate(body), sync-flushed: byte-aligned, no final block | deflate(tail), final block | CRC-32 | ISIZE
//! \_____________ prefix (cached, shared by every scrape) ___________/
//! ```
//!
//! A scrape sends the cached prefix unchanged, then `insert ++ tail`
//! compressed by a fresh deflate stream ending in a final block (a deflate
//! stream may start a new block at any byte boundary, and the fresh stream
//! never refers back to data before it), then the CRC-32 and length of
//! `body ++ insert ++ tail`, continued from the body's CRC without reading
//! the body again. The result is one ordinary gzip member for every reader.
//!
//! Only the framing (the 10-byte header and the 8-byte trailer of RFC 1952
//! §2.3) is written here; the deflate blocks come from flate2 (`Compress`
//! with sync and finish flushes) and the CRC from crc32fast.

use bytes::Bytes;
use flate2::{Compress, Compression, FlushCompress, Status};

/// ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=255 (unknown).
const HEADER: [u8; 10] = [0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff];

/// Where a member built by [`member`] can be continued.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resume {
    /// Length of the prefix: the header and the body's sync-flushed blocks.
    prefix: usize,
    /// CRC-32 of the body.
    crc: u32,
    /// Length of the body.
    len: u64,
}

/// A gzip member of `body ++ tail` (`body` given in parts, compressed as
/// one stream), and where `insert` can be put between them later
/// ([`continue_with`]). `None` only if deflate fails, which an in-memory
/// stream cannot.
pub fn member(body: &[&[u8]], tail: &[u8], level: Compression) -> Option<(Vec<u8>, Resume)> {
    let len: usize = body.iter().map(|p| p.len()).sum();
    let mut out = Vec::with_capacity(len / 8 + 64);
    out.extend_from_slice(&HEADER);
    let mut z = Compress::new(level, false);
    let mut crc = crc32fast::Hasher::new();
    for part in body {
        deflate(&mut z, part, FlushCompress::None, &mut out)?;
        crc.update(part);
    }
    deflate(&mut z, &[], FlushCompress::Sync, &mut out)?;
    let resume = Resume {
        prefix: out.len(),
        crc: crc.finalize(),
        len: len as u64,
    };
    let end = end(&resume, &[], tail, level)?;
    out.extend_from_slice(&end);
    // Cached for a whole refresh: no spare capacity kept alive with it.
    out.shrink_to_fit();
    Some((out, resume))
}

/// The member of `body ++ insert ++ tail`, as two buffers to send one after
/// the other: the cached prefix of `cached` (shared, not copied) and its new
/// end. `cached` and `resume` come from [`member`].
pub fn continue_with(
    cached: &Bytes,
    resume: &Resume,
    insert: &[u8],
    tail: &[u8],
    level: Compression,
) -> Option<(Bytes, Bytes)> {
    if resume.prefix < HEADER.len() || resume.prefix > cached.len() {
        return None;
    }
    let end = end(resume, insert, tail, level)?;
    Some((cached.slice(..resume.prefix), Bytes::from(end)))
}

/// One piece of a member: `data` compressed by a fresh deflate stream (it
/// refers to nothing before it), sync-flushed (byte-aligned, no final
/// block), with the CRC-32 of `data`. Segments put one after the other form
/// one deflate stream, so the same segment can appear in several members:
/// the text format and OpenMetrics share their sample lines compressed once.
#[derive(Debug, Clone)]
pub struct Segment {
    deflate: Vec<u8>,
    crc: crc32fast::Hasher,
    len: u64,
}

impl Segment {
    /// Compresses `data` with `z`, which is reset first (a worker reuses one
    /// stream's memory for all its segments).
    pub fn compress(z: &mut Compress, data: &[u8]) -> Option<Segment> {
        z.reset();
        let mut out = Vec::with_capacity(data.len() / 8 + 64);
        deflate(z, data, FlushCompress::None, &mut out)?;
        deflate(z, &[], FlushCompress::Sync, &mut out)?;
        let mut crc = crc32fast::Hasher::new();
        crc.update(data);
        out.shrink_to_fit();
        Some(Segment {
            deflate: out,
            crc,
            len: data.len() as u64,
        })
    }

    /// Compressed length.
    pub fn len(&self) -> usize {
        self.deflate.len()
    }

    /// Whether the segment holds nothing.
    pub fn is_empty(&self) -> bool {
        self.deflate.is_empty()
    }
}

/// A gzip member of the segments' data followed by `tail`, laid out as
/// [`member`] lays it out (so [`continue_with`] can continue it).
pub fn member_of_segments(
    segments: &[&Segment],
    tail: &[u8],
    level: Compression,
) -> Option<(Vec<u8>, Resume)> {
    let size: usize = segments.iter().map(|s| s.deflate.len()).sum();
    let mut out = Vec::with_capacity(HEADER.len() + size + tail.len() + 64);
    out.extend_from_slice(&HEADER);
    let mut crc = crc32fast::Hasher::new();
    let mut len = 0;
    for s in segments {
        out.extend_from_slice(&s.deflate);
        crc.combine(&s.crc);
        len += s.len;
    }
    let resume = Resume {
        prefix: out.len(),
        crc: crc.finalize(),
        len,
    };
    let end = end(&resume, &[], tail, level)?;
    out.extend_from_slice(&end);
    out.shrink_to_fit();
    Some((out, resume))
}

/// `insert ++ tail` in a fresh deflate stream ending in a final block, then
/// the trailer for `body ++ insert ++ tail`.
fn end(resume: &Resume, insert: &[u8], tail: &[u8], level: Compression) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity((insert.len() + tail.len()) / 2 + 32);
    let mut z = Compress::new(level, false);
    deflate(&mut z, insert, FlushCompress::None, &mut out)?;
    deflate(&mut z, tail, FlushCompress::Finish, &mut out)?;
    let mut crc = crc32fast::Hasher::new_with_initial_len(resume.crc, resume.len);
    crc.update(insert);
    crc.update(tail);
    let total = resume.len + insert.len() as u64 + tail.len() as u64;
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    // ISIZE: the length modulo 2^32.
    out.extend_from_slice(&(total as u32).to_le_bytes());
    Some(out)
}

/// Compresses all of `input` into `out`, then flushes as asked. A sync
/// flush is complete once deflate returns with output space to spare (zlib's
/// rule, which flate2 follows on every backend); a finish once the stream has
/// ended.
fn deflate(z: &mut Compress, input: &[u8], flush: FlushCompress, out: &mut Vec<u8>) -> Option<()> {
    let mut consumed = 0;
    loop {
        out.reserve((out.len() / 2).max(4096));
        let before = z.total_in();
        let status = z.compress_vec(&input[consumed..], out, flush).ok()?;
        consumed += usize::try_from(z.total_in() - before).ok()?;
        let done = match flush {
            FlushCompress::Finish => status == Status::StreamEnd,
            _ => consumed == input.len() && out.len() < out.capacity(),
        };
        if done {
            return Some(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(parts: &[&[u8]]) -> Vec<u8> {
        let all: Vec<u8> = parts.concat();
        let mut d = flate2::read::GzDecoder::new(&all[..]);
        let mut out = Vec::new();
        d.read_to_end(&mut out).expect("a valid gzip member");
        // Exactly one member: nothing after its trailer.
        let mut rest = Vec::new();
        d.into_inner().read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty(), "{} bytes after the member", rest.len());
        out
    }

    /// Exposition-like bytes that do not repeat exactly.
    fn data(n: usize) -> Vec<u8> {
        let line = b"asc_launch_time_seconds{app=\"x\"} 0.7687\n";
        (0..n)
            .map(|i| line[i % line.len()] ^ ((i / 977) % 7) as u8)
            .collect()
    }

    #[test]
    fn member_and_continuations_decode_to_the_concatenation() {
        for size in [0, 1, 100, 70_000, 1_000_000] {
            let body = data(size);
            for tail in [&b""[..], b"# EOF\n"] {
                let (m, r) = member(&[&body], tail, Compression::default()).unwrap();
                assert_eq!(gunzip(&[&m]), [&body[..], tail].concat(), "size {size}");
                let cached = Bytes::from(m);
                for insert in [&b""[..], b"process_open_fds 12\n", &data(200_000)] {
                    let (prefix, end) =
                        continue_with(&cached, &r, insert, tail, Compression::fast()).unwrap();
                    assert!(prefix.as_ptr() == cached.as_ptr(), "the prefix is shared");
                    assert_eq!(
                        gunzip(&[&prefix, &end]),
                        [&body[..], insert, tail].concat(),
                        "size {size}, insert {}",
                        insert.len()
                    );
                }
            }
        }
    }

    #[test]
    fn a_body_in_parts_is_one_stream() {
        let body = data(300_000);
        let parts: Vec<&[u8]> = body.chunks(7_777).collect();
        let (m, r) = member(&parts, b"# EOF\n", Compression::default()).unwrap();
        assert_eq!(gunzip(&[&m]), [&body[..], b"# EOF\n"].concat());
        let (whole, _) = member(&[&body], b"# EOF\n", Compression::default()).unwrap();
        assert!(
            m.len() < whole.len() + 64,
            "parts compress as well as the whole"
        );
        let cached = Bytes::from(m);
        let (prefix, end) =
            continue_with(&cached, &r, b"x 1\n", b"# EOF\n", Compression::fast()).unwrap();
        assert_eq!(
            gunzip(&[&prefix, &end]),
            [&body[..], b"x 1\n# EOF\n"].concat()
        );
    }

    #[test]
    fn a_bad_resume_point_is_refused() {
        let (m, r) = member(&[b"abc"], b"", Compression::default()).unwrap();
        let short = Bytes::from(m[..5].to_vec());
        assert!(continue_with(&short, &r, b"x", b"", Compression::fast()).is_none());
    }

    #[test]
    fn segments_make_one_member_and_can_be_shared() {
        let a = data(150_000);
        let b = data(70_001);
        let mut z = Compress::new(Compression::new(6), false);
        let sa = Segment::compress(&mut z, &a).unwrap();
        let sb = Segment::compress(&mut z, &b).unwrap();
        let se = Segment::compress(&mut z, b"").unwrap();
        let (m, r) =
            member_of_segments(&[&sa, &se, &sb, &sa], b"# EOF\n", Compression::fast()).unwrap();
        let want = [&a[..], &b, &a, b"# EOF\n"].concat();
        assert_eq!(gunzip(&[&m]), want);
        let cached = Bytes::from(m);
        let (prefix, end) =
            continue_with(&cached, &r, b"x 1\n", b"# EOF\n", Compression::fast()).unwrap();
        assert_eq!(
            gunzip(&[&prefix, &end]),
            [&a[..], &b, &a, b"x 1\n# EOF\n"].concat()
        );
        let (empty, _) = member_of_segments(&[], b"", Compression::fast()).unwrap();
        assert_eq!(gunzip(&[&empty]), b"");
    }
}
