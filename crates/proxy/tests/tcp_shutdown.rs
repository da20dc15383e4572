//! Stopping the TCP fault proxy is bounded: `shutdown`, a proxy's delete and `enabled: false`
//! end open links while a `latency` toxic holds data in flight, and the admin API returns after
//! a halt even when a client left a request half sent (the cause of a hung `tcp-proxy` process:
//! the graceful stop waited forever for that request to finish).

#[path = "tcp_support/support.rs"]
mod tcp_support;

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::json;
use shakedown_proxy::tcp::{TcpProxyServer, TcpServerConfig, api};
use tcp_support::{Api, echo_server, round_trip};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// How long a stop may take; the toxics below hold data far longer than this.
const PROMPT: Duration = Duration::from_secs(2);

/// Opens a connection through `addr` and leaves data held by the latency toxic in both
/// directions: a first message is echoed (and delayed), a second one is still in the pipe.
async fn link_with_data_in_flight(addr: std::net::SocketAddr) -> Result<TcpStream> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(&[1u8; 64 * 1024]).await?;
    // Let the proxy read the chunk and start sleeping on it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    Ok(s)
}

/// Reads until the proxy closes the connection (EOF or reset); fails if it stays open.
async fn closed_within(s: &mut TcpStream, limit: Duration) -> Result<Duration> {
    let t = Instant::now();
    let mut buf = vec![0u8; 64 * 1024];
    tokio::time::timeout(limit, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .context("the link stayed open")?;
    Ok(t.elapsed())
}

#[tokio::test]
async fn shutdown_ends_links_with_latency_in_flight() -> Result<()> {
    let api = Api::start().await?;
    let stop_echo = CancellationToken::new();
    let echo = echo_server(stop_echo.clone()).await?;
    let addr = api.proxy("slow", echo).await?;
    let mut fast = TcpStream::connect(addr).await?;
    round_trip(&mut fast, b"before").await?;
    for stream in ["downstream", "upstream"] {
        api.toxic(
            "slow",
            json!({"type": "latency", "stream": stream, "attributes": {"latency": 30_000}}),
        )
        .await?;
    }
    let mut held = link_with_data_in_flight(addr).await?;

    let t = Instant::now();
    tokio::time::timeout(PROMPT, api.server.shutdown())
        .await
        .context("shutdown waited on a link held by a latency toxic")?;
    assert!(t.elapsed() < PROMPT, "{:?}", t.elapsed());
    closed_within(&mut held, PROMPT).await?;
    closed_within(&mut fast, PROMPT).await?;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the listener is gone after shutdown"
    );
    stop_echo.cancel();
    Ok(())
}

#[tokio::test]
async fn delete_and_disable_end_links_with_latency_in_flight() -> Result<()> {
    let api = Api::start().await?;
    let echo = echo_server(api.stop.clone()).await?;
    let mut held = Vec::new();
    for name in ["deleted", "disabled"] {
        let addr = api.proxy(name, echo).await?;
        api.toxic(
            name,
            json!({"type": "latency", "attributes": {"latency": 30_000}}),
        )
        .await?;
        held.push(link_with_data_in_flight(addr).await?);
    }
    let (status, _) = api.call("DELETE", "/proxies/deleted", None).await?;
    assert_eq!(status, 204);
    let took = closed_within(&mut held[0], PROMPT).await?;
    assert!(took < PROMPT, "{took:?}");

    let (status, v) = api
        .call("POST", "/proxies/disabled", Some(r#"{"enabled": false}"#))
        .await?;
    assert_eq!(status, 200, "{v}");
    let took = closed_within(&mut held[1], PROMPT).await?;
    assert!(took < PROMPT, "{took:?}");
    // The toxic survives the disable; shutdown with nothing open is immediate.
    assert_eq!(api.server.toxics("disabled")?.len(), 1);
    tokio::time::timeout(PROMPT, api.server.shutdown()).await?;
    Ok(())
}

#[tokio::test]
async fn admin_api_stops_with_a_request_half_sent() -> Result<()> {
    let halt = CancellationToken::new();
    let server = TcpProxyServer::new(TcpServerConfig {
        allow_non_loopback: false,
        halt: Some(halt.clone()),
    });
    let (listener, addr) = api::bind("127.0.0.1:0".parse()?).await?;
    let serving = tokio::spawn(api::serve(listener, server.clone(), halt.clone()));
    // A client that sent part of a request head and then went quiet, and an idle one.
    let mut half = TcpStream::connect(addr).await?;
    half.write_all(b"POST /proxies HTTP/1.1\r\nHost: x\r\n")
        .await?;
    let mut idle = TcpStream::connect(addr).await?;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let t = Instant::now();
    halt.cancel();
    let bound = api::SHUTDOWN_GRACE + PROMPT;
    tokio::time::timeout(bound, serving)
        .await
        .context("the admin API waited forever for a half-sent request")???;
    assert!(t.elapsed() < bound, "{:?}", t.elapsed());
    // Both admin connections are closed, not leaked.
    closed_within(&mut half, PROMPT).await?;
    closed_within(&mut idle, PROMPT).await?;
    tokio::time::timeout(PROMPT, server.shutdown()).await?;
    Ok(())
}

#[tokio::test]
async fn admin_api_finishes_a_request_in_progress_before_stopping() -> Result<()> {
    let api = Api::start().await?;
    let echo = echo_server(api.stop.clone()).await?;
    // The request body arrives in two parts; the halt lands between them.
    let mut s = TcpStream::connect(api.addr).await?;
    let body =
        json!({"name": "late", "listen": "127.0.0.1:0", "upstream": echo.to_string()}).to_string();
    let head = format!(
        "POST /proxies HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await?;
    s.write_all(&body.as_bytes()[..10]).await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    api.stop.cancel();
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.write_all(&body.as_bytes()[10..]).await?;
    let mut out = String::new();
    tokio::time::timeout(PROMPT, s.read_to_string(&mut out)).await??;
    assert!(out.starts_with("HTTP/1.1 201"), "{out}");
    Ok(())
}
