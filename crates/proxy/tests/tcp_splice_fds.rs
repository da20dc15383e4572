//! The zero-copy path is really taken on Linux and cleans up after itself: a link with no
//! toxic opens one kernel pipe per direction (counted in /proc/self/fd), and closing the link
//! closes them. The only test in its binary, so no other test's pipes blur the count.

#![cfg(target_os = "linux")]

#[path = "tcp_support/support.rs"]
mod tcp_support;

use std::time::{Duration, Instant};

use anyhow::Result;
use tcp_support::{Api, echo_server, round_trip};
use tokio::net::TcpStream;

/// Open file descriptors of this process that are pipe ends.
fn pipe_fds() -> Result<usize> {
    let mut n = 0;
    for entry in std::fs::read_dir("/proc/self/fd")? {
        // An fd closed between listing and reading the link is simply not counted.
        if let Ok(target) = std::fs::read_link(entry?.path())
            && target.to_string_lossy().starts_with("pipe:")
        {
            n += 1;
        }
    }
    Ok(n)
}

#[tokio::test]
async fn a_link_splices_through_two_pipes_and_closes_them() -> Result<()> {
    let api = Api::start().await?;
    let echo = echo_server(api.stop.clone()).await?;
    let addr = api.proxy("fds", echo).await?;
    let before = pipe_fds()?;

    let mut s = TcpStream::connect(addr).await?;
    // One round trip takes both directions through the splice path at least once.
    round_trip(&mut s, b"ping").await?;
    round_trip(&mut s, &[7u8; 100_000]).await?;
    // Two ends (read and write) of one pipe per direction.
    assert_eq!(
        pipe_fds()?.saturating_sub(before),
        4,
        "pipes while the link is open"
    );

    drop(s);
    let t = Instant::now();
    while pipe_fds()? != before {
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "the link's pipes stayed open: {} > {before}",
            pipe_fds()?
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}
