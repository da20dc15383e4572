//! The load engine's hot path: HTTP/1.1 over a raw keep-alive TCP connection, in the way wrk
//! does it. The request is serialised once; each exchange is one `write` of those bytes and
//! as many `read`s into a fixed buffer as the response needs. The response is parsed only as
//! far as a load test needs — status, framing, keep-alive — and its body is skipped in place,
//! never copied. (hyper's client costs about twice the CPU per request, which on a machine
//! shared with the target is throughput taken from the target; attacks that need headers
//! use [`super::Client`].)
//!
//! Framing follows RFC 9112 §6.3: no body after HEAD or for 1xx/204/304; chunked when the
//! last transfer coding is `chunked`; else `Content-Length`; else until the server closes.

use std::net::SocketAddr;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::client::{ErrorKind, RequestTemplate};

/// Initial read buffer; one read usually holds a whole small response.
const BUF: usize = 16 * 1024;
/// Largest response head (or chunk-size line) accepted before the reply counts as garbage.
const MAX_HEAD: usize = 64 * 1024;

/// A request serialised for the wire.
#[derive(Debug, Clone)]
pub struct WireRequest {
    bytes: Bytes,
    /// Responses to HEAD carry no body whatever their headers say.
    head: bool,
}

impl WireRequest {
    /// Serialises `t`. Framing headers given by the caller are replaced by a `Content-Length`
    /// matching the body, so the request can never be mis-framed.
    pub fn new(t: &RequestTemplate) -> WireRequest {
        let mut out = Vec::with_capacity(256 + t.body.len());
        out.extend_from_slice(t.method.as_str().as_bytes());
        out.push(b' ');
        let pq = t.uri.path_and_query().map_or("/", |p| p.as_str());
        out.extend_from_slice(pq.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        for (name, value) in &t.headers {
            if name == http::header::CONTENT_LENGTH || name == http::header::TRANSFER_ENCODING {
                continue;
            }
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        let expects_body = matches!(t.method.as_str(), "POST" | "PUT" | "PATCH");
        if !t.body.is_empty() || expects_body {
            out.extend_from_slice(format!("content-length: {}\r\n", t.body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&t.body);
        WireRequest {
            bytes: Bytes::from(out),
            head: t.method == http::Method::HEAD,
        }
    }

    /// The bytes sent for each request.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// What a load run needs from a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body_bytes: u64,
}

/// How the body of a response is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

/// A parsed response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Head {
    status: u16,
    /// Bytes of the head, including the blank line.
    len: usize,
    framing: Framing,
    keep_alive: bool,
}

/// A keep-alive connection for the load loop; reconnects when the server closes it.
pub struct WireConn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// An exchange was dropped half-way (timeout, deadline): the connection's state is
    /// unknown, so it is replaced before the next request.
    dirty: bool,
    connects: u64,
}

impl WireConn {
    pub fn new(addr: SocketAddr) -> WireConn {
        WireConn {
            addr,
            stream: None,
            buf: vec![0; BUF],
            start: 0,
            end: 0,
            dirty: false,
            connects: 0,
        }
    }

    /// TCP connections opened so far.
    pub fn connects(&self) -> u64 {
        self.connects
    }

    /// Drops the connection; the next exchange opens a new one.
    pub fn reset(&mut self) {
        self.stream = None;
    }

    /// Sends `req` and reads the whole response. Cancel-safe: a dropped exchange discards
    /// the connection.
    pub async fn exchange(&mut self, req: &WireRequest) -> Result<Reply, ErrorKind> {
        if self.dirty || self.stream.is_none() {
            let stream = TcpStream::connect(self.addr)
                .await
                .map_err(|_| ErrorKind::Connect)?;
            let _ = stream.set_nodelay(true);
            self.connects += 1;
            self.stream = Some(stream);
            self.start = 0;
            self.end = 0;
        }
        self.dirty = true;
        let Some(stream) = self.stream.as_mut() else {
            return Err(ErrorKind::Closed);
        };
        if stream.write_all(req.as_bytes()).await.is_err() {
            self.stream = None;
            return Err(ErrorKind::Closed);
        }
        let result = self.read_reply(req.head).await;
        match result {
            Ok((reply, keep_alive)) => {
                if !keep_alive {
                    self.stream = None;
                }
                self.dirty = false;
                Ok(reply)
            }
            Err(e) => {
                self.stream = None;
                Err(e)
            }
        }
    }

    /// Reads more bytes after `end`, compacting or growing the buffer when it is full.
    /// `Ok(false)` = the server closed the connection.
    async fn fill(&mut self) -> Result<bool, ErrorKind> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if self.buf.len() < MAX_HEAD {
                self.buf.resize(MAX_HEAD, 0);
            } else {
                return Err(ErrorKind::Protocol);
            }
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err(ErrorKind::Closed);
        };
        match stream.read(&mut self.buf[self.end..]).await {
            Ok(0) => Ok(false),
            Ok(n) => {
                self.end += n;
                Ok(true)
            }
            Err(_) => Err(ErrorKind::Closed),
        }
    }

    async fn fill_or_closed(&mut self) -> Result<(), ErrorKind> {
        if self.fill().await? {
            Ok(())
        } else {
            Err(ErrorKind::Closed)
        }
    }

    /// Skips `n` body bytes.
    async fn skip(&mut self, mut n: u64) -> Result<(), ErrorKind> {
        loop {
            let take = ((self.end - self.start) as u64).min(n);
            self.start += take as usize;
            n -= take;
            if n == 0 {
                return Ok(());
            }
            self.fill_or_closed().await?;
        }
    }

    /// The next CRLF-terminated line (without the CRLF), as a range into the buffer.
    async fn line(&mut self) -> Result<(usize, usize), ErrorKind> {
        loop {
            if let Some(i) = find_crlf(&self.buf[self.start..self.end]) {
                let line = (self.start, self.start + i);
                self.start += i + 2;
                return Ok(line);
            }
            self.fill_or_closed().await?;
        }
    }

    async fn read_reply(&mut self, head_request: bool) -> Result<(Reply, bool), ErrorKind> {
        let head = loop {
            match parse_head(&self.buf[self.start..self.end])? {
                Some(h) if (100..200).contains(&h.status) && h.status != 101 => {
                    // Interim response (100 Continue, 103 Early Hints): the real one follows.
                    self.start += h.len;
                }
                Some(h) => break h,
                None => self.fill_or_closed().await?,
            }
        };
        self.start += head.len;
        let framing = if head_request {
            Framing::Empty
        } else {
            head.framing
        };
        let mut body_bytes = 0u64;
        let mut keep_alive = head.keep_alive;
        match framing {
            Framing::Empty => {}
            Framing::Length(n) => {
                self.skip(n).await?;
                body_bytes = n;
            }
            Framing::Chunked => loop {
                let (a, b) = self.line().await?;
                let size = parse_chunk_size(&self.buf[a..b])?;
                if size == 0 {
                    // Trailer section: header lines up to a blank one.
                    loop {
                        let (a, b) = self.line().await?;
                        if a == b {
                            break;
                        }
                    }
                    break;
                }
                self.skip(size).await?;
                body_bytes += size;
                let (a, b) = self.line().await?;
                if a != b {
                    return Err(ErrorKind::Protocol);
                }
            },
            Framing::UntilClose => {
                keep_alive = false;
                loop {
                    body_bytes += (self.end - self.start) as u64;
                    self.start = self.end;
                    if !self.fill().await? {
                        break;
                    }
                }
            }
        }
        Ok((
            Reply {
                status: head.status,
                body_bytes,
            },
            keep_alive,
        ))
    }
}

fn find_crlf(b: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = b[from..].iter().position(|&c| c == b'\r') {
        let at = from + i;
        match b.get(at + 1) {
            Some(b'\n') => return Some(at),
            Some(_) => from = at + 1,
            None => return None,
        }
    }
    None
}

fn parse_chunk_size(line: &[u8]) -> Result<u64, ErrorKind> {
    let digits = line
        .split(|&c| c == b';')
        .next()
        .unwrap_or(line)
        .trim_ascii();
    if digits.is_empty() || digits.len() > 15 {
        return Err(ErrorKind::Protocol);
    }
    let mut n = 0u64;
    for &d in digits {
        let v = (d as char).to_digit(16).ok_or(ErrorKind::Protocol)?;
        n = n * 16 + u64::from(v);
    }
    Ok(n)
}

/// Whether the comma-separated header value holds `token` (case-insensitive).
fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&c| c == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// Parses a response head at the start of `b`; `Ok(None)` = not complete yet.
fn parse_head(b: &[u8]) -> Result<Option<Head>, ErrorKind> {
    let Some(status_end) = find_crlf(b) else {
        return if b.len() > MAX_HEAD {
            Err(ErrorKind::Protocol)
        } else {
            Ok(None)
        };
    };
    let line = &b[..status_end];
    // "HTTP/1.x SSS[ reason]"
    if line.len() < 12 || !line.starts_with(b"HTTP/1.") || line[8] != b' ' {
        return Err(ErrorKind::Protocol);
    }
    let http10 = line[7] == b'0';
    let code = &line[9..12];
    if !code.iter().all(u8::is_ascii_digit) || line.get(12).is_some_and(|&c| c != b' ') {
        return Err(ErrorKind::Protocol);
    }
    let status = code.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    if status < 100 {
        return Err(ErrorKind::Protocol);
    }
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut encoded = false;
    let mut close = http10;
    let mut at = status_end + 2;
    loop {
        let Some(i) = find_crlf(&b[at..]) else {
            return if b.len() > MAX_HEAD {
                Err(ErrorKind::Protocol)
            } else {
                Ok(None)
            };
        };
        let line = &b[at..at + i];
        at += i + 2;
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            return Err(ErrorKind::Protocol);
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or(ErrorKind::Protocol)?;
            if length.is_some_and(|l| l != n) {
                return Err(ErrorKind::Protocol);
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            encoded = true;
            let last = value
                .rsplit(|&c| c == b',')
                .next()
                .unwrap_or(value)
                .trim_ascii();
            chunked = last.eq_ignore_ascii_case(b"chunked");
        } else if name.eq_ignore_ascii_case(b"connection") {
            if has_token(value, b"close") {
                close = true;
            } else if http10 && has_token(value, b"keep-alive") {
                close = false;
            }
        }
    }
    let framing = match status {
        100..=199 | 204 | 304 => Framing::Empty,
        _ if chunked => Framing::Chunked,
        _ if encoded => Framing::UntilClose,
        _ => length.map_or(Framing::UntilClose, Framing::Length),
    };
    Ok(Some(Head {
        status,
        len: at,
        framing,
        keep_alive: !close,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Target;
    use crate::http::HttpRequest;

    fn head(s: &str) -> Head {
        parse_head(s.as_bytes()).unwrap().unwrap()
    }

    #[test]
    fn heads_parse_with_their_framing() {
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello world\n");
        assert_eq!(
            (h.status, h.framing, h.keep_alive),
            (200, Framing::Length(12), true)
        );
        assert_eq!(h.len, 39);
        let h = head("HTTP/1.1 404 Not Found\r\ntransfer-encoding: gzip, Chunked\r\n\r\n");
        assert_eq!(h.framing, Framing::Chunked);
        let h = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\n");
        assert_eq!(h.framing, Framing::UntilClose);
        let h = head("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(h.framing, Framing::Empty);
        let h = head("HTTP/1.1 503\r\nConnection: keep-alive, Close\r\n\r\n");
        assert_eq!(
            (h.status, h.framing, h.keep_alive),
            (503, Framing::UntilClose, false)
        );
        let h = head("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
        assert!(!h.keep_alive);
        let h = head("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n");
        assert!(h.keep_alive);
    }

    #[test]
    fn incomplete_and_broken_heads() {
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Le"), Ok(None));
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r"), Ok(None));
        for bad in [
            "SSH-2.0-OpenSSH_9.2\r\n\r\n",
            "HTTP/1.1 2000 OK\r\n\r\n",
            "HTTP/1.1 20x OK\r\n\r\n",
            "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        ] {
            assert_eq!(
                parse_head(bad.as_bytes()),
                Err(ErrorKind::Protocol),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn chunk_sizes_parse_with_extensions() {
        assert_eq!(parse_chunk_size(b"1a"), Ok(26));
        assert_eq!(parse_chunk_size(b"FF;name=value"), Ok(255));
        assert_eq!(parse_chunk_size(b"0"), Ok(0));
        assert!(parse_chunk_size(b"").is_err());
        assert!(parse_chunk_size(b"zz").is_err());
        assert!(parse_chunk_size(b"ffffffffffffffffff").is_err());
    }

    #[test]
    fn requests_serialise_with_exact_framing() {
        let target = Target {
            addr: "127.0.0.1:9".parse().unwrap(),
            authority: "127.0.0.1:9".into(),
            base_path: String::new(),
        };
        let mut req = HttpRequest::get("/a?b=1").header("Content-Length", "999");
        let t = RequestTemplate::new(&target, &req).unwrap();
        let w = String::from_utf8(WireRequest::new(&t).as_bytes().to_vec()).unwrap();
        assert!(w.starts_with("GET /a?b=1 HTTP/1.1\r\n"), "{w}");
        assert!(w.contains("host: 127.0.0.1:9\r\n"));
        assert!(!w.to_ascii_lowercase().contains("content-length"), "{w}");
        assert!(w.ends_with("\r\n\r\n"));
        req.method = http::Method::POST;
        req.body = Bytes::from_static(b"{\"a\":1}");
        let t = RequestTemplate::new(&target, &req).unwrap();
        let w = String::from_utf8(WireRequest::new(&t).as_bytes().to_vec()).unwrap();
        assert!(w.contains("content-length: 7\r\n"), "{w}");
        assert!(w.ends_with("\r\n\r\n{\"a\":1}"));
    }
}
