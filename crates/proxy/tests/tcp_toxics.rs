//! The TCP fault proxy's toxics against a real echo server on loopback: latency (also changed
//! live on an open connection), latency jitter spreading round trips, reset_peer, timeout, limit_data, blackhole, bandwidth, slicer,
//! toxicity 0, and a proxy taken down and brought back.

#[path = "tcp_support/support.rs"]
mod tcp_support;

use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::json;
use tcp_support::{Api, echo_server, round_trip};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn latency_changes_live_on_an_open_connection() -> Result<()> {
    let api = Api::start().await?;
    let echo = echo_server(api.stop.clone()).await?;
    let addr = api.proxy("echo", echo).await?;
    let mut s = TcpStream::connect(addr).await?;
    let before = round_trip(&mut s, b"ping").await?;
    assert!(before < Duration::from_millis(100), "{before:?}");

    api.toxic(
        "echo",
        json!({"type": "latency", "attributes": {"latency": 200}}),
    )
    .await?;
    let slowed = round_trip(&mut s, b"ping").await?;
    assert!(slowed >= Duration::from_millis(200), "{slowed:?}");
    assert!(slowed < Duration::from_millis(1500), "{slowed:?}");

    // Upstream too: both directions delay one round trip.
    api.toxic(
        "echo",
        json!({"type": "latency", "stream": "upstream", "attributes": {"latency": 150}}),
    )
    .await?;
    let both = round_trip(&mut s, b"ping").await?;
    assert!(both >= Duration::from_millis(350), "{both:?}");

    // Updated live.
    let (status, v) = api
        .call(
            "POST",
            "/proxies/echo/toxics/latency_downstream",
            Some(r#"{"attributes": {"latency": 20}}"#),
        )
        .await?;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["attributes"]["latency"], 20);
    let updated = round_trip(&mut s, b"ping").await?;
    assert!(
        updated >= Duration::from_millis(170) && updated < Duration::from_millis(340),
        "{updated:?}"
    );

    // Removed live.
    for t in ["latency_downstream", "latency_upstream"] {
        let (status, _) = api
            .call("DELETE", &format!("/proxies/echo/toxics/{t}"), None)
            .await?;
        assert_eq!(status, 204);
    }
    let after = round_trip(&mut s, b"ping").await?;
    assert!(after < Duration::from_millis(100), "{after:?}");
    Ok(())
}

/// `jitter` on the wire: each chunk waits `latency` ± `jitter` (uniform), so round trips spread
/// over [latency − jitter, latency + jitter] instead of sitting at `latency`. The bounds are
/// generous for a shared machine; the spread checks fail by chance with probability ~1e-5.
#[tokio::test]
async fn latency_jitter_spreads_round_trips_within_bounds() -> Result<()> {
    const LATENCY: u64 = 200;
    const JITTER: u64 = 150;
    const SAMPLES: usize = 32;
    let api = Api::start().await?;
    let echo = echo_server(api.stop.clone()).await?;
    let addr = api.proxy("jitter", echo).await?;
    api.toxic(
        "jitter",
        json!({"type": "latency", "attributes": {"latency": LATENCY, "jitter": JITTER}}),
    )
    .await?;
    let mut s = TcpStream::connect(addr).await?;
    let mut rtts = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES {
        rtts.push(round_trip(&mut s, format!("ping {i:02}").as_bytes()).await?);
    }
    rtts.sort();
    let ms = |d: &Duration| d.as_millis() as u64;
    let (min, max) = (ms(&rtts[0]), ms(&rtts[SAMPLES - 1]));
    let all: Vec<u64> = rtts.iter().map(ms).collect();
    // Never shorter than latency − jitter (a sleep never ends early); never far above
    // latency + jitter (only scheduling delay on top).
    assert!(min >= LATENCY - JITTER, "{all:?}");
    assert!(max < LATENCY + JITTER + 500, "{all:?}");
    // Spread: P(a draw falls below latency − 60) = 0.3, so all 32 above it has p = 0.7^32.
    assert!(
        min < LATENCY - 60,
        "no round trip well below the latency: {all:?}"
    );
    assert!(
        max > LATENCY + 60,
        "no round trip well above the latency: {all:?}"
    );
    // Both halves of the range are used, not one narrow band.
    let below = all.iter().filter(|&&m| m < LATENCY).count();
    assert!(
        (4..=SAMPLES - 4).contains(&below),
        "{below} of {SAMPLES} below {LATENCY} ms: {all:?}"
    );

    // Jitter 0 again (live): the round trips sit at the latency.
    let (status, v) = api
        .call(
            "POST",
            "/proxies/jitter/toxics/latency_downstream",
            Some(r#"{"attributes": {"latency": 200, "jitter": 0}}"#),
        )
        .await?;
    assert_eq!(status, 200, "{v}");
    for _ in 0..4 {
        let rtt = ms(&round_trip(&mut s, b"steady").await?);
        assert!((LATENCY..LATENCY + 300).contains(&rtt), "{rtt} ms");
    }
    Ok(())
}

#[tokio::test]
async fn reset_peer_sends_an_rst() -> Result<()> {
    let api = Api::start().await?;
    let echo = echo_server(api.stop.clone()).await?;
    let addr = api.proxy("rst", echo).await?;
    api.toxic(
        "rst",
        json!({"type": "reset_peer", "attributes": {"timeout": 100}}),
    )
    .await?;
    let mut s = TcpStream::connect(addr).await?;
    let t = Instant::now();
    let mut buf = [0u8; 16];
    let r = tokio::time::timeout(WAIT, s.read(&mut buf)).await?;
    let err = r.expect_err("the connection must be reset, not closed cleanly");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
    assert!(
        t.elapsed() >= Duration::from_millis(90),
        "{:?}",
        t.elapsed()
    );
    Ok(())
}

#[tokio::test]
async fn timeout_holds_data_then_closes() -> Result<()> {
    let api = Api::start().await?;
    let echo = echo_server(api.stop.clone()).await?;
    let addr = api.proxy("to", echo).await?;
    api.toxic(
        "to",
        json!({"type": "timeout", "attributes": {"timeout": 300}}),
    )
    .await?;
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(b"hello").await?;
    let t = Instant::now();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(WAIT, s.read(&mut buf)).await??;
    assert_eq!(n, 0, "no data may pass, then the connection closes");
    assert!(
        t.elapsed() >= Duration::from_millis(250),
        "{:?}",
        t.elapsed()
    );
    Ok(())
}

#[tokio::test]
async fn timeout_zero_holds_until_removed() -> Result<()> {
    let api = Api::start().await?;
    let echo = echo_server(api.stop.clone()).await?;
    let addr = api.proxy("to0", echo).await?;
    api.toxic(
        "to0",
        json!({"type": "timeout", "stream": "upstream", "attributes": {"timeout": 0}}),
    )
    .await?;
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(b"held").await?;
    let mut buf = [0u8; 4];
    let r = tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf)).await;
    assert!(
        r.is_err(),
        "nothing may arrive and the connection stays open: {r:?}"
    );
    let (status, _) = api
        .call("DELETE", "/proxies/to0/toxics/timeout_upstream", None)
        .await?;
    assert_eq!(status, 204);
    tokio::time::timeout(WAIT, s.read_exact(&mut buf)).await??;
    assert_eq!(&buf, b"held", "held data flows once the toxic is gone");
    Ok(())
}

#[tokio::test]
async fn limit_data_closes_after_the_byte_count() -> Result<()> {
    let api = Api::start().await?;
    let echo = echo_server(api.stop.clone()).await?;
    let addr = api.proxy("lim", echo).await?;
    api.toxic(
        "lim",
        json!({"type": "limit_data", "attributes": {"bytes": 10}}),
    )
    .await?;
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(b"0123456789abcdefghij").await?;
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut out)).await??;
    assert_eq!(out, b"0123456789");
    Ok(())
}

#[tokio::test]
async fn blackhole_accepts_and_never_answers() -> Result<()> {
    let api = Api::start().await?;
    let echo = echo_server(api.stop.clone()).await?;
    let addr = api.proxy("bh", echo).await?;
    api.toxic("bh", json!({"type": "blackhole"})).await?;
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(b"anyone?").await?;
    let mut buf = [0u8; 16];
    let r = tokio::time::timeout(Duration::from_millis(600), s.read(&mut buf)).await;
    assert!(r.is_err(), "no answer and no close expected: {r:?}");
    // Swallowed, not held: removing the blackhole does not deliver the old bytes.
    api.call("DELETE", "/proxies/bh/toxics/blackhole_downstream", None)
        .await?;
    round_trip(&mut s, b"now").await?;
    Ok(())
}

#[tokio::test]
async fn down_closes_connections_and_refuses_new_ones() -> Result<()> {
    let api = Api::start().await?;
    let echo = echo_server(api.stop.clone()).await?;
    let addr = api.proxy("down", echo).await?;
    let mut s = TcpStream::connect(addr).await?;
    round_trip(&mut s, b"up").await?;
    let (status, v) = api
        .call("POST", "/proxies/down", Some(r#"{"enabled": false}"#))
        .await?;
    assert_eq!(status, 200);
    assert_eq!(v["enabled"], false);
    let mut buf = [0u8; 4];
    let n = tokio::time::timeout(WAIT, s.read(&mut buf))
        .await?
        .unwrap_or(0);
    assert_eq!(n, 0, "the open connection must be closed");
    let refused = TcpStream::connect(addr).await;
    assert!(refused.is_err(), "a down proxy refuses new connections");
    let (status, v) = api
        .call("POST", "/proxies/down", Some(r#"{"enabled": true}"#))
        .await?;
    assert_eq!(status, 200, "{v}");
    let mut s = TcpStream::connect(addr).await?;
    round_trip(&mut s, b"back").await?;
    Ok(())
}

#[tokio::test]
async fn bandwidth_and_slicer_shape_the_stream() -> Result<()> {
    let api = Api::start().await?;
    let echo = echo_server(api.stop.clone()).await?;
    let addr = api.proxy("bw", echo).await?;
    api.toxic(
        "bw",
        json!({"type": "bandwidth", "attributes": {"rate": 100}}),
    )
    .await?;
    let mut s = TcpStream::connect(addr).await?;
    let data = vec![7u8; 50_000];
    let took = round_trip(&mut s, &data).await?;
    // 50 KB at 100 KB/s ≈ 0.5 s.
    assert!(took >= Duration::from_millis(400), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    api.call("DELETE", "/proxies/bw/toxics/bandwidth_downstream", None)
        .await?;

    api.toxic(
        "bw",
        json!({"type": "slicer", "attributes": {"average_size": 10, "size_variation": 5, "delay": 2000}}),
    )
    .await?;
    let took = round_trip(&mut s, &[1u8; 200]).await?;
    // ≥ 200/15 ≈ 13 pieces, 2 ms apart.
    assert!(took >= Duration::from_millis(24), "{took:?}");
    Ok(())
}

#[tokio::test]
async fn toxicity_zero_leaves_connections_alone() -> Result<()> {
    let api = Api::start().await?;
    let echo = echo_server(api.stop.clone()).await?;
    let addr = api.proxy("tx", echo).await?;
    api.toxic(
        "tx",
        json!({"type": "latency", "toxicity": 0.0, "attributes": {"latency": 500}}),
    )
    .await?;
    let mut s = TcpStream::connect(addr).await?;
    let rt = round_trip(&mut s, b"fast").await?;
    assert!(rt < Duration::from_millis(200), "{rt:?}");
    Ok(())
}

#[tokio::test]
async fn reset_peer_added_live_resets_an_open_connection() -> Result<()> {
    let api = Api::start().await?;
    let echo = echo_server(api.stop.clone()).await?;
    let addr = api.proxy("live_rst", echo).await?;
    let mut s = TcpStream::connect(addr).await?;
    round_trip(&mut s, b"fine").await?;
    api.toxic(
        "live_rst",
        json!({"type": "reset_peer", "attributes": {"timeout": 0}}),
    )
    .await?;
    let mut buf = [0u8; 8];
    let r = tokio::time::timeout(WAIT, s.read(&mut buf)).await?;
    let err = r.expect_err("the open connection must be reset");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
    Ok(())
}

#[tokio::test]
async fn slow_close_delays_the_close() -> Result<()> {
    let api = Api::start().await?;
    let echo = echo_server(api.stop.clone()).await?;
    let addr = api.proxy("sc", echo).await?;
    api.toxic(
        "sc",
        json!({"type": "slow_close", "attributes": {"delay": 300}}),
    )
    .await?;
    let mut s = TcpStream::connect(addr).await?;
    round_trip(&mut s, b"bye").await?;
    // Our half-close reaches the echo server, which closes; its close reaches us 300 ms late.
    s.shutdown().await?;
    let t = Instant::now();
    let mut rest = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut rest)).await??;
    assert!(rest.is_empty());
    assert!(
        t.elapsed() >= Duration::from_millis(280),
        "{:?}",
        t.elapsed()
    );
    Ok(())
}

#[tokio::test]
async fn stall_pauses_chunks() -> Result<()> {
    let api = Api::start().await?;
    let echo = echo_server(api.stop.clone()).await?;
    let addr = api.proxy("st", echo).await?;
    let mut s = TcpStream::connect(addr).await?;
    let quick = round_trip(&mut s, b"go").await?;
    assert!(quick < Duration::from_millis(100), "{quick:?}");
    api.toxic(
        "st",
        json!({"type": "stall", "stream": "upstream", "attributes": {"probability": 1.0, "duration": 200}}),
    )
    .await?;
    let stalled = round_trip(&mut s, b"go").await?;
    assert!(stalled >= Duration::from_millis(200), "{stalled:?}");
    Ok(())
}
