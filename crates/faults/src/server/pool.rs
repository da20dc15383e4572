//! Keep-alive connections to upstreams, reused by calls that pass through untouched, so the
//! no-fault path pays no TCP (or TLS) handshake per call. Small and bounded: at most
//! [`MAX_IDLE_PER_KEY`] idle HTTP/1.1 connections per upstream authority, each dropped after
//! [`IDLE_TIMEOUT`] unused (shorter than the 5 s keep-alive common servers use, so the proxy
//! rarely writes to a connection the upstream is just closing).
//!
//! A connection goes back to the pool only once hyper says it is ready for the next request,
//! that is after the previous response body was read to its end; a body dropped halfway (the
//! client left, a fault cut it) makes hyper close that connection instead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::route::Scheme;

/// Idle connections kept per upstream authority.
pub const MAX_IDLE_PER_KEY: usize = 32;
/// Authorities with idle connections kept at once (a forward proxy can see many hosts).
pub const MAX_KEYS: usize = 256;
/// An idle connection unused this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(4);
/// How often idle connections past their timeout are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Which connections are interchangeable: same scheme, host and port, and the same trust
/// (a connection opened for a configured route skipped the forward-proxy scope checks, so it
/// is never handed to a forward-proxy call).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PoolKey {
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
    pub trusted: bool,
}

/// A connection's request side.
pub type Sender = SendRequest<Full<Bytes>>;

struct Idle {
    sender: Sender,
    since: Instant,
}

/// The pool.
pub struct Pool {
    idle: Mutex<HashMap<PoolKey, Vec<Idle>>>,
    tracker: TaskTracker,
    halt: CancellationToken,
}

impl Pool {
    /// An empty pool whose helper tasks run on `tracker` and stop at `halt`.
    pub fn new(tracker: TaskTracker, halt: CancellationToken) -> Arc<Pool> {
        let pool = Arc::new(Pool {
            idle: Mutex::new(HashMap::new()),
            tracker: tracker.clone(),
            halt: halt.clone(),
        });
        let weak = Arc::downgrade(&pool);
        tracker.spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(SWEEP_EVERY) => {}
                    _ = halt.cancelled() => break,
                }
                let Some(pool) = weak.upgrade() else { break };
                pool.sweep();
            }
            if let Some(pool) = weak.upgrade() {
                // Dropping the senders lets every idle connection task end.
                pool.lock().clear();
            }
        });
        pool
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PoolKey, Vec<Idle>>> {
        // Inserts and removals cannot leave the map inconsistent if a holder panicked.
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An idle connection for `key` that is still open and ready, newest first.
    pub fn checkout(&self, key: &PoolKey) -> Option<Sender> {
        let mut idle = self.lock();
        let list = idle.get_mut(key)?;
        let now = Instant::now();
        let mut found = None;
        while let Some(c) = list.pop() {
            if now.duration_since(c.since) < IDLE_TIMEOUT && c.sender.is_ready() {
                found = Some(c.sender);
                break;
            }
        }
        if list.is_empty() {
            idle.remove(key);
        }
        found
    }

    /// Puts `sender` back once its connection is ready for another request (the response
    /// body was read to the end); a connection that closes instead is forgotten.
    pub fn checkin(self: &Arc<Pool>, key: PoolKey, mut sender: Sender) {
        if self.halt.is_cancelled() {
            return;
        }
        let pool = Arc::clone(self);
        let halt = self.halt.clone();
        self.tracker.spawn(async move {
            let ready = tokio::select! {
                r = tokio::time::timeout(IDLE_TIMEOUT, sender.ready()) => matches!(r, Ok(Ok(()))),
                _ = halt.cancelled() => false,
            };
            if ready {
                pool.put(key, sender);
            }
        });
    }

    fn put(&self, key: PoolKey, sender: Sender) {
        let mut idle = self.lock();
        if !idle.contains_key(&key) && idle.len() >= MAX_KEYS {
            return;
        }
        let list = idle.entry(key).or_default();
        if list.len() >= MAX_IDLE_PER_KEY {
            // The oldest goes: it is the likeliest to be closed by the upstream.
            list.remove(0);
        }
        list.push(Idle {
            sender,
            since: Instant::now(),
        });
    }

    /// Drops connections idle past [`IDLE_TIMEOUT`] or already closed.
    fn sweep(&self) {
        let now = Instant::now();
        self.lock().retain(|_, list| {
            list.retain(|c| now.duration_since(c.since) < IDLE_TIMEOUT && !c.sender.is_closed());
            !list.is_empty()
        });
    }
}
