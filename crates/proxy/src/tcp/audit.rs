//! The audit hook of the TCP fault proxy: every change to its faults made through the admin
//! API (or `--config`) is shown to an [`Audit`] — `shakedown tcp-proxy` appends each to the
//! signed ledger. A change that injects a fault (a proxy created or disabled, a toxic added or
//! changed) is refused when it cannot be recorded (fail closed): a toxic or a change before it is
//! applied, a new proxy by shutting its listener again at once (it is bound first); one
//! that removes faults (a toxic removed, a proxy deleted, a reset) always happens, and a
//! failure to record it is the hook's to report.

use super::model::{ProxySpec, ToxicSpec};

/// One change, as the audit hook sees it.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// A proxy was created (its listener bound: `listen` is the bound address).
    ProxyCreated(&'a ProxySpec),
    /// A proxy's addresses or `enabled` (`false` is an outage) are about to change.
    ProxyUpdated {
        before: &'a ProxySpec,
        after: &'a ProxySpec,
    },
    /// A proxy was deleted, its connections closed.
    ProxyDeleted(&'a str),
    /// A toxic is about to be added.
    ToxicAdded {
        proxy: &'a str,
        toxic: &'a ToxicSpec,
    },
    /// A toxic is about to change.
    ToxicUpdated {
        proxy: &'a str,
        toxic: &'a ToxicSpec,
    },
    /// A toxic was removed.
    ToxicRemoved { proxy: &'a str, name: &'a str },
    /// `POST /reset`: every toxic removed and every proxy enabled.
    Reset,
}

impl Change<'_> {
    /// Whether the change injects a fault (and so must be recorded before it happens).
    pub fn injects(&self) -> bool {
        match self {
            Change::ProxyCreated(_) | Change::ToxicAdded { .. } | Change::ToxicUpdated { .. } => {
                true
            }
            Change::ProxyUpdated { after, .. } => !after.enabled,
            Change::ProxyDeleted(_) | Change::ToxicRemoved { .. } | Change::Reset => false,
        }
    }
}

/// Records changes; `Err` says why it could not (the change is then refused if it injects).
pub trait Audit: Send + Sync {
    fn record(&self, change: &Change<'_>) -> Result<(), String>;
}
