//! Cancel routing. A CancelRequest arrives on a *new* connection carrying the key from the
//! session's BackendKeyData; the proxy must send it to the upstream that session talks to.
//!
//! Choice: the proxy passes the upstream's BackendKeyData through unchanged and keeps a map
//! from that key to the upstream address. The client therefore sees the real backend pid
//! (matching `pg_backend_pid()` and `pg_stat_activity`), nothing is rewritten on the wire, and
//! any secret length (protocol 3.2) works. Keys are registered only while their session lives,
//! so a request with an unknown or stale key is dropped instead of being forwarded.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;

/// Live sessions' cancellation keys.
#[derive(Debug, Default)]
pub struct CancelRegistry {
    keys: Mutex<HashMap<(i32, Bytes), SocketAddr>>,
}

impl CancelRegistry {
    /// Record that key `(pid, secret)` belongs to a session on `upstream`; the returned guard
    /// removes it again.
    pub fn register(self: &Arc<Self>, pid: i32, secret: Bytes, upstream: SocketAddr) -> CancelKey {
        self.keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((pid, secret.clone()), upstream);
        CancelKey {
            registry: Arc::clone(self),
            key: (pid, secret),
        }
    }

    /// The upstream of the live session with this key.
    pub fn lookup(&self, pid: i32, secret: &Bytes) -> Option<SocketAddr> {
        self.keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(pid, secret.clone()))
            .copied()
    }

    /// Number of registered keys.
    pub fn len(&self) -> usize {
        self.keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// True when no key is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Keeps a key registered; dropping it unregisters.
#[derive(Debug)]
pub struct CancelKey {
    registry: Arc<CancelRegistry>,
    key: (i32, Bytes),
}

impl Drop for CancelKey {
    fn drop(&mut self) {
        self.registry
            .keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_live_as_long_as_their_guard() {
        let reg = Arc::new(CancelRegistry::default());
        let addr: SocketAddr = "127.0.0.1:5432".parse().unwrap();
        let guard = reg.register(42, Bytes::from_static(b"abcd"), addr);
        assert_eq!(reg.lookup(42, &Bytes::from_static(b"abcd")), Some(addr));
        assert_eq!(reg.lookup(42, &Bytes::from_static(b"abce")), None);
        drop(guard);
        assert!(reg.is_empty());
    }
}
