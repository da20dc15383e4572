//! The TCP fault proxy's zero-copy path (splice through a pipe while a direction has no toxic):
//! 50 MB of random bytes each way arrive intact (SHA-256 equal) with the half-close passed on,
//! and a latency toxic added while bytes stream switches the direction to the buffered path
//! (the delay applies, no byte is lost or reordered) and back once it is removed.

#[path = "tcp_support/support.rs"]
mod tcp_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};
use serde_json::json;
use sha2::{Digest, Sha256};
use tcp_support::{Api, echo_server, round_trip};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Bytes sent each way in the integrity test.
const BULK: usize = 50 * 1024 * 1024;
/// Bound on any one transfer below; the transfers take well under a second on loopback.
const WAIT: Duration = Duration::from_secs(20);

/// `len` random bytes: a fast generator seeded from the OS (the cryptographic one takes
/// seconds for 100 MB in a debug build).
fn random(len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    SmallRng::seed_from_u64(rand::random()).fill_bytes(&mut v);
    v
}

/// SHA-256 of `data`, computed on the blocking pool so it overlaps the transfer.
fn digest(data: &Arc<Vec<u8>>) -> tokio::task::JoinHandle<[u8; 32]> {
    let data = Arc::clone(data);
    tokio::task::spawn_blocking(move || Sha256::digest(data.as_slice()).into())
}

/// Reads `s` until EOF; returns the SHA-256 and the length of what arrived.
async fn hash_to_eof<R: AsyncReadExt + Unpin>(s: &mut R) -> Result<([u8; 32], usize)> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0;
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            return Ok((h.finalize().into(), total));
        }
        h.update(&buf[..n]);
        total += n;
    }
}

/// A server on 127.0.0.1:0 for one connection: sends `payload` and half-closes while it
/// hashes everything it receives until EOF. The task yields that hash and length.
async fn source_sink(
    payload: Arc<Vec<u8>>,
) -> Result<(
    std::net::SocketAddr,
    tokio::task::JoinHandle<Result<([u8; 32], usize)>>,
)> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    let task = tokio::spawn(async move {
        let (s, _) = tokio::time::timeout(WAIT, l.accept()).await??;
        let (mut r, mut w) = s.into_split();
        let send = async {
            w.write_all(&payload).await?;
            w.shutdown().await?;
            anyhow::Ok(())
        };
        let (sent, got) = tokio::join!(send, hash_to_eof(&mut r));
        sent?;
        got
    });
    Ok((addr, task))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn splice_path_moves_50_mb_each_way_intact() -> Result<()> {
    let api = Api::start().await?;
    let up = Arc::new(random(BULK));
    let down = Arc::new(random(BULK));
    let (up_sent, down_sent) = (digest(&up), digest(&down));
    let (server, served) = source_sink(Arc::clone(&down)).await?;
    let addr = api.proxy("bulk", server).await?;

    let s = TcpStream::connect(addr).await?;
    let (mut r, mut w) = s.into_split();
    let send = async {
        w.write_all(&up).await?;
        w.shutdown().await?;
        anyhow::Ok(())
    };
    let (sent, got) = tokio::time::timeout(WAIT, async { tokio::join!(send, hash_to_eof(&mut r)) })
        .await
        .context("the 50 MB transfer did not finish")?;
    sent?;
    let (down_hash, down_len) = got?;
    let (up_hash, up_len) = tokio::time::timeout(WAIT, served).await???;

    // Both EOFs arrived (the half-closes went through) after exactly the bytes sent.
    assert_eq!((up_len, down_len), (BULK, BULK));
    assert_eq!(up_hash, up_sent.await?, "client → server");
    assert_eq!(down_hash, down_sent.await?, "server → client");
    Ok(())
}

/// The byte at `offset` of the switching test's stream: a loss or reordering shifts offsets,
/// so it shows as a mismatch.
fn pattern(offset: u64) -> u8 {
    (offset.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8
}

/// Writes `len` pattern bytes from `*offset` in `piece`-sized writes, `gap` apart.
async fn write_pattern<W: AsyncWriteExt + Unpin>(
    w: &mut W,
    offset: &mut u64,
    len: u64,
    piece: u64,
    gap: Duration,
) -> Result<()> {
    let end = *offset + len;
    while *offset < end {
        let n = piece.min(end - *offset);
        let chunk: Vec<u8> = (*offset..*offset + n).map(pattern).collect();
        w.write_all(&chunk).await?;
        *offset += n;
        if !gap.is_zero() {
            tokio::time::sleep(gap).await;
        }
    }
    Ok(())
}

/// Reads `len` bytes and checks each against the pattern from `*offset`; `seen` counts them.
async fn read_pattern<R: AsyncReadExt + Unpin>(
    r: &mut R,
    offset: &mut u64,
    len: u64,
    seen: &AtomicU64,
) -> Result<()> {
    let end = *offset + len;
    let mut buf = vec![0u8; 64 * 1024];
    while *offset < end {
        let want = usize::try_from(end - *offset)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = r.read(&mut buf[..want]).await?;
        ensure!(n > 0, "EOF at byte {offset}");
        for (i, b) in buf[..n].iter().enumerate() {
            let at = *offset + i as u64;
            ensure!(
                *b == pattern(at),
                "byte {at} is {b}, expected {}",
                pattern(at)
            );
        }
        *offset += n as u64;
        seen.store(*offset, Ordering::SeqCst);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_added_mid_stream_switches_path_and_keeps_bytes_in_order() -> Result<()> {
    const LATENCY: Duration = Duration::from_millis(50);
    const MIB: u64 = 1024 * 1024;
    let api = Api::start().await?;
    let echo = echo_server(api.stop.clone()).await?;
    let addr = api.proxy("switch", echo).await?;
    let mut s = TcpStream::connect(addr).await?;
    let fast = round_trip(&mut s, b"ping").await?;
    assert!(fast < Duration::from_millis(100), "{fast:?}");

    // Stream 2 MiB at full speed, then 512 KiB in paced pieces; the toxic lands once 1 MiB
    // came back, with bytes in flight in both directions.
    let (mut written, mut read) = (0u64, 0u64);
    let seen = AtomicU64::new(0);
    let (mut r, mut w) = s.split();
    let writer = async {
        write_pattern(&mut w, &mut written, 2 * MIB, 64 * 1024, Duration::ZERO).await?;
        write_pattern(
            &mut w,
            &mut written,
            MIB / 2,
            32 * 1024,
            Duration::from_millis(5),
        )
        .await
    };
    let reader = read_pattern(&mut r, &mut read, 2 * MIB + MIB / 2, &seen);
    let toxic = async {
        while seen.load(Ordering::SeqCst) < MIB {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let at = seen.load(Ordering::SeqCst);
        api.toxic(
            "switch",
            json!({"type": "latency", "attributes": {"latency": LATENCY.as_millis() as u64}}),
        )
        .await?;
        anyhow::Ok(at)
    };
    let (wrote, got, added_at) =
        tokio::time::timeout(WAIT, async { tokio::join!(writer, reader, toxic) })
            .await
            .context("the stream stalled after the switch")?;
    wrote?;
    got?;
    let added_at = added_at?;
    assert!(
        added_at < 2 * MIB + MIB / 2,
        "the toxic landed mid-stream at byte {added_at}"
    );

    // The open connection now goes through the buffered path with the delay.
    let slowed = round_trip(&mut s, b"ping").await?;
    assert!(slowed >= LATENCY, "{slowed:?}");
    assert!(slowed < Duration::from_millis(1000), "{slowed:?}");

    let (status, _) = api
        .call("DELETE", "/proxies/switch/toxics/latency_downstream", None)
        .await?;
    assert_eq!(status, 204);
    let after = round_trip(&mut s, b"ping").await?;
    assert!(after < LATENCY, "{after:?}");

    // Back on the fast path: 4 MiB more, in order, far quicker than the 64+ delayed chunks
    // (≥ 3.2 s) the buffered path with the toxic would need.
    let t = Instant::now();
    let (mut r, mut w) = s.split();
    let (wrote, got) = tokio::time::timeout(WAIT, async {
        tokio::join!(
            write_pattern(&mut w, &mut written, 4 * MIB, 64 * 1024, Duration::ZERO),
            read_pattern(&mut r, &mut read, 4 * MIB, &seen),
        )
    })
    .await?;
    wrote?;
    got?;
    let took = t.elapsed();
    assert!(took < Duration::from_millis(1500), "{took:?}");
    assert_eq!(read, written);
    Ok(())
}
