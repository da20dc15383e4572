//! The listener's lifecycle: graceful shutdown tells live sessions (FATAL 57P01) and waits for
//! them, the session limit answers like PostgreSQL (53300), an unreachable upstream is reported
//! to the client (08006), and an outside halt token stops the proxy.

#[path = "support/proxy.rs"]
mod support;

use std::time::Duration;

use anyhow::Result;
use shakedown_proxy::pg::messages::{ErrorResponse, Message, StartupMessage};
use shakedown_proxy::pg::{PassThrough, PgProxy, PgProxyConfig};
use support::{Harness, RawClient};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

async fn fatal_of(c: &mut RawClient) -> Result<Option<String>> {
    let Some(frame) = c.next().await? else {
        return Ok(None);
    };
    Ok(ErrorResponse::decode(&frame)?
        .sqlstate()
        .map(|s| s.into_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_sessions_with_admin_shutdown_and_waits() -> Result<()> {
    let h = Harness::start(PassThrough).await?;
    let port = h.port();
    let mut idle = RawClient::connect_trust(port, &h.pg).await?;
    assert_eq!(h.proxy.cancellable_sessions(), 1);
    tokio::time::timeout(Duration::from_secs(5), h.proxy.shutdown()).await?;
    assert_eq!(fatal_of(&mut idle).await?.as_deref(), Some("57P01"));
    assert!(idle.next().await?.is_none(), "closed after the FATAL");
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_limit_and_unreachable_upstream_are_reported() -> Result<()> {
    let h = Harness::start_with(PassThrough, |mut c| {
        c.max_sessions = 1;
        c
    })
    .await?;
    let _first = RawClient::connect_trust(h.port(), &h.pg).await?;
    let mut second = RawClient::connect_unstarted(h.port()).await?;
    assert_eq!(fatal_of(&mut second).await?.as_deref(), Some("53300"));

    // An upstream port nobody listens on.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let halt = CancellationToken::new();
    let proxy = PgProxy::bind_with(
        PgProxyConfig::new("127.0.0.1:0".parse()?, dead).with_halt(halt.clone()),
        PassThrough,
    )
    .await?;
    let mut c = RawClient::connect_unstarted(proxy.local_addr().port()).await?;
    let startup = StartupMessage::new([("user", "x"), ("database", "y")]);
    c.stream.write_all(startup.to_frame().as_bytes()).await?;
    assert_eq!(fatal_of(&mut c).await?.as_deref(), Some("08006"));

    // The outside halt stops it.
    let port = proxy.local_addr().port();
    halt.cancel();
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    anyhow::bail!("proxy still accepting after halt")
}
