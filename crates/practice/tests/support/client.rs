//! A tiny HTTP/1.1 client for the practice tests: hyper's `client::conn` for ordinary
//! requests, and raw TCP for what a well-behaved client cannot send (odd request targets,
//! trickled heads, lying Content-Lengths). Every call has a deadline.

#![allow(dead_code)] // each test binary uses a different subset

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::header::HeaderMap;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Deadline for one exchange.
pub const DEADLINE: Duration = Duration::from_secs(5);

/// A response, body as text.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Sends one request on a fresh connection.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> anyhow::Result<Resp> {
    let body = body.into();
    tokio::time::timeout(DEADLINE, async move {
        let stream = TcpStream::connect(addr).await?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        let driver = tokio::spawn(conn);
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", addr.to_string());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = sender.send_request(req.body(Full::new(body))?).await?;
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await?.to_bytes();
        driver.abort();
        Ok(Resp {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        })
    })
    .await
    .context("request timed out")?
}

/// `GET path` without credentials.
pub async fn get(addr: SocketAddr, path: &str) -> anyhow::Result<Resp> {
    send(addr, "GET", path, &[], Bytes::new()).await
}

/// `GET path` with `Authorization: Bearer <token>`.
pub async fn get_auth(addr: SocketAddr, path: &str, token: &str) -> anyhow::Result<Resp> {
    let auth = format!("Bearer {token}");
    send(addr, "GET", path, &[("authorization", &auth)], Bytes::new()).await
}

/// `POST path` with a JSON content type (or `content_type`) and the token.
pub async fn post(
    addr: SocketAddr,
    path: &str,
    token: &str,
    content_type: Option<&str>,
    body: impl Into<Bytes>,
) -> anyhow::Result<Resp> {
    let auth = format!("Bearer {token}");
    let mut headers = vec![("authorization", auth.as_str())];
    if let Some(ct) = content_type {
        headers.push(("content-type", ct));
    }
    send(addr, "POST", path, &headers, body).await
}

/// Percent-encodes a query value.
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Writes `raw` on a fresh connection and reads until the server closes it (or the
/// deadline). The request should say `Connection: close`.
pub async fn raw(addr: SocketAddr, raw: &[u8]) -> anyhow::Result<Resp> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(raw).await?;
    let mut buf = Vec::new();
    let read = tokio::time::timeout(DEADLINE, async {
        let mut chunk = [0u8; 8192];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) => return Ok(()),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                // A reset after the response arrived is still a response.
                Err(_) if !buf.is_empty() => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    })
    .await;
    match read {
        Ok(r) => r.context("reading the response")?,
        Err(_) if buf.is_empty() => bail!("no response within {DEADLINE:?}"),
        Err(_) => {}
    }
    parse(&buf)
}

/// Parses a raw response (status line, headers, the rest as body).
pub fn parse(buf: &[u8]) -> anyhow::Result<Resp> {
    let text = String::from_utf8_lossy(buf);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("no end of response head")?;
    let mut lines = head.lines();
    let status_line = lines.next().context("empty response")?;
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {status_line:?}"))?;
    let mut headers = HeaderMap::new();
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            headers.append(
                hyper::header::HeaderName::from_bytes(k.trim().as_bytes())?,
                v.trim().parse()?,
            );
        }
    }
    Ok(Resp {
        status,
        headers,
        body: body.to_string(),
    })
}

/// A raw GET of `target` (sent verbatim as the request target), closing afterwards.
pub async fn raw_get(addr: SocketAddr, target: &str, extra_headers: &str) -> anyhow::Result<Resp> {
    let req = format!(
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\n{extra_headers}Connection: close\r\n\r\n"
    );
    raw(addr, req.as_bytes()).await
}

/// Waits until `stream` is closed by the peer (read returns 0 or an error), for at most
/// `limit`. Returns how long that took, or `None` if it stayed open.
pub async fn wait_closed(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = tokio::time::Instant::now();
    let mut chunk = [0u8; 1024];
    let closed = tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    closed.ok().map(|()| start.elapsed())
}

/// Opens a connection and trickles an endless request head at one byte per 100 ms (the
/// slowloris move) while watching for the server to close it. Returns when it was closed,
/// or `None` if it was still open after `limit`.
pub async fn trickle(addr: SocketAddr, limit: Duration) -> anyhow::Result<Option<Duration>> {
    let stream = TcpStream::connect(addr).await?;
    let (mut reader, mut writer) = stream.into_split();
    let start = tokio::time::Instant::now();
    let head = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\n");
    let writing = async move {
        let bytes = head.bytes().chain(b"X-a: b\r\n".iter().copied().cycle());
        for b in bytes.take(1000) {
            if writer.write_all(&[b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Keep the write half open until the reader decides.
        std::future::pending::<()>().await;
    };
    let reading = async move {
        let mut chunk = [0u8; 1024];
        loop {
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    let closed = tokio::time::timeout(limit, async {
        tokio::select! {
            _ = writing => {}
            _ = reading => {}
        }
    })
    .await;
    Ok(closed.ok().map(|()| start.elapsed()))
}
