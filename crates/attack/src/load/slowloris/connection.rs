//! One slow connection: connect (a few at a time), trickle the request head one byte at a
//! time with jittered gaps, and note how the connection ended: dropped by the server (closed,
//! reset or answered) or still open when the attack stopped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rand::Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::load::sockets;

/// Progress shared between the connection tasks and the probe loop.
#[derive(Default)]
pub(super) struct Progress {
    /// Connect attempts finished, successful or not.
    pub(super) attempted: AtomicUsize,
    /// Slow connections currently open.
    pub(super) open: AtomicUsize,
    /// Connections that ended: never opened, or dropped by the server.
    pub(super) resolved: AtomicUsize,
    /// Signalled on every change; a single waiter (the probe loop) consumes it.
    pub(super) changed: Notify,
}

impl Progress {
    pub(super) fn bump(&self, counter: &AtomicUsize) {
        counter.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_one();
    }
}

/// How a slow connection ended.
#[derive(Debug, Clone)]
pub(super) enum End {
    NeverOpened(String),
    /// The server closed, reset or answered; `after` counts from the connect.
    Dropped {
        after: Duration,
        how: Cause,
    },
    /// Still open when the attack stopped.
    StillOpen {
        after: Duration,
    },
}

#[derive(Debug, Clone)]
pub(super) enum Cause {
    /// The server answered (first line kept), e.g. `HTTP/1.1 408 Request Time-out`.
    Answered {
        status: Option<u16>,
        line: String,
    },
    Closed,
    Reset(String),
    WriteFailed(String),
}

impl Cause {
    pub(super) fn label(&self) -> String {
        match self {
            Cause::Answered {
                status: Some(s), ..
            } => s.to_string(),
            Cause::Answered { status: None, .. } => "answered".into(),
            Cause::Closed => "closed".into(),
            Cause::Reset(_) => "reset".into(),
            Cause::WriteFailed(_) => "write_failed".into(),
        }
    }
    pub(super) fn describe(&self) -> String {
        match self {
            Cause::Answered { line, .. } => format!("server answered `{line}`"),
            Cause::Closed => "server closed the connection".into(),
            Cause::Reset(e) => format!("connection reset ({e})"),
            Cause::WriteFailed(e) => format!("write failed ({e})"),
        }
    }
}

pub(super) struct SlowConn {
    pub(super) index: usize,
    pub(super) end: End,
    pub(super) bytes_sent: u64,
}

/// What every slow connection shares.
pub(super) struct Trickle {
    pub(super) addr: SocketAddr,
    pub(super) head: Arc<[u8]>,
    /// Mean gap between two bytes.
    pub(super) interval: Duration,
    pub(super) connect_timeout: Duration,
    /// Limits connects in flight to [`CONNECT_PARALLELISM`](sockets::CONNECT_PARALLELISM).
    pub(super) gate: Semaphore,
    pub(super) stop: CancellationToken,
    pub(super) progress: Arc<Progress>,
}

pub(super) async fn slow_connection(index: usize, t: Arc<Trickle>) -> SlowConn {
    let Trickle {
        addr,
        head,
        interval,
        connect_timeout,
        gate,
        stop,
        progress,
    } = &*t;
    let (addr, interval, connect_timeout) = (*addr, *interval, *connect_timeout);
    let never = |why: String| {
        progress.bump(&progress.attempted);
        progress.bump(&progress.resolved);
        SlowConn {
            index,
            end: End::NeverOpened(why),
            bytes_sent: 0,
        }
    };
    let connected = tokio::select! {
        c = sockets::connect(gate, addr, connect_timeout) => c,
        _ = stop.cancelled() => return never("stopped before connecting".into()),
    };
    let mut stream = match connected {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return never(e.to_string()),
        Err(_) => return never(format!("connect timed out after {connect_timeout:?}")),
    };
    let opened = Instant::now();
    progress.bump(&progress.open);
    progress.bump(&progress.attempted);
    // One byte per segment: Nagle would batch our trickle.
    let _ = stream.set_nodelay(true);

    let (mut rd, mut wr) = stream.split();
    let mut buf = [0u8; 512];
    let mut sent = 0usize;
    // Random first offset so the connections' bytes are spread over the interval.
    let mut next = Instant::now() + jittered(interval / 2);
    let how = loop {
        tokio::select! {
            _ = stop.cancelled() => {
                return SlowConn { index, end: End::StillOpen { after: opened.elapsed() }, bytes_sent: sent as u64 };
            }
            r = rd.read(&mut buf) => break match r {
                Ok(0) => Cause::Closed,
                Ok(n) => answered(&buf[..n]),
                Err(e) => Cause::Reset(e.to_string()),
            },
            _ = tokio::time::sleep_until(next) => {
                if sent < head.len() {
                    let written = tokio::select! {
                        w = wr.write_all(&head[sent..sent + 1]) => w,
                        _ = stop.cancelled() => continue,
                    };
                    if let Err(e) = written {
                        break Cause::WriteFailed(e.to_string());
                    }
                    sent += 1;
                }
                next = Instant::now() + jittered(interval);
            }
        }
    };
    let after = opened.elapsed();
    progress.open.fetch_sub(1, Ordering::SeqCst);
    progress.bump(&progress.resolved);
    SlowConn {
        index,
        end: End::Dropped { after, how },
        bytes_sent: sent as u64,
    }
}

/// The gap before the next byte: the mean interval ±50%, so connections do not move in
/// lockstep.
fn jittered(mean: Duration) -> Duration {
    let factor: f64 = rand::rng().random_range(0.5..1.5);
    mean.mul_f64(factor)
}

/// Reads the status out of the first bytes the server sent, e.g. `HTTP/1.1 408 ...`.
fn answered(bytes: &[u8]) -> Cause {
    let (line, status) = sockets::status_line(bytes);
    Cause::Answered { status, line }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_parsed() {
        match answered(b"HTTP/1.1 408 Request Time-out\r\nServer: nginx\r\n") {
            Cause::Answered { status, line } => {
                assert_eq!(status, Some(408));
                assert_eq!(line, "HTTP/1.1 408 Request Time-out");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            answered(b"garbage"),
            Cause::Answered { status: None, .. }
        ));
    }
}
