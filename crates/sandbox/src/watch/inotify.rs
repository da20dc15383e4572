//! The inotify source: one watch per directory of the working directory. Beside fanotify it
//! reports what fanotify's descriptor events cannot (creates, deletes, renames, mode changes)
//! and tells the loop about new directories to watch; without fanotify (`full` mode) it also
//! reports opens and closes, with no pid and no way to refuse.

use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};

use super::record::Recorder;
use crate::policy::FsOp;

/// Reads per call before returning to the loop.
const READS_PER_TURN: usize = 64;

/// Directories watched at most; a tree past this is reported in the notes.
pub const MAX_WATCHED_DIRS: usize = 10_000;

/// The inotify instance and which directory each watch is.
#[derive(Debug)]
pub struct InoSource {
    ino: Inotify,
    dirs: HashMap<WatchDescriptor, PathBuf>,
    /// Also report opens and closes (no fanotify).
    full: bool,
}

impl InoSource {
    pub fn init(full: bool) -> Result<InoSource, Errno> {
        let ino = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
        Ok(InoSource {
            ino,
            dirs: HashMap::new(),
            full,
        })
    }

    fn mask(&self) -> AddWatchFlags {
        let mut m = AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_MOVED_FROM
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_ATTRIB
            | AddWatchFlags::IN_ONLYDIR
            | AddWatchFlags::IN_DONT_FOLLOW;
        if self.full {
            m |= AddWatchFlags::IN_OPEN
                | AddWatchFlags::IN_CLOSE_WRITE
                | AddWatchFlags::IN_CLOSE_NOWRITE;
        }
        m
    }

    /// Watches one directory (by path; nothing is opened).
    pub fn add(&mut self, dir: &Path) -> Result<(), Errno> {
        if self.dirs.len() >= MAX_WATCHED_DIRS {
            return Err(Errno::ENOSPC);
        }
        let wd = self.ino.add_watch(dir, self.mask())?;
        self.dirs.insert(wd, dir.to_path_buf());
        Ok(())
    }

    /// The directories watched now.
    pub fn watched(&self) -> impl Iterator<Item = &PathBuf> {
        self.dirs.values()
    }

    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.ino.as_fd()
    }

    /// Records what is queued; returns directories that appeared (to be watched and marked).
    pub fn handle(&mut self, rec: &mut Recorder) -> Vec<PathBuf> {
        let mut new_dirs = Vec::new();
        for _ in 0..READS_PER_TURN {
            let events = match self.ino.read_events() {
                Ok(e) if e.is_empty() => break,
                Ok(e) => e,
                Err(Errno::EAGAIN) | Err(Errno::EINTR) => break,
                Err(e) => {
                    rec.note(format!("inotify read failed: {e}"));
                    break;
                }
            };
            for ev in events {
                let m = ev.mask;
                if m.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                    rec.note("inotify queue overflowed: some file events were lost");
                    continue;
                }
                if m.contains(AddWatchFlags::IN_IGNORED) {
                    self.dirs.remove(&ev.wd);
                    continue;
                }
                let Some(dir) = self.dirs.get(&ev.wd) else {
                    continue;
                };
                let is_dir = m.contains(AddWatchFlags::IN_ISDIR);
                let path = match &ev.name {
                    Some(n) => dir.join(n),
                    None => dir.clone(),
                };
                let p = path.to_string_lossy().into_owned();
                if m.contains(AddWatchFlags::IN_CREATE) {
                    let symlink = std::fs::symlink_metadata(&path)
                        .map(|md| md.file_type().is_symlink())
                        .unwrap_or(false);
                    let op = if is_dir {
                        new_dirs.push(path.clone());
                        FsOp::Mkdir
                    } else if symlink {
                        FsOp::Symlink
                    } else {
                        FsOp::Create
                    };
                    rec.created(&p, op);
                }
                if m.contains(AddWatchFlags::IN_DELETE) {
                    rec.deleted(&p, is_dir);
                }
                if m.intersects(AddWatchFlags::IN_MOVED_FROM | AddWatchFlags::IN_MOVED_TO) {
                    if is_dir && m.contains(AddWatchFlags::IN_MOVED_TO) {
                        new_dirs.push(path.clone());
                    }
                    rec.renamed(&p);
                }
                if m.contains(AddWatchFlags::IN_ATTRIB) && ev.name.is_some() {
                    rec.attrib(&p);
                }
                if !self.full {
                    continue;
                }
                // A directory's own watch reports its opens with no name; the parent's watch
                // reports the same open by name. Take the first for directories only.
                let own = ev.name.is_none();
                if m.contains(AddWatchFlags::IN_OPEN) && is_dir == own {
                    rec.opened_unblockable(&p, is_dir);
                }
                if !is_dir && m.contains(AddWatchFlags::IN_CLOSE_WRITE) {
                    let size = std::fs::metadata(&path).ok().map(|md| md.len());
                    rec.closed_write(&p, None, size);
                } else if !is_dir && m.contains(AddWatchFlags::IN_CLOSE_NOWRITE) {
                    rec.closed_read(&p, None);
                }
            }
        }
        new_dirs
    }
}
