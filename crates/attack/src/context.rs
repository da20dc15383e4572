//! What every attack gets: the component, its resolved and scope-checked target, the
//! legitimate credentials, the halt token and the engine's limits.

use std::net::SocketAddr;
use std::time::Duration;

use shakedown_core::Component;
use tokio_util::sync::CancellationToken;

/// A resolved, in-scope HTTP target.
#[derive(Debug, Clone)]
pub struct Target {
    /// The address connections go to (already checked against the scope).
    pub addr: SocketAddr,
    /// Value for the `Host` header, e.g. `127.0.0.1:8080`.
    pub authority: String,
    /// Base path from the target URL without a trailing slash (`""` or `/api`).
    pub base_path: String,
}

impl Target {
    /// `base_path` + `path`, e.g. `/api` + `/users` = `/api/users`.
    pub fn path(&self, path: &str) -> String {
        format!("{}{}", self.base_path, path)
    }
}

/// Bounds on every attack, so each stops by itself. Defaults suit a real campaign; tests and
/// the demo shorten them.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Our own deadline for one ordinary request.
    pub request_timeout: Duration,
    /// How long an attack may run in all (slowloris and rate limits derive theirs from the
    /// guardrail, capped by this).
    pub max_attack_duration: Duration,
    /// How long the component may take to answer its health probe again after an attack.
    pub recovery_window: Duration,
    /// Extra time beyond the claimed `request_timeout` before a slow connection counts as
    /// not dropped.
    pub slowloris_grace: Duration,
    /// Slow connections opened by slowloris.
    pub slowloris_connections: usize,
    /// Idle connections held by connection_exhaustion (further capped by the fd limit).
    pub exhaustion_connections: usize,
    /// Delay asked of time-based SQL injection probes.
    pub sql_sleep: Duration,
    /// Overrides the burst size derived from `circuit_breaker.concurrency`.
    pub burst_concurrency: Option<usize>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            request_timeout: Duration::from_secs(10),
            max_attack_duration: Duration::from_secs(120),
            recovery_window: Duration::from_secs(30),
            slowloris_grace: Duration::from_secs(5),
            slowloris_connections: 100,
            exhaustion_connections: 1000,
            sql_sleep: Duration::from_secs(3),
            burst_concurrency: None,
        }
    }
}

/// Everything an attack needs.
#[derive(Debug, Clone)]
pub struct AttackContext {
    pub component: Component,
    pub target: Target,
    /// Header name and value of a legitimate request, when the component declares `auth`.
    pub auth: Option<(String, String)>,
    /// Cancelled on halt: every attack checks it at each await and stops.
    pub halt: CancellationToken,
    pub limits: Limits,
}
