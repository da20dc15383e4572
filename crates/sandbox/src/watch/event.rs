//! What the watcher reports: one [`FsEvent`] per observed file operation of the agent, with the
//! policy rules it broke and whether the kernel refused it.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::policy::{FsOp, Violation};

/// Which kernel interface observed the working directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchBackend {
    /// fanotify permission events: opens attributed to a pid and deniable.
    Fanotify,
    /// inotify only (fanotify unavailable): observation without pids and without blocking.
    Inotify,
}

/// The event type, as the run's timeline names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FsEventKind {
    /// A file was opened read-only and closed.
    FileRead,
    /// A file was written (closed after a write-open), created, renamed or its mode changed.
    FileWrite,
    /// A file or directory was removed.
    FileDelete,
    /// A honeypot was opened, listed or removed.
    FileHoneypotAccessed,
    /// A policy violation that is neither of the above: a refused open (the kernel does not
    /// say whether it was for reading or writing), an exec, a recursive delete.
    FileViolation,
}

/// One observed operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FsEvent {
    #[serde(rename = "type")]
    pub kind: FsEventKind,
    pub op: FsOp,
    /// Absolute path.
    pub path: String,
    /// The acting process (fanotify); `None` from inotify, which does not say.
    pub pid: Option<i32>,
    /// Wall-clock time, milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// Milliseconds since the watcher started.
    pub elapsed_ms: u64,
    pub source: WatchBackend,
    /// The kernel refused the operation (the agent got `EPERM`).
    pub blocked: bool,
    /// Rules broken; empty for a plain observation.
    pub violations: Vec<Violation>,
}

impl FsEvent {
    /// True when the event broke a rule or touched a honeypot.
    pub fn is_violation(&self) -> bool {
        !self.violations.is_empty()
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
