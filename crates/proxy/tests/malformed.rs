//! Malformed wire bytes (bad lengths, truncated messages, garbage, huge lengths) close only the
//! session that sent them, promptly and without the proxy buffering a hostile length, and the
//! proxy keeps serving everyone else.

#[path = "support/proxy.rs"]
mod support;

use std::time::Duration;

use anyhow::{Context, Result};
use shakedown_proxy::pg::messages::{ErrorResponse, Message, Query};
use shakedown_proxy::pg::{EndReason, PassThrough, ProxyEvent, Side};
use support::{Harness, RawClient, tags};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Read until the proxy closes the connection; returns what it sent. Fails after 5 s.
async fn closed_after(c: &mut RawClient) -> Result<Vec<u8>> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), c.stream.read(&mut buf))
            .await
            .context("proxy did not close the session")?
            .unwrap_or(0);
        if n == 0 {
            return Ok(all);
        }
        all.extend_from_slice(&buf[..n]);
    }
}

async fn still_serves(h: &Harness) -> Result<()> {
    let mut c = RawClient::connect_trust(h.port(), &h.pg).await?;
    c.send(&[Query::new("SELECT 1").to_frame()]).await?;
    assert_eq!(tags(&c.until_ready().await?), "TDCZ");
    Ok(())
}

fn fatal_code(bytes: &[u8]) -> Option<String> {
    let mut buf = bytes::BytesMut::from(bytes);
    let frame = shakedown_proxy::pg::codec::decode_frame(
        &mut buf,
        shakedown_proxy::pg::Direction::Backend,
        &Default::default(),
    )
    .ok()??;
    ErrorResponse::decode(&frame)
        .ok()
        .and_then(|e| e.sqlstate().map(|s| s.into_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_startup_bytes_close_only_that_connection() -> Result<()> {
    let h = Harness::start(PassThrough).await?;
    let cases: [&[u8]; 5] = [
        b"\0\0\0\x02\0\0",                    // length below the minimum
        b"\x7f\xff\xff\xff\0\x03\0\0",        // huge length
        b"\xff\xff\xff\xf0\0\x03\0\0",        // negative length
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", // garbage (an HTTP request)
        b"\0\0\0\x10\0\x09\0\0user\0x\0\0\0", // protocol 9.0
    ];
    for bytes in cases {
        let mut c = RawClient::connect_unstarted(h.port()).await?;
        c.stream.write_all(bytes).await?;
        closed_after(&mut c).await?;
    }
    // A startup message cut short by the client closing.
    let mut c = RawClient::connect_unstarted(h.port()).await?;
    c.stream.write_all(b"\0\0\0\x40\0\x03\0\0us").await?;
    c.stream.shutdown().await?;
    closed_after(&mut c).await?;
    still_serves(&h).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_after_login_close_only_that_session() -> Result<()> {
    let mut h = Harness::start(PassThrough).await?;
    let other = RawClient::connect_trust(h.port(), &h.pg).await?;

    // Length below 4: FATAL protocol violation, then close.
    let mut c = RawClient::connect_trust(h.port(), &h.pg).await?;
    c.stream.write_all(b"Q\0\0\0\x02").await?;
    assert_eq!(
        fatal_code(&closed_after(&mut c).await?).as_deref(),
        Some("08P01")
    );

    // A 2 GiB statement is refused from its header alone: FATAL 54000, nothing buffered.
    let mut c = RawClient::connect_trust(h.port(), &h.pg).await?;
    c.stream.write_all(b"Q\x7f\xff\xff\xffSELECT").await?;
    assert_eq!(
        fatal_code(&closed_after(&mut c).await?).as_deref(),
        Some("54000")
    );

    // A huge data message is refused the same way.
    let mut c = RawClient::connect_trust(h.port(), &h.pg).await?;
    c.stream.write_all(b"d\x7f\xff\xff\xff").await?;
    assert_eq!(
        fatal_code(&closed_after(&mut c).await?).as_deref(),
        Some("08P01")
    );

    // A Query whose body is not what its tag promises (no NUL terminator).
    let mut c = RawClient::connect_trust(h.port(), &h.pg).await?;
    c.stream.write_all(b"Q\0\0\0\x08abcd").await?;
    assert_eq!(
        fatal_code(&closed_after(&mut c).await?).as_deref(),
        Some("08P01")
    );

    // A truncated message: the client closes mid-frame.
    let mut c = RawClient::connect_trust(h.port(), &h.pg).await?;
    c.stream.write_all(b"Q\0\0\0\x64SELECT").await?;
    c.stream.shutdown().await?;
    closed_after(&mut c).await?;

    // Garbage bytes.
    let mut c = RawClient::connect_trust(h.port(), &h.pg).await?;
    c.stream
        .write_all(&[0xde, 0xad, 0xbe, 0xef, 0x00, 0x11, 0x22, 0x33])
        .await?;
    closed_after(&mut c).await?;

    // The untouched session and new sessions still work.
    let mut other = other;
    other.send(&[Query::new("SELECT 2").to_frame()]).await?;
    assert_eq!(tags(&other.until_ready().await?), "TDCZ");
    still_serves(&h).await?;

    // Each bad session ended as a client-side error, and the upstream backends are gone.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let client_errors = h
        .drain_events()
        .into_iter()
        .filter(|e| {
            matches!(
                e,
                ProxyEvent::SessionEnded {
                    reason: EndReason::Error {
                        side: Side::Client,
                        ..
                    },
                    ..
                }
            )
        })
        .count();
    assert_eq!(client_errors, 6);
    let mut backends = String::new();
    for _ in 0..50 {
        backends = h.pg.admin_sql(
            "postgres",
            "SELECT count(*) FROM pg_stat_activity WHERE usename = 'shakedown_trust'",
        )?;
        if backends.trim() == "1" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        backends.trim(),
        "1",
        "only the healthy session keeps a backend"
    );
    Ok(())
}
