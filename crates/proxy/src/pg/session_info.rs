//! [`SessionInfo`]: what an interceptor knows about the session a statement came from. The
//! transaction status and backend pid change during the session, so they are atomics.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};
use std::time::Instant;

use super::messages::{StartupMessage, TransactionStatus};

/// One proxied client session.
#[derive(Debug)]
pub struct SessionInfo {
    id: u64,
    peer: SocketAddr,
    startup: StartupMessage,
    started: Instant,
    status: AtomicU8,
    backend_pid: AtomicI32,
}

impl SessionInfo {
    pub(crate) fn new(id: u64, peer: SocketAddr, startup: StartupMessage) -> Self {
        Self {
            id,
            peer,
            startup,
            started: Instant::now(),
            status: AtomicU8::new(TransactionStatus::Idle.byte()),
            backend_pid: AtomicI32::new(0),
        }
    }

    /// The proxy-wide session number (starts at 1).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The client's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The `user` startup parameter.
    pub fn user(&self) -> Option<Cow<'_, str>> {
        self.startup.param("user")
    }

    /// The `database` startup parameter (PostgreSQL defaults it to the user name).
    pub fn database(&self) -> Option<Cow<'_, str>> {
        self.startup.param("database").or_else(|| self.user())
    }

    /// The `application_name` startup parameter.
    pub fn application_name(&self) -> Option<Cow<'_, str>> {
        self.startup.param("application_name")
    }

    /// Any startup parameter.
    pub fn param(&self, name: &str) -> Option<Cow<'_, str>> {
        self.startup.param(name)
    }

    /// When the client connected.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// The transaction status of the server's last ReadyForQuery.
    pub fn transaction_status(&self) -> TransactionStatus {
        TransactionStatus::from_byte(self.status.load(Ordering::Relaxed)).unwrap_or_default()
    }

    /// The upstream backend's process id (0 until BackendKeyData arrived).
    pub fn backend_pid(&self) -> i32 {
        self.backend_pid.load(Ordering::Relaxed)
    }

    pub(crate) fn set_transaction_status(&self, status: TransactionStatus) {
        self.status.store(status.byte(), Ordering::Relaxed);
    }

    pub(crate) fn set_backend_pid(&self, pid: i32) {
        self.backend_pid.store(pid, Ordering::Relaxed);
    }
}
