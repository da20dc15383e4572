//! One probe on a raw socket: the request head for a framing, the oversized body written in
//! pieces while watching for an early answer or a close, and the first final response head.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio::time::Instant;

use crate::context::AttackContext;
use crate::evidence::excerpt;

use super::Framing;

/// Bytes handed to the socket per write.
const CHUNK: usize = 64 * 1024;
/// Largest response head we wait for before calling the answer garbled.
const MAX_HEAD: usize = 64 * 1024;
/// After a write fails, how long to look for a response that may already be on its way.
const AFTER_RESET: Duration = Duration::from_secs(1);

/// What one probe ended with.
#[derive(Debug)]
pub(super) enum Ended {
    /// A response head arrived; `early` = before the whole body was written.
    Response {
        status: u16,
        head: String,
        early: bool,
    },
    /// The connection was closed or reset without a response.
    Closed(String),
    /// No answer and no close within our bounds.
    Timeout(String),
    ConnectError(String),
    /// The server sent something that is not an HTTP response.
    Garbled(String),
    Halted,
}

/// One probe: how it was framed, the body bytes written and how it ended.
#[derive(Debug)]
pub(super) struct Probe {
    pub(super) framing: Framing,
    pub(super) written: u64,
    pub(super) ended: Ended,
    pub(super) latency: Duration,
}

/// The request head for `framing`. Headers that would change the framing are dropped, and so
/// is any value with CR/LF (it would splice extra lines into the request).
pub(super) fn request_head(
    ctx: &AttackContext,
    method: &str,
    path: &str,
    extra: &[(String, String)],
    framing: Framing,
    total: u64,
) -> String {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\n",
        ctx.target.authority
    );
    head.push_str(concat!(
        "User-Agent: shakedown/",
        env!("CARGO_PKG_VERSION"),
        "\r\n"
    ));
    head.push_str("Content-Type: application/json\r\nConnection: close\r\n");
    match framing {
        Framing::ContentLength => head.push_str(&format!("Content-Length: {total}\r\n")),
        Framing::Chunked => head.push_str("Transfer-Encoding: chunked\r\n"),
    }
    let reserved = [
        "host",
        "content-type",
        "content-length",
        "transfer-encoding",
        "connection",
    ];
    let auth = ctx.auth.iter().map(|(k, v)| (k.clone(), v.clone()));
    for (k, v) in extra.iter().cloned().chain(auth) {
        let clean = |s: &str| !s.contains(['\r', '\n']);
        if reserved.contains(&k.to_ascii_lowercase().as_str()) || !clean(&k) || !clean(&v) {
            continue;
        }
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    head
}

/// The body bytes `[offset, offset + len)`: a JSON string of `total` bytes.
fn body_piece(offset: u64, total: u64) -> Vec<u8> {
    let len = (total - offset).min(CHUNK as u64) as usize;
    let mut piece = vec![b'a'; len];
    if offset == 0 {
        piece[0] = b'"';
    }
    if offset + len as u64 == total {
        piece[len - 1] = b'"';
    }
    piece
}

/// The next write: the body piece at `offset`, framed for `framing`.
fn framed_piece(framing: Framing, offset: u64, total: u64) -> (Vec<u8>, u64) {
    let piece = body_piece(offset, total);
    let len = piece.len() as u64;
    match framing {
        Framing::ContentLength => (piece, len),
        Framing::Chunked => {
            let mut out = format!("{len:x}\r\n").into_bytes();
            out.extend_from_slice(&piece);
            out.extend_from_slice(b"\r\n");
            if offset + len == total {
                out.extend_from_slice(b"0\r\n\r\n");
            }
            (out, len)
        }
    }
}

/// Status code of an HTTP/1.x status line.
fn parse_status(line: &str) -> Option<u16> {
    let mut parts = line.split(' ');
    let version = parts.next()?;
    let code = parts.next()?;
    (version.starts_with("HTTP/1.") && code.len() == 3).then(|| code.parse().ok())?
}

/// Reads until the first final (non-1xx) response head. `Ok(None)` = closed before one.
async fn read_head(mut rd: OwnedReadHalf) -> std::io::Result<Option<(u16, String)>> {
    let mut buf = Vec::with_capacity(4096);
    let mut tmp = [0u8; 4096];
    loop {
        let n = rd.read(&mut tmp).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&tmp[..n]);
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let text = String::from_utf8_lossy(&buf).into_owned();
            let status = text.lines().next().and_then(parse_status).ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, excerpt(&text, 80))
            })?;
            if (100..200).contains(&status) {
                buf.drain(..end + 4);
                continue;
            }
            return Ok(Some((status, text)));
        }
        if buf.len() > MAX_HEAD {
            let text = String::from_utf8_lossy(&buf[..80]).into_owned();
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, text));
        }
    }
}

/// The probe's end from what [`read_head`] returned; `early` = before the whole body was
/// written.
fn from_read(r: std::io::Result<Option<(u16, String)>>, early: bool, written: u64) -> Ended {
    match r {
        Ok(Some((status, head))) => Ended::Response {
            status,
            head,
            early,
        },
        Ok(None) => Ended::Closed(format!(
            "closed without a response after {written} body bytes"
        )),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Ended::Garbled(e.to_string()),
        Err(e) => Ended::Closed(format!("{e} after {written} body bytes")),
    }
}

/// Sends one oversized request, watching for an answer while writing.
pub(super) async fn probe(
    ctx: &AttackContext,
    head: &str,
    framing: Framing,
    total: u64,
    deadline: Instant,
) -> Probe {
    let start = Instant::now();
    let stall = ctx.limits.request_timeout;
    let mut written = 0u64;
    let done = |ended: Ended, written: u64| Probe {
        framing,
        written,
        ended,
        latency: start.elapsed(),
    };
    let connect = tokio::time::timeout(stall, TcpStream::connect(ctx.target.addr));
    let stream = tokio::select! {
        r = connect => match r {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return done(Ended::ConnectError(e.to_string()), 0),
            Err(_) => return done(Ended::ConnectError(format!("no connection within {stall:?}")), 0),
        },
        _ = ctx.halt.cancelled() => return done(Ended::Halted, 0),
    };
    let _ = stream.set_nodelay(true);
    let (rd, mut wr) = stream.into_split();
    let mut reader = std::pin::pin!(read_head(rd));

    let mut next: Option<(Vec<u8>, u64)> = Some((head.as_bytes().to_vec(), 0));
    let mut offset = 0u64;
    let mut write_error = None;
    let mut stalled = false;
    while let Some((bytes, body_len)) = next.take() {
        tokio::select! {
            biased;
            r = &mut reader => return done(from_read(r, true, written), written),
            w = tokio::time::timeout(stall, wr.write_all(&bytes)) => match w {
                Ok(Ok(())) => written += body_len,
                Ok(Err(e)) => {
                    write_error = Some(e.to_string());
                    break;
                }
                Err(_) => {
                    stalled = true;
                    break;
                }
            },
            _ = ctx.halt.cancelled() => return done(Ended::Halted, written),
            _ = tokio::time::sleep_until(deadline) => {
                let why = format!("probe deadline reached after writing {written} of {total} bytes");
                return done(Ended::Timeout(why), written);
            }
        }
        offset += body_len;
        if offset < total {
            next = Some(framed_piece(framing, offset, total));
        }
    }

    let wait = if write_error.is_some() {
        AFTER_RESET.min(stall)
    } else {
        stall
    };
    let early = written < total;
    tokio::select! {
        r = tokio::time::timeout(wait, &mut reader) => match (r, write_error) {
            (Ok(r), _) => done(from_read(r, early, written), written),
            (Err(_), Some(e)) => done(Ended::Closed(format!("{e} after {written} body bytes")), written),
            (Err(_), None) if stalled => {
                let why = format!(
                    "the server stopped reading after {written} of {total} bytes and did not answer \
                     within {stall:?}"
                );
                done(Ended::Timeout(why), written)
            }
            (Err(_), None) => {
                let why = format!("no response within {stall:?} after the whole body was sent");
                done(Ended::Timeout(why), written)
            }
        },
        _ = ctx.halt.cancelled() => done(Ended::Halted, written),
        _ = tokio::time::sleep_until(deadline) => {
            done(Ended::Timeout("probe deadline reached waiting for a response".into()), written)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_a_json_string_of_exactly_total_bytes() {
        let total = CHUNK as u64 * 2 + 10;
        let mut body = Vec::new();
        let mut offset = 0;
        while offset < total {
            let piece = body_piece(offset, total);
            offset += piece.len() as u64;
            body.extend(piece);
        }
        assert_eq!(body.len() as u64, total);
        let s: String = serde_json::from_slice(&body).unwrap();
        assert_eq!(s.len() as u64, total - 2);
    }

    #[test]
    fn chunked_framing_wraps_each_piece_and_ends_with_a_zero_chunk() {
        let (first, len) = framed_piece(Framing::Chunked, 0, 5);
        assert_eq!(len, 5);
        assert_eq!(first, b"5\r\n\"aaa\"\r\n0\r\n\r\n");
        let (mid, len) = framed_piece(Framing::Chunked, 0, CHUNK as u64 + 1);
        assert_eq!(len, CHUNK as u64);
        assert!(mid.starts_with(b"10000\r\n\"") && mid.ends_with(b"a\r\n"));
    }

    #[test]
    fn status_lines_parse() {
        assert_eq!(
            parse_status("HTTP/1.1 413 Request Entity Too Large"),
            Some(413)
        );
        assert_eq!(parse_status("HTTP/1.0 200"), Some(200));
        assert_eq!(parse_status("SSH-2.0-OpenSSH"), None);
        assert_eq!(parse_status("HTTP/1.1 2000 x"), None);
    }
}
