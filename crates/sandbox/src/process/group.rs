//! Ending a whole process group: SIGTERM, a short grace, then SIGKILL. The group, not the
//! leader, is the unit, so children the agent started (`sleep 100 &`) die with it. Liveness is
//! read from `/proc`, where a zombie (dead, waiting for its parent to reap it) is not counted:
//! an orphan's new parent may reap it late, and it can no longer do anything.

use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// How the group ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupEnd {
    /// No live process was left when we looked.
    AlreadyGone,
    /// Gone within the grace after SIGTERM.
    Terminated,
    /// Still there after the grace; SIGKILL was sent.
    Killed,
}

/// State letter and process group of `pid` from `/proc/<pid>/stat`, if it exists.
pub fn stat(pid: i32) -> Option<(char, i32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses; the fields follow the last `)`.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, pgrp))
}

/// True when `pid` exists and is not a zombie.
pub fn pid_alive(pid: i32) -> bool {
    matches!(stat(pid), Some((s, _)) if s != 'Z' && s != 'X')
}

/// Live (non-zombie) members of the process group.
pub fn live_members(pgid: Pid) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(
            |&pid| matches!(stat(pid), Some((s, g)) if g == pgid.as_raw() && s != 'Z' && s != 'X'),
        )
        .collect()
}

/// Polls until no live member is left or `within` passes; true when it emptied.
async fn gone_within(pgid: Pid, within: Duration) -> bool {
    let step = Duration::from_millis(20);
    let rounds = (within.as_millis() / step.as_millis()).max(1);
    for _ in 0..rounds {
        if live_members(pgid).is_empty() {
            return true;
        }
        tokio::time::sleep(step).await;
    }
    live_members(pgid).is_empty()
}

/// Ends every process in the group and returns how.
pub async fn end_group(pgid: Pid, grace: Duration) -> GroupEnd {
    // Group 0 means "our own group" to killpg (and holds kernel threads in /proc): never ours to end.
    if pgid.as_raw() <= 0 || live_members(pgid).is_empty() {
        return GroupEnd::AlreadyGone;
    }
    let _ = killpg(pgid, Signal::SIGTERM);
    if gone_within(pgid, grace).await {
        return GroupEnd::Terminated;
    }
    let _ = killpg(pgid, Signal::SIGKILL);
    // SIGKILL cannot be caught; a short bounded wait lets the kernel finish the job.
    let _ = gone_within(pgid, Duration::from_millis(500)).await;
    GroupEnd::Killed
}
