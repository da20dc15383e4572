//! The fanotify source: one content-class group with inode marks on every directory of the
//! working directory (`FAN_EVENT_ON_CHILD`), so only opens there wait for us; a mount or
//! filesystem mark would make every open on the machine wait on this thread. Permission events
//! (`FAN_OPEN_PERM`, `FAN_OPEN_EXEC_PERM`) are answered allow or deny; close events say whether
//! a file was read or written. Every event carries the acting pid.
//!
//! This thread must never open anything under a marked directory: its own open would wait for
//! an answer only it can give. Marks are placed by path (`AT_FDCWD`), which opens nothing.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::errno::Errno;
use nix::fcntl::AT_FDCWD;
use nix::sys::fanotify::{
    EventFFlags, Fanotify, FanotifyResponse, InitFlags, MarkFlags, MaskFlags, Response,
};
use nix::unistd::{Pid, getpgid};

use super::record::Recorder;

/// Reads per call before returning to the loop (each read is up to 4 KiB of events).
const READS_PER_TURN: usize = 64;

/// Whose operations count: the agent's process group, never our own process.
#[derive(Debug, Clone)]
pub struct Attribution {
    pub self_pid: i32,
    /// The agent's process group; 0 until the agent is attached.
    pub agent_pgid: Arc<AtomicI32>,
}

impl Attribution {
    /// True when `pid` should be judged as the agent.
    pub fn is_agent(&self, pid: i32) -> bool {
        if pid == self.self_pid {
            return false;
        }
        let pgid = self.agent_pgid.load(Ordering::Relaxed);
        if pgid == 0 {
            // Nothing but the agent should work in a fresh run directory; judge it.
            return true;
        }
        match getpgid(Some(Pid::from_raw(pid))) {
            Ok(g) => g.as_raw() == pgid,
            // Already gone: it acted inside the run directory, so it was the agent's.
            Err(_) => true,
        }
    }
}

/// The fanotify group.
#[derive(Debug)]
pub struct FanSource {
    fan: Fanotify,
}

fn mask() -> MaskFlags {
    MaskFlags::FAN_OPEN_PERM
        | MaskFlags::FAN_OPEN_EXEC_PERM
        | MaskFlags::FAN_CLOSE_WRITE
        | MaskFlags::FAN_CLOSE_NOWRITE
        | MaskFlags::FAN_EVENT_ON_CHILD
        | MaskFlags::FAN_ONDIR
}

/// The path an event's descriptor refers to (`(deleted)` suffix removed).
fn path_of(fd: BorrowedFd<'_>) -> String {
    let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let path = std::fs::read_link(link)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.strip_suffix(" (deleted)")
        .map(str::to_string)
        .unwrap_or(path)
}

/// Type and size of the event's file. `FAN_ONDIR` is not set on every directory event (not on
/// permission events), so the descriptor is asked.
fn metadata(fd: BorrowedFd<'_>) -> Option<std::fs::Metadata> {
    let owned = fd.try_clone_to_owned().ok()?;
    File::from(owned).metadata().ok()
}

impl FanSource {
    /// Creates the group; fails without CAP_SYS_ADMIN or without permission-event support.
    pub fn init() -> Result<FanSource, Errno> {
        let fan = Fanotify::init(
            InitFlags::FAN_CLASS_CONTENT | InitFlags::FAN_CLOEXEC | InitFlags::FAN_NONBLOCK,
            EventFFlags::O_RDONLY | EventFFlags::O_LARGEFILE | EventFFlags::O_CLOEXEC,
        )?;
        Ok(FanSource { fan })
    }

    /// Marks one directory (its own opens and its direct entries').
    pub fn mark(&self, dir: &Path) -> Result<(), Errno> {
        self.fan.mark(
            MarkFlags::FAN_MARK_ADD | MarkFlags::FAN_MARK_ONLYDIR,
            mask(),
            AT_FDCWD,
            Some(dir),
        )
    }

    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fan.as_fd()
    }

    /// Answers and records what is queued. Every permission event gets an answer, whatever
    /// else fails, or the agent would hang in `open`.
    pub fn handle(&self, rec: &mut Recorder, who: &Attribution) {
        for _ in 0..READS_PER_TURN {
            let events = match self.fan.read_events() {
                Ok(e) if e.is_empty() => return,
                Ok(e) => e,
                Err(Errno::EAGAIN) | Err(Errno::EINTR) => return,
                Err(e) => {
                    rec.note(format!("fanotify read failed: {e}"));
                    return;
                }
            };
            for ev in events {
                let mask = ev.mask();
                if mask.contains(MaskFlags::FAN_Q_OVERFLOW) {
                    rec.note("fanotify queue overflowed: some file events were lost");
                    continue;
                }
                let Some(fd) = ev.fd() else { continue };
                let pid = ev.pid();
                let agent = who.is_agent(pid);
                let meta = metadata(fd);
                let is_dir = mask.contains(MaskFlags::FAN_ONDIR)
                    || meta.as_ref().is_some_and(|m| m.is_dir());
                let path = path_of(fd);
                let exec = mask.contains(MaskFlags::FAN_OPEN_EXEC_PERM);
                if exec || mask.contains(MaskFlags::FAN_OPEN_PERM) {
                    let deny = agent && rec.decide_open(&path, pid, is_dir, exec);
                    let answer = if deny {
                        Response::FAN_DENY
                    } else {
                        Response::FAN_ALLOW
                    };
                    if let Err(e) = self.fan.write_response(FanotifyResponse::new(fd, answer)) {
                        rec.note(format!("fanotify answer failed: {e}"));
                    }
                }
                if !agent || is_dir {
                    continue;
                }
                if mask.contains(MaskFlags::FAN_CLOSE_WRITE) {
                    rec.closed_write(&path, Some(pid), meta.map(|m| m.len()));
                } else if mask.contains(MaskFlags::FAN_CLOSE_NOWRITE) {
                    rec.closed_read(&path, Some(pid));
                }
            }
        }
    }
}
