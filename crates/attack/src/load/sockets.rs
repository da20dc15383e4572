//! What the attacks that hold many raw connections share (slowloris, connection_exhaustion):
//! gated connects, waiting on their progress, collecting the connection tasks, reading the
//! status line a server sent, and millisecond figures for the evidence.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio::time::error::Elapsed;
use tokio_util::sync::CancellationToken;

use crate::evidence::excerpt;

/// Connects in flight at once, so a burst of SYNs does not overflow the listen backlog.
pub(super) const CONNECT_PARALLELISM: usize = 64;
/// Our own cap on connect and probe deadlines.
pub(super) const MAX_OWN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long [`collect`] waits for the connection tasks to wind down (close their sockets).
const COLLECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Connects to `addr` within `timeout`, once `gate` lets one more connect be in flight.
pub(super) async fn connect(
    gate: &Semaphore,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<std::io::Result<TcpStream>, Elapsed> {
    let _permit = gate.acquire().await;
    tokio::time::timeout(timeout, TcpStream::connect(addr)).await
}

/// Waits until `done()` holds, `limit` passes or `stop` fires, looking again each time
/// `changed` is notified.
pub(super) async fn wait_for(
    changed: &Notify,
    stop: &CancellationToken,
    limit: Instant,
    done: impl Fn() -> bool,
) {
    while !done() && Instant::now() < limit && !stop.is_cancelled() {
        tokio::select! {
            _ = changed.notified() => {}
            _ = tokio::time::sleep_until(limit) => {}
            _ = stop.cancelled() => {}
        }
    }
}

/// What the tasks returned, waiting at most [`COLLECT_TIMEOUT`] for them to end; the rest are
/// aborted, so every socket is closed when this returns.
pub(super) async fn collect<T: 'static>(mut tasks: JoinSet<T>) -> Vec<T> {
    let mut ended = Vec::with_capacity(tasks.len());
    let _ = tokio::time::timeout(COLLECT_TIMEOUT, async {
        while let Some(joined) = tasks.join_next().await {
            if let Ok(t) = joined {
                ended.push(t);
            }
        }
    })
    .await;
    tasks.shutdown().await;
    ended
}

/// The first line of what a server sent, cut for the evidence, and the status in it when it
/// is a status line (`HTTP/1.1 408 Request Time-out`).
pub(super) fn status_line(bytes: &[u8]) -> (String, Option<u16>) {
    let text = String::from_utf8_lossy(bytes);
    let line = text.lines().next().unwrap_or_default().to_string();
    let status = line
        .strip_prefix("HTTP/")
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok());
    (excerpt(&line, 120), status)
}

/// `d` in milliseconds, rounded to a tenth.
pub(super) fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 10.0).round() / 10.0
}
