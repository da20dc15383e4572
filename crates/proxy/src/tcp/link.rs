//! One proxied connection: two pipes (client → upstream and upstream → client) that apply the
//! proxy's current toxics to every chunk. Each pipe re-reads the toxic set per chunk and wakes
//! on every change, so toxics added, changed or removed act on open connections.
//!
//! Hot path: on Linux a direction with no toxic is forwarded with `splice(2)` through a pipe
//! ([`splice`]), zero-copy: the bytes never enter user space. It is used while no toxic acts on
//! the direction and nothing has to see the bytes (the count still feeds `limit_data` should
//! one be added). When a toxic starts acting on the direction the pipe is drained to the
//! destination first, then the buffered path below takes over; when the direction's toxics are
//! all removed it returns to splice at the next chunk. If splice is refused (EINVAL/ENOSYS:
//! not Linux, an old kernel, an unusual socket) the link falls back to the buffered path for
//! good, once, for both directions.
//!
//! Buffered path: a chunk that is already waiting is read and written with
//! `try_read`/`try_write` (no futures, no wakers), and the read buffer grows from 16 KiB to
//! 64 KiB while reads keep filling it, so quiet connections stay small. Its two copies through
//! user space, not syscalls, bound its bulk throughput (docs/PERFORMANCE.md).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::model::{Stream, ToxicKind, ToxicSpec};
use super::registry::ToxicSet;

#[cfg(target_os = "linux")]
mod splice;

/// Without `splice(2)` every direction uses the buffered path: the first attempt reports
/// [`End::Unsupported`], which turns splice off for the link.
#[cfg(not(target_os = "linux"))]
mod splice {
    use super::{Conn, End, OwnedReadHalf, OwnedWriteHalf, Stream};

    /// Nothing to hold: no pipe is ever made.
    pub(super) struct Pipe;

    impl Pipe {
        pub(super) fn new() -> std::io::Result<Self> {
            Ok(Self)
        }
    }

    pub(super) async fn run(
        _conn: &Conn,
        _src: &OwnedReadHalf,
        _dst: &OwnedWriteHalf,
        _stream: Stream,
        _changes: &mut tokio::sync::watch::Receiver<u64>,
        _forwarded: &mut u64,
        _pipe: &mut Pipe,
    ) -> End {
        End::Unsupported
    }
}

/// Why the splice path stopped forwarding a direction.
enum End {
    /// A toxic now acts on the direction (the pipe is drained): continue buffered.
    Toxic,
    /// Splice is refused for these sockets: buffered from now on, for the whole link.
    Unsupported,
    /// The source is at EOF (or failed to read) and everything read was forwarded.
    Eof,
    /// The connection ends (cancelled, or the destination failed and the link was closed).
    Stop,
}

/// Bound on connecting to the upstream.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Read buffer per direction at first.
const CHUNK_MIN: usize = 16 * 1024;
/// Largest read buffer per direction (reached only while reads keep filling the buffer).
const CHUNK_MAX: usize = 64 * 1024;
/// Bound on toxic-set changes one delayed chunk reacts to before it just sleeps out the rest.
const MAX_PAUSE_WAKEUPS: u32 = 10_000;

/// Per-connection memory: whether each toxic applies (drawn once from its toxicity) and when
/// it was first seen (timers of `timeout` and `reset_peer` start then).
struct Conn {
    toxics: Arc<ToxicSet>,
    token: CancellationToken,
    reset: AtomicBool,
    /// Splice was refused once on this link: both directions stay buffered.
    no_splice: AtomicBool,
    memo: Mutex<HashMap<String, (bool, Instant)>>,
}

impl Conn {
    /// The toxics acting on `stream` for this connection now, with their first-seen instants.
    fn active(&self, stream: Stream) -> Vec<(ToxicSpec, Instant)> {
        let snapshot = self.toxics.snapshot();
        if snapshot.is_empty() {
            return Vec::new();
        }
        let mut memo = self.memo.lock().unwrap_or_else(|e| e.into_inner());
        let mut rng = rand::rng();
        snapshot
            .iter()
            .filter(|t| t.stream == stream)
            .filter_map(|t| {
                let (applies, since) = *memo
                    .entry(t.name.clone())
                    .or_insert_with(|| (rng.random::<f64>() < t.toxicity, Instant::now()));
                applies.then(|| (t.clone(), since))
            })
            .collect()
    }

    fn close(&self, reset: bool) {
        if reset {
            self.reset.store(true, Ordering::SeqCst);
        }
        self.token.cancel();
    }

    /// Sleeps `d` for toxic `name`, unless the connection ends first (then `false`) or the
    /// toxic is removed meanwhile (then `true` at once: a removed toxic, e.g. on halt, holds
    /// nothing back, even a chunk it was already delaying).
    async fn pause_for(&self, d: Duration, name: &str) -> bool {
        if d.is_zero() {
            return true;
        }
        let until = Instant::now() + d;
        let mut changes = self.toxics.subscribe();
        // Each pass is one change of the toxic set; the deadline ends it anyway.
        for _ in 0..MAX_PAUSE_WAKEUPS {
            tokio::select! {
                _ = self.token.cancelled() => return false,
                _ = tokio::time::sleep_until(until) => return true,
                changed = changes.changed() => {
                    if changed.is_err() || !self.toxics.snapshot().iter().any(|t| t.name == name) {
                        return true;
                    }
                }
            }
        }
        self.pause(until.saturating_duration_since(Instant::now()))
            .await
    }

    /// Sleeps `d` unless the connection ends first (then `false`).
    async fn pause(&self, d: Duration) -> bool {
        if d.is_zero() {
            return true;
        }
        tokio::select! {
            _ = self.token.cancelled() => false,
            _ = tokio::time::sleep(d) => true,
        }
    }
}

/// Serves one accepted client until either side is done or `token` is cancelled.
pub(super) async fn serve(
    client: TcpStream,
    upstream: SocketAddr,
    toxics: Arc<ToxicSet>,
    token: CancellationToken,
) {
    let server = tokio::select! {
        _ = token.cancelled() => return,
        r = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(upstream)) => match r {
            Ok(Ok(s)) => s,
            _ => return,
        },
    };
    let _ = server.set_nodelay(true);
    let conn = Conn {
        toxics,
        token,
        reset: AtomicBool::new(false),
        no_splice: AtomicBool::new(false),
        memo: Mutex::new(HashMap::new()),
    };
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    tokio::join!(
        pipe(&conn, &mut cr, &mut sw, Stream::Upstream),
        pipe(&conn, &mut sr, &mut cw, Stream::Downstream),
    );
    if conn.reset.load(Ordering::SeqCst) {
        // Reunite so dropping does not send a FIN first; linger 0 makes close send an RST.
        for (r, w) in [(cr, cw), (sr, sw)] {
            if let Ok(s) = r.reunite(w) {
                let _ = s.set_zero_linger();
            }
        }
    }
}

/// Forwards `src` → `dst` through the toxics of `stream` until EOF or the connection ends.
async fn pipe(conn: &Conn, src: &mut OwnedReadHalf, dst: &mut OwnedWriteHalf, stream: Stream) {
    let mut buf = vec![0u8; CHUNK_MIN];
    let mut changes = conn.toxics.subscribe();
    let mut forwarded: u64 = 0;
    // Made on the first use of the splice path; `None` after it could not be made.
    let mut pipe: Option<Option<splice::Pipe>> = None;
    loop {
        let mut active = conn.active(stream);
        if active.is_empty() && !conn.no_splice.load(Ordering::Relaxed) {
            let made = pipe.get_or_insert_with(|| splice::Pipe::new().ok());
            if let Some(p) = made {
                match splice::run(conn, src, dst, stream, &mut changes, &mut forwarded, p).await {
                    End::Toxic => {}
                    End::Unsupported => conn.no_splice.store(true, Ordering::Relaxed),
                    End::Eof => {
                        finish(conn, dst, stream).await;
                        return;
                    }
                    End::Stop => return,
                }
                active = conn.active(stream);
            }
        }
        // A `timeout` toxic stops reading (data waits in the socket until it is removed);
        // `timeout` > 0 and `reset_peer` end the connection at a deadline.
        let holding = active
            .iter()
            .any(|(t, _)| matches!(t.kind, ToxicKind::Timeout { .. }));
        let deadline = active
            .iter()
            .filter_map(|(t, since)| match t.kind {
                ToxicKind::Timeout { timeout } if timeout > 0 => {
                    Some((*since + Duration::from_millis(timeout), false))
                }
                ToxicKind::ResetPeer { timeout } => {
                    Some((*since + Duration::from_millis(timeout), true))
                }
                _ => None,
            })
            .min_by_key(|(at, _)| *at);
        // No toxic here and data already waiting: take it directly. `active` was computed
        // from the current set just above, so skipping the change notification loses nothing.
        let ready = if active.is_empty() && !conn.token.is_cancelled() {
            match src.try_read(&mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
                r => Some(r),
            }
        } else {
            None
        };
        let read = if let Some(r) = ready {
            r
        } else {
            tokio::select! {
            biased;
            _ = conn.token.cancelled() => return,
            _ = sleep_until(deadline.map(|d| d.0)), if deadline.is_some() => {
                conn.close(deadline.is_some_and(|d| d.1));
                return;
            }
            changed = changes.changed() => {
                if changed.is_err() {
                    return;
                }
                continue;
            }
            r = src.read(&mut buf), if !holding => r,
            }
        };
        let n = match read {
            Ok(0) | Err(_) => {
                finish(conn, dst, stream).await;
                return;
            }
            Ok(n) => n,
        };
        // Re-read: a change may have landed while we waited for data.
        let active = conn.active(stream);
        if !forward(conn, &active, &buf[..n], dst, &mut forwarded).await {
            return;
        }
        if n == buf.len() && buf.len() < CHUNK_MAX {
            buf.resize(buf.len() * 2, 0);
        }
    }
}

/// At the source's EOF: a slow_close holds the close back, then the half-close goes through.
async fn finish(conn: &Conn, dst: &mut OwnedWriteHalf, stream: Stream) {
    let delay = conn
        .active(stream)
        .iter()
        .filter_map(|(t, _)| match t.kind {
            ToxicKind::SlowClose { delay } => Some(delay),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    if conn.pause(Duration::from_millis(delay)).await {
        let _ = dst.shutdown().await;
    }
}

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
}

/// Sends one chunk through the toxics; `false` when the pipe must stop.
async fn forward(
    conn: &Conn,
    active: &[(ToxicSpec, Instant)],
    data: &[u8],
    dst: &mut OwnedWriteHalf,
    forwarded: &mut u64,
) -> bool {
    let mut data = data;
    let mut close_after = false;
    let mut rate: u64 = 0;
    let mut slicer = None;
    for (t, _) in active {
        match t.kind {
            ToxicKind::Blackhole => return true,
            ToxicKind::LimitData { bytes } => {
                let left = bytes.saturating_sub(*forwarded);
                if (data.len() as u64) >= left {
                    data = &data[..usize::try_from(left).unwrap_or(data.len())];
                    close_after = true;
                }
            }
            ToxicKind::Stall {
                probability,
                duration,
            } => {
                let stall = rand::rng().random::<f64>() < probability;
                if stall
                    && !conn
                        .pause_for(Duration::from_millis(duration), &t.name)
                        .await
                {
                    return false;
                }
            }
            ToxicKind::Latency { latency, jitter } => {
                let delta = if jitter > 0 {
                    rand::rng().random_range(0..=2 * jitter) as i64 - jitter as i64
                } else {
                    0
                };
                let ms = (latency as i64 + delta).max(0) as u64;
                if !conn.pause_for(Duration::from_millis(ms), &t.name).await {
                    return false;
                }
            }
            ToxicKind::Bandwidth { rate: r } => rate = r,
            ToxicKind::Slicer {
                average_size,
                size_variation,
                delay,
            } => slicer = Some((average_size, size_variation, delay)),
            ToxicKind::SlowClose { .. }
            | ToxicKind::Timeout { .. }
            | ToxicKind::ResetPeer { .. } => {}
        }
    }
    let mut rest = data;
    while !rest.is_empty() {
        let piece = match slicer {
            Some((avg, var, _)) => {
                let var = var.min(avg.saturating_sub(1));
                let size = rand::rng().random_range(avg - var..=avg + var);
                usize::try_from(size)
                    .unwrap_or(usize::MAX)
                    .clamp(1, rest.len())
            }
            // Bandwidth: pieces of ~100 ms worth so the rate is smooth.
            None if rate > 0 => usize::try_from(rate * 100)
                .unwrap_or(usize::MAX)
                .clamp(1, rest.len()),
            None => rest.len(),
        };
        let (now, later) = rest.split_at(piece);
        match write_all(conn, dst, now).await {
            Written::All => {}
            Written::Cancelled => return false,
            Written::Failed => {
                conn.close(false);
                return false;
            }
        }
        *forwarded += now.len() as u64;
        rest = later;
        if rate > 0
            && !conn
                .pause(Duration::from_secs_f64(
                    now.len() as f64 / (rate as f64 * 1000.0),
                ))
                .await
        {
            return false;
        }
        if let Some((_, _, delay)) = slicer
            && !rest.is_empty()
            && !conn.pause(Duration::from_micros(delay)).await
        {
            return false;
        }
    }
    if close_after {
        conn.close(false);
        return false;
    }
    true
}

enum Written {
    All,
    Cancelled,
    Failed,
}

/// Writes all of `data`: straight into the socket while it takes data, waiting for room (or
/// the end of the connection) only when it is full.
async fn write_all(conn: &Conn, dst: &OwnedWriteHalf, mut data: &[u8]) -> Written {
    while !data.is_empty() {
        if conn.token.is_cancelled() {
            return Written::Cancelled;
        }
        match dst.try_write(data) {
            Ok(0) => return Written::Failed,
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let room = tokio::select! {
                    _ = conn.token.cancelled() => return Written::Cancelled,
                    r = dst.as_ref().writable() => r,
                };
                if room.is_err() {
                    return Written::Failed;
                }
            }
            Err(_) => return Written::Failed,
        }
    }
    Written::All
}
