//! The halt latch of a data directory: `shakedown halt` (or a signal to a running campaign)
//! sets it, signals every campaign and agent run in progress (each stops its traffic, undoes
//! its chaos and is stored as `halted_by_guardian`), and while it is set no new campaign or
//! run starts — until `shakedown resume`.
//! A latch file that cannot be read counts as set (fail closed).
//!
//! Processes carrying a campaign or run register in `active/` (one file per pid, removed when
//! they end), so `halt` knows whom to signal even across processes. Long-lived processes that
//! must not be signalled (the standalone proxies) [`watch`] the latch instead.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch as tokio_watch;

/// How often proxies look at the latch: well inside the 100 ms halt target.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(20);

/// Why and by whom chaos is halted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaltInfo {
    pub by: String,
    /// RFC 3339.
    pub at: String,
    pub reason: String,
}

/// A process carrying a campaign or an agent run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Active {
    pub pid: u32,
    /// `campaign` or `agent_run`.
    pub kind: String,
    pub id: String,
    /// When the process started (clock ticks since boot, `/proc/<pid>/stat` field 22): a
    /// registration is only live while the same process holds the pid, so a halt never
    /// signals a process that reused the pid of a dead one. `None` in entries written by an
    /// older build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<u64>,
}

fn latch_path(data_dir: &Path) -> PathBuf {
    data_dir.join("halted.json")
}

fn active_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("active")
}

/// The latch, when set.
pub fn halted(data_dir: &Path) -> Option<HaltInfo> {
    let path = latch_path(data_dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(serde_json::from_str(&text).unwrap_or_else(|e| HaltInfo {
            by: "unknown".into(),
            at: "unknown".into(),
            reason: format!("{} is unreadable ({e}); treated as halted", path.display()),
        })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => Some(HaltInfo {
            by: "unknown".into(),
            at: "unknown".into(),
            reason: format!("{} cannot be read ({e}); treated as halted", path.display()),
        }),
    }
}

/// Sets the latch (replacing an earlier one).
pub fn set(data_dir: &Path, info: &HaltInfo) -> std::io::Result<()> {
    std::fs::create_dir_all(data_dir)?;
    let path = latch_path(data_dir);
    // Each writer its own temporary file: two halts at once (API, CLI, bus) must both land.
    let tmp = path.with_extension(format!(
        "json.{}.{:x}.tmp",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::write(
        &tmp,
        serde_json::to_vec_pretty(info).map_err(std::io::Error::other)?,
    )?;
    std::fs::rename(tmp, path)
}

/// Clears the latch; `false` when it was not set.
pub fn clear(data_dir: &Path) -> std::io::Result<bool> {
    match std::fs::remove_file(latch_path(data_dir)) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Removes this process's registration when dropped.
#[derive(Debug)]
pub struct ActiveGuard(PathBuf);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Registers this process as carrying `kind` `id` until the guard drops.
pub fn register(data_dir: &Path, kind: &str, id: &str) -> std::io::Result<ActiveGuard> {
    let dir = active_dir(data_dir);
    std::fs::create_dir_all(&dir)?;
    let pid = std::process::id();
    let path = dir.join(pid.to_string());
    let entry = Active {
        pid,
        kind: kind.to_string(),
        id: id.to_string(),
        started: start_time(pid),
    };
    std::fs::write(
        &path,
        serde_json::to_vec(&entry).map_err(std::io::Error::other)?,
    )?;
    Ok(ActiveGuard(path))
}

/// Whether process `pid` runs on this machine (a zombie has exited).
pub fn alive(pid: u32) -> bool {
    // A zombie has exited; it only waits for its parent to reap it.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// The start time of `pid` (field 22 of `/proc/<pid>/stat`, counted after the command name,
/// which may itself hold spaces and parentheses).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(") ")?;
    // `rest` starts at field 3 (state), so field 22 is the 20th here.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The registered process is still the one that registered.
fn same_process(a: &Active) -> bool {
    alive(a.pid) && a.started.is_none_or(|t| start_time(a.pid) == Some(t))
}

/// Every live registered process; registrations of dead processes are removed.
pub fn active(data_dir: &Path) -> Vec<Active> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(active_dir(data_dir))
        .into_iter()
        .flatten()
        .flatten()
    {
        let entry = std::fs::read_to_string(e.path())
            .ok()
            .and_then(|t| serde_json::from_str::<Active>(&t).ok());
        match entry {
            Some(a) if same_process(&a) => out.push(a),
            _ => {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    out.sort_by_key(|a| a.pid);
    out
}

/// Watches the latch of `data_dir`: a task reads it every `interval` and publishes every
/// change (an unreadable latch is published as set). The receiver starts with the latch as it
/// is now. The task ends when every receiver is dropped.
///
/// # Panics
///
/// Outside a tokio runtime (it spawns the polling task).
pub fn watch(data_dir: &Path, interval: Duration) -> tokio_watch::Receiver<Option<HaltInfo>> {
    let dir = data_dir.to_path_buf();
    let (tx, rx) = tokio_watch::channel(halted(&dir));
    tokio::spawn(async move {
        // Runs as long as someone listens (a proxy's whole life); each pass is one small read.
        loop {
            tokio::select! {
                () = tx.closed() => break,
                () = tokio::time::sleep(interval) => {}
            }
            let now = halted(&dir);
            tx.send_if_modified(|cur| {
                if *cur == now {
                    false
                } else {
                    *cur = now;
                    true
                }
            });
        }
    });
    rx
}

/// A change of the latch as a follower sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LatchChange {
    /// Chaos is halted: remove every fault and inject none until resumed.
    Halted(HaltInfo),
    /// The halt was lifted.
    Resumed,
}

/// Turns a [`watch`] receiver into halt / resume transitions, for a process that obeys the
/// latch without being signalled.
#[derive(Debug)]
pub struct LatchFollower {
    rx: tokio_watch::Receiver<Option<HaltInfo>>,
    halted: bool,
}

impl LatchFollower {
    /// Follows `rx`; a latch already set is the first change.
    pub fn new(rx: tokio_watch::Receiver<Option<HaltInfo>>) -> Self {
        Self { rx, halted: false }
    }

    /// The next transition (a new reason while already halted is not one); `None` when the
    /// watcher has ended.
    pub async fn next(&mut self) -> Option<LatchChange> {
        loop {
            let now = self.rx.borrow_and_update().clone();
            match (self.halted, now) {
                (false, Some(info)) => {
                    self.halted = true;
                    return Some(LatchChange::Halted(info));
                }
                (true, None) => {
                    self.halted = false;
                    return Some(LatchChange::Resumed);
                }
                _ => {}
            }
            self.rx.changed().await.ok()?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latch_and_registrations() {
        let dir = std::env::temp_dir().join(format!("shakedown-latch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(halted(&dir).is_none());
        let info = HaltInfo {
            by: "alice".into(),
            at: "2026-11-22T04:00:00Z".into(),
            reason: "drill".into(),
        };
        set(&dir, &info).unwrap();
        assert_eq!(halted(&dir), Some(info));
        assert!(clear(&dir).unwrap());
        assert!(!clear(&dir).unwrap());
        // An unreadable latch is a set latch.
        std::fs::write(dir.join("halted.json"), "{not json").unwrap();
        assert!(halted(&dir).unwrap().reason.contains("unreadable"));
        clear(&dir).unwrap();
        {
            let _g = register(&dir, "campaign", "chaos_1").unwrap();
            let a = active(&dir);
            assert_eq!(a.len(), 1);
            assert_eq!(
                (a[0].kind.as_str(), a[0].id.as_str()),
                ("campaign", "chaos_1")
            );
        }
        assert!(
            active(&dir).is_empty(),
            "the guard removed the registration"
        );
        // A registration of a dead process is cleaned up.
        std::fs::write(
            dir.join("active/999999999"),
            r#"{"pid":999999999,"kind":"agent_run","id":"r"}"#,
        )
        .unwrap();
        assert!(active(&dir).is_empty());
        assert!(!dir.join("active/999999999").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn watch_publishes_set_unreadable_and_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        let mut rx = watch(data, Duration::from_millis(10));
        assert!(rx.borrow().is_none());
        let info = HaltInfo {
            by: "alice".into(),
            at: "2026-11-22T04:00:00.123Z".into(),
            reason: "drill".into(),
        };
        set(data, &info).unwrap();
        let wait = Duration::from_secs(2);
        let seen = tokio::time::timeout(wait, rx.wait_for(Option::is_some))
            .await
            .expect("the set latch is seen")
            .unwrap()
            .clone();
        assert_eq!(seen, Some(info));
        clear(data).unwrap();
        tokio::time::timeout(wait, rx.wait_for(Option::is_none))
            .await
            .expect("the cleared latch is seen")
            .unwrap();
        // Fail closed: garbage in the latch file is a halt.
        std::fs::write(data.join("halted.json"), "{oops").unwrap();
        let seen = tokio::time::timeout(wait, rx.wait_for(Option::is_some))
            .await
            .expect("the unreadable latch is seen")
            .unwrap()
            .clone();
        assert!(seen.unwrap().reason.contains("treated as halted"));
        // A receiver that starts while halted sees it at once.
        assert!(watch(data, Duration::from_millis(10)).borrow().is_some());
    }

    async fn next(f: &mut LatchFollower) -> Option<LatchChange> {
        tokio::time::timeout(Duration::from_secs(2), f.next())
            .await
            .expect("a change")
    }

    #[tokio::test]
    async fn a_follower_sees_transitions_only() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        let info = |reason: &str| HaltInfo {
            by: "ops".into(),
            at: "2026-11-22T04:00:00Z".into(),
            reason: reason.into(),
        };
        set(data, &info("first")).unwrap();
        let mut f = LatchFollower::new(watch(data, Duration::from_millis(10)));
        assert_eq!(next(&mut f).await, Some(LatchChange::Halted(info("first"))));
        // A second halt while halted is no transition; the resume is.
        set(data, &info("second")).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        clear(data).unwrap();
        assert_eq!(next(&mut f).await, Some(LatchChange::Resumed));
        set(data, &info("third")).unwrap();
        assert_eq!(next(&mut f).await, Some(LatchChange::Halted(info("third"))));
    }

    #[test]
    fn a_registration_whose_pid_was_reused_is_not_live() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        let guard = register(data, "campaign", "c1").unwrap();
        let live = active(data);
        assert_eq!(live.len(), 1);
        assert_eq!(live[0].pid, std::process::id());
        assert!(live[0].started.is_some());
        // The same pid with another start time is another process now: not signalled, removed.
        let mut stale = live[0].clone();
        stale.started = stale.started.map(|t| t + 1);
        std::fs::write(&guard.0, serde_json::to_vec(&stale).unwrap()).unwrap();
        assert!(active(data).is_empty());
        assert!(!guard.0.exists());
    }
}
