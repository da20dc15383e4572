//! Shared helpers of the TCP fault proxy tests: a real echo server, a started admin API, and a
//! minimal HTTP/1.1 client for it (one request per connection).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;
use shakedown_proxy::tcp::{TcpProxyServer, TcpServerConfig, api};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// An echo server on 127.0.0.1:0 that stops with the token.
pub async fn echo_server(stop: CancellationToken) -> Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    tokio::spawn(async move {
        loop {
            let (mut s, _) = tokio::select! {
                _ = stop.cancelled() => return,
                a = l.accept() => match a { Ok(a) => a, Err(_) => return },
            };
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    let n = tokio::select! {
                        _ = stop.cancelled() => return,
                        r = s.read(&mut buf) => match r { Ok(0) | Err(_) => return, Ok(n) => n },
                    };
                    if s.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(addr)
}

/// A proxy server with its admin API on 127.0.0.1:0; everything stops on drop.
pub struct Api {
    pub server: TcpProxyServer,
    pub addr: SocketAddr,
    pub stop: CancellationToken,
}

impl Api {
    pub async fn start() -> Result<Self> {
        let stop = CancellationToken::new();
        let server = TcpProxyServer::new(TcpServerConfig {
            allow_non_loopback: false,
            halt: Some(stop.clone()),
        });
        let (listener, addr) = api::bind("127.0.0.1:0".parse()?).await?;
        tokio::spawn(api::serve(listener, server.clone(), stop.clone()));
        Ok(Self { server, addr, stop })
    }

    /// Sends one request; returns the status and the body parsed as JSON (Null if empty).
    pub async fn call(&self, method: &str, path: &str, body: Option<&str>) -> Result<(u16, Value)> {
        let mut s = TcpStream::connect(self.addr).await?;
        let body = body.unwrap_or("");
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        s.write_all(req.as_bytes()).await?;
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await??;
        let text = String::from_utf8(out)?;
        let (head, rest) = text.split_once("\r\n\r\n").context("no header end")?;
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .context("no status")?
            .parse()?;
        let json = if rest.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(rest).with_context(|| format!("not JSON: {rest}"))?
        };
        Ok((status, json))
    }

    /// Creates a proxy to `upstream` on a free port and returns its bound address.
    pub async fn proxy(&self, name: &str, upstream: SocketAddr) -> Result<SocketAddr> {
        let body = serde_json::json!({"name": name, "listen": "127.0.0.1:0", "upstream": upstream.to_string()});
        let (status, v) = self
            .call("POST", "/proxies", Some(&body.to_string()))
            .await?;
        anyhow::ensure!(status == 201, "create: {status} {v}");
        Ok(v["listen"].as_str().context("listen")?.parse()?)
    }

    /// Adds a toxic; panics on a non-200.
    pub async fn toxic(&self, proxy: &str, body: Value) -> Result<Value> {
        let (status, v) = self
            .call(
                "POST",
                &format!("/proxies/{proxy}/toxics"),
                Some(&body.to_string()),
            )
            .await?;
        anyhow::ensure!(status == 200, "add toxic: {status} {v}");
        Ok(v)
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Writes `msg` and reads back exactly its length, returning how long the round trip took.
pub async fn round_trip(s: &mut TcpStream, msg: &[u8]) -> Result<Duration> {
    let t = std::time::Instant::now();
    s.write_all(msg).await?;
    let mut back = vec![0u8; msg.len()];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut back)).await??;
    anyhow::ensure!(back == msg, "echo mismatch");
    Ok(t.elapsed())
}
