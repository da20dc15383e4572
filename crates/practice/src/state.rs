//! What every handler and guard shares: the database, the flavour, body limits and the
//! counters `/admin/stats` reports.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::Flavor;
use crate::db::Db;

/// The peer address of the connection a request arrived on (set by the server, never taken
/// from a header such as `X-Forwarded-For`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// Counters of what the server did; read by `/admin/stats` and by tests.
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub unauthorized: AtomicU64,
    pub rate_limited: AtomicU64,
    pub payload_too_large: AtomicU64,
    pub shed: AtomicU64,
    pub connections_open: AtomicU64,
    pub connections_refused: AtomicU64,
}

impl Stats {
    /// Adds one to a counter.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
    /// Reads a counter.
    pub fn read(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Shared application state.
pub struct AppState {
    pub flavor: Flavor,
    pub db: Db,
    pub stats: std::sync::Arc<Stats>,
    /// Largest body a handler reads.
    pub max_body: usize,
    /// Longest pause between two chunks of a body.
    pub body_idle: Duration,
    pub started: Instant,
}
