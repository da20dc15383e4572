//! A Query or Parse over the statement cap fails alone: ErrorResponse 54000 at its place,
//! its bytes skipped as they arrive (here in slow pieces), the transaction status a real
//! error leaves, and the session goes on — raw frames and tokio-postgres.

#[path = "support/proxy.rs"]
mod support;

use std::time::Duration;

use anyhow::Result;
use shakedown_proxy::pg::codec::FrameLimits;
use shakedown_proxy::pg::messages::{Bind, ErrorResponse, Execute, Message, Parse, Query, Sync};
use shakedown_proxy::pg::{PassThrough, TransactionStatus};
use support::{Harness, RawClient, sqlstates, status, tags};
use tokio::io::AsyncWriteExt;
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

const CAP: usize = 1000;

async fn harness() -> Result<Harness> {
    Harness::start_with(PassThrough, |c| {
        c.with_limits(FrameLimits {
            max_statement: CAP,
            ..FrameLimits::default()
        })
    })
    .await
}

/// A SELECT whose Query body (text and NUL) is exactly `body` bytes.
fn select_of(body: usize) -> String {
    format!("SELECT '{}'", "x".repeat(body - 10))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_statement_fails_alone() -> Result<()> {
    let h = harness().await?;
    let mut c = RawClient::connect_trust(h.port(), &h.pg).await?;

    // At the cap: fine.
    c.send(&[Query::new(select_of(CAP)).to_frame()]).await?;
    assert_eq!(tags(&c.until_ready().await?), "TDCZ");

    // Over it, arriving in slow pieces: 54000 naming both sizes, then 'I'.
    let big = Query::new(select_of(5000)).to_frame();
    for piece in big.as_bytes().chunks(700) {
        c.stream.write_all(piece).await?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let frames = c.until_ready().await?;
    assert_eq!(tags(&frames), "EZ");
    let e = ErrorResponse::decode(&frames[0])?;
    assert_eq!(e.sqlstate().as_deref(), Some("54000"));
    assert_eq!(
        e.message().as_deref(),
        Some("statement too large: 5000 bytes, limit 1000")
    );
    assert_eq!(status(&frames), TransactionStatus::Idle);

    // Pipelined between two others: answered in order.
    c.send(&[
        Query::new("SELECT 1").to_frame(),
        big.clone(),
        Query::new("SELECT 2").to_frame(),
    ])
    .await?;
    assert_eq!(tags(&c.until_ready().await?), "TDCZ");
    assert_eq!(sqlstates(&c.until_ready().await?), ["54000"]);
    assert_eq!(tags(&c.until_ready().await?), "TDCZ");

    // Inside a block it fails the block, like any error.
    c.send(&[Query::new("BEGIN").to_frame(), big.clone()])
        .await?;
    c.until_ready().await?;
    assert_eq!(status(&c.until_ready().await?), TransactionStatus::Failed);
    c.send(&[Query::new("ROLLBACK").to_frame()]).await?;
    assert_eq!(status(&c.until_ready().await?), TransactionStatus::Idle);

    // An oversized Parse fails its batch, and its name stays refused afterwards.
    c.send(&[
        Parse::new("big", select_of(3000)).to_frame(),
        Bind::new("", "big").to_frame(),
        Execute::new("").to_frame(),
        Sync.to_frame(),
    ])
    .await?;
    let frames = c.until_ready().await?;
    assert_eq!(tags(&frames), "EZ");
    assert_eq!(sqlstates(&frames), ["54000"]);
    c.send(&[
        Bind::new("", "big").to_frame(),
        Execute::new("").to_frame(),
        Sync.to_frame(),
    ])
    .await?;
    assert_eq!(sqlstates(&c.until_ready().await?), ["54000"]);

    c.send(&[Query::new("SELECT 3").to_frame()]).await?;
    assert_eq!(tags(&c.until_ready().await?), "TDCZ");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_postgres_gets_54000_and_carries_on() -> Result<()> {
    let h = harness().await?;
    let (client, conn) = tokio_postgres::connect(&h.pg.url_via(h.port()), NoTls).await?;
    tokio::spawn(conn);
    let err = client
        .query(&select_of(4000), &[])
        .await
        .expect_err("over the cap");
    assert_eq!(err.code(), Some(&SqlState::PROGRAM_LIMIT_EXCEEDED));
    let n: i32 = client.query_one("SELECT $1::int", &[&5i32]).await?.get(0);
    assert_eq!(n, 5);
    Ok(())
}
