//! Observing and policing the agent's file operations in its working directory. A dedicated
//! thread (fanotify permission answers must not wait behind an async runtime) polls fanotify
//! and inotify every [`POLL_MS`] until stopped, answers every permission event, watches new
//! directories as they appear, and records [`FsEvent`]s through one [`record::Recorder`].
//!
//! fanotify needs CAP_SYS_ADMIN; without it the watcher falls back to inotify alone, which
//! observes (no pid, no blocking) and says so in [`WatchReport::backend`] and its notes.

pub mod event;
pub mod fanotify;
pub mod inotify;
pub mod record;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

pub use event::{FsEvent, FsEventKind, WatchBackend};

use crate::error::SandboxError;
use crate::policy::{BoundPolicy, FsPolicy};
use crate::workdir::Workdir;
use fanotify::{Attribution, FanSource};
use inotify::{InoSource, MAX_WATCHED_DIRS};
use record::Recorder;

/// How long one poll waits; bounds how late a stop is seen.
pub const POLL_MS: u16 = 20;

/// Turns of draining after stop, so closes that happened as the agent died are recorded.
const FINAL_TURNS: usize = 5;

/// What the watcher saw.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WatchReport {
    pub backend: WatchBackend,
    pub events: Vec<FsEvent>,
    /// Ordinary events past the cap of [`record::MAX_EVENTS`] (rule-breaking and honeypot
    /// events are kept past it).
    pub dropped: u64,
    /// Rule-breaking or honeypot events past [`record::MAX_VIOLATION_EVENTS`].
    pub dropped_violations: u64,
    /// Overflows, failed marks, the fallback: anything that makes the events incomplete.
    pub notes: Vec<String>,
}

impl WatchReport {
    /// Events that broke a rule or touched a honeypot.
    pub fn violations(&self) -> impl Iterator<Item = &FsEvent> {
        self.events.iter().filter(|e| e.is_violation())
    }

    /// Events of one kind.
    pub fn of_kind(&self, kind: FsEventKind) -> impl Iterator<Item = &FsEvent> {
        self.events.iter().filter(move |e| e.kind == kind)
    }
}

/// Which backend to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefer {
    /// fanotify, falling back to inotify when it cannot be had.
    Fanotify,
    /// inotify only (observation without pids or blocking).
    Inotify,
}

/// A running watcher; [`Watcher::stop`] ends it and returns the report.
#[derive(Debug)]
pub struct Watcher {
    stop: Arc<AtomicBool>,
    agent_pgid: Arc<AtomicI32>,
    backend: WatchBackend,
    thread: Option<JoinHandle<WatchReport>>,
}

/// Every directory at or under `root` (bounded), found before any mark exists.
fn directories(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![root.to_path_buf()];
    let mut i = 0;
    while i < out.len() && out.len() < MAX_WATCHED_DIRS {
        if let Ok(entries) = std::fs::read_dir(&out[i]) {
            for e in entries.flatten() {
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    out.push(e.path());
                }
            }
        }
        i += 1;
    }
    out
}

impl Watcher {
    /// Watches `workdir`'s `work/` under `policy` (observe-only when `None`); the workdir's own
    /// honeypot files are added as reported-not-blocked honeypots unless the policy names them.
    pub fn start(workdir: &Workdir, policy: Option<&FsPolicy>) -> Result<Watcher, SandboxError> {
        let mut bound = policy
            .cloned()
            .unwrap_or_else(FsPolicy::observe_only)
            .bind(workdir.path());
        for h in workdir.honeypots() {
            bound.add_file_honeypot(&h);
        }
        Watcher::start_with(workdir.path(), bound, Prefer::Fanotify)
    }

    /// Watches `dir` with an already bound policy and a backend preference.
    pub fn start_with(
        dir: &Path,
        bound: BoundPolicy,
        prefer: Prefer,
    ) -> Result<Watcher, SandboxError> {
        let dirs = directories(dir);
        let mut notes = bound.policy.coverage(Path::new(&bound.workdir));
        let fan = match prefer {
            Prefer::Inotify => {
                notes.push("inotify requested: events carry no pid and nothing is blocked".into());
                None
            }
            Prefer::Fanotify => match FanSource::init() {
                Ok(f) => Some(f),
                Err(e) => {
                    notes.push(format!(
                        "fanotify unavailable ({e}; it needs CAP_SYS_ADMIN and \
                         CONFIG_FANOTIFY_ACCESS_PERMISSIONS): fell back to inotify, so events \
                         carry no pid and nothing is blocked"
                    ));
                    None
                }
            },
        };
        let backend = if fan.is_some() {
            WatchBackend::Fanotify
        } else {
            WatchBackend::Inotify
        };
        let mut ino = InoSource::init(fan.is_none()).map_err(|e| SandboxError::Watch {
            reason: format!("inotify_init: {e}"),
        })?;
        for d in &dirs {
            if let Some(f) = &fan {
                f.mark(d).map_err(|e| SandboxError::Watch {
                    reason: format!("fanotify mark on {}: {e}", d.display()),
                })?;
            }
            ino.add(d).map_err(|e| SandboxError::Watch {
                reason: format!("inotify watch on {}: {e}", d.display()),
            })?;
        }
        if dirs.len() >= MAX_WATCHED_DIRS {
            notes.push(format!(
                "only the first {MAX_WATCHED_DIRS} directories are watched"
            ));
        }
        let mut rec = Recorder::new(bound, backend);
        for n in notes {
            rec.note(n);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let agent_pgid = Arc::new(AtomicI32::new(0));
        let who = Attribution {
            self_pid: std::process::id() as i32,
            agent_pgid: agent_pgid.clone(),
        };
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("shakedown-fs-watch".into())
            .spawn(move || run(fan, ino, rec, who, flag))
            .map_err(|e| SandboxError::Watch {
                reason: format!("cannot start the watcher thread: {e}"),
            })?;
        Ok(Watcher {
            stop,
            agent_pgid,
            backend,
            thread: Some(thread),
        })
    }

    /// Tells the watcher the agent's process group: from now on other processes are ignored.
    pub fn attach(&self, pgid: i32) {
        self.agent_pgid.store(pgid, Ordering::Relaxed);
    }

    pub fn backend(&self) -> WatchBackend {
        self.backend
    }

    /// Stops watching (pending permission events are answered) and returns what was seen.
    pub fn stop(mut self) -> WatchReport {
        self.finish()
    }

    fn finish(&mut self) -> WatchReport {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(report)) => report,
            _ => WatchReport {
                backend: self.backend,
                events: Vec::new(),
                dropped: 0,
                dropped_violations: 0,
                notes: vec!["the watcher thread failed; no file events were kept".into()],
            },
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.finish();
        }
    }
}

/// Lists the directories under `dir` on a helper thread: an open by the watcher thread itself
/// under a marked directory would wait for an answer only it can give.
fn scan_later(dir: PathBuf, tx: mpsc::Sender<Vec<PathBuf>>) {
    let _ = std::thread::Builder::new()
        .name("shakedown-fs-scan".into())
        .spawn(move || {
            let _ = tx.send(directories(&dir));
        });
}

fn directories_known(ino: &InoSource) -> std::collections::HashSet<PathBuf> {
    ino.watched().cloned().collect()
}

fn run(
    fan: Option<FanSource>,
    mut ino: InoSource,
    mut rec: Recorder,
    who: Attribution,
    stop: Arc<AtomicBool>,
) -> WatchReport {
    let (tx, rx) = mpsc::channel::<Vec<PathBuf>>();
    let mut final_turns = 0;
    // Directories already watched, so a scan's findings are not scanned again.
    let mut known: std::collections::HashSet<PathBuf> = directories_known(&ino);
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        {
            let mut fds = vec![PollFd::new(ino.as_fd(), PollFlags::POLLIN)];
            if let Some(f) = &fan {
                fds.push(PollFd::new(f.as_fd(), PollFlags::POLLIN));
            }
            let wait = if stopping { 0u16 } else { POLL_MS };
            let _ = poll(&mut fds, PollTimeout::from(wait));
        }
        if let Some(f) = &fan {
            f.handle(&mut rec, &who);
        }
        let mut new_dirs = ino.handle(&mut rec);
        while let Ok(found) = rx.try_recv() {
            new_dirs.extend(found.into_iter().skip(1));
        }
        for d in new_dirs {
            if !known.insert(d.clone()) {
                continue;
            }
            let fresh = ino.add(&d).is_ok();
            if let Some(f) = &fan
                && let Err(e) = f.mark(&d)
            {
                rec.note(format!("cannot mark {}: {e}", d.display()));
            }
            if fresh && !stopping {
                // Entries made before the watch existed are found by a scan.
                scan_later(d, tx.clone());
            }
        }
        if stopping {
            final_turns += 1;
            if final_turns >= FINAL_TURNS {
                break;
            }
        }
    }
    WatchReport {
        backend: rec.backend,
        events: rec.events,
        dropped: rec.dropped,
        dropped_violations: rec.dropped_violations,
        notes: rec.notes,
    }
}
