//! One held connection: connect (a few at a time), send nothing, and note whether the server
//! closed it by itself before we released it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::load::sockets;

/// Counters shared by the holding tasks.
#[derive(Default)]
pub(super) struct Progress {
    pub(super) attempted: AtomicUsize,
    /// Connections ever opened.
    pub(super) opened: AtomicUsize,
    /// Connections open right now.
    pub(super) open: AtomicUsize,
    pub(super) changed: Notify,
}

/// How one held connection ended.
#[derive(Debug, Clone)]
pub(super) enum End {
    Refused(String),
    ConnectTimeout,
    /// The server closed (or answered and closed) the idle connection by itself.
    ServerClosed {
        after: Duration,
        how: String,
        status: Option<u16>,
    },
    /// Still open when we released it.
    Released,
    /// Released (or halted) before its connect could start.
    NotAttempted,
}

pub(super) struct Held {
    pub(super) index: usize,
    pub(super) end: End,
}

pub(super) async fn hold_connection(
    index: usize,
    addr: SocketAddr,
    connect_timeout: Duration,
    gate: Arc<Semaphore>,
    release: CancellationToken,
    progress: Arc<Progress>,
) -> Held {
    let attempted = || {
        progress.attempted.fetch_add(1, Ordering::SeqCst);
        progress.changed.notify_one();
    };
    let connected = tokio::select! {
        c = sockets::connect(&gate, addr, connect_timeout) => c,
        _ = release.cancelled() => {
            attempted();
            return Held { index, end: End::NotAttempted };
        }
    };
    let mut stream = match connected {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            attempted();
            return Held {
                index,
                end: End::Refused(e.to_string()),
            };
        }
        Err(_) => {
            attempted();
            return Held {
                index,
                end: End::ConnectTimeout,
            };
        }
    };
    let opened = Instant::now();
    progress.opened.fetch_add(1, Ordering::SeqCst);
    progress.open.fetch_add(1, Ordering::SeqCst);
    attempted();

    // Idle: we send nothing. Anything the server does is its own decision.
    let mut buf = [0u8; 256];
    let end = tokio::select! {
        _ = release.cancelled() => End::Released,
        r = stream.read(&mut buf) => {
            let after = opened.elapsed();
            let (how, status) = match r {
                Ok(0) => ("closed".to_string(), None),
                Ok(n) => {
                    let (line, status) = sockets::status_line(&buf[..n]);
                    (format!("answered `{line}` and closed"), status)
                }
                Err(e) => (format!("reset ({e})"), None),
            };
            progress.open.fetch_sub(1, Ordering::SeqCst);
            End::ServerClosed { after, how, status }
        }
    };
    // The stream drops here: the socket is closed whether released or closed by the server.
    Held { index, end }
}
