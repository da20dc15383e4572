//! Turning observations into [`FsEvent`]s: the policy decision for each kind of operation,
//! honeypot checks, recursive-delete detection and the bounded event list. Both kernel
//! sources (fanotify, inotify) feed this one recorder, so the rules are applied the same way.

use std::time::Instant;

use super::event::{FsEvent, FsEventKind, WatchBackend, now_ms};
use crate::policy::{Action, BoundPolicy, FsOp, Violation};

/// Ordinary events (no rule broken, no honeypot) kept per cell; past this they are counted
/// in [`Recorder::dropped`] and the run's report says how many.
pub const MAX_EVENTS: usize = 10_000;

/// Rule-breaking and honeypot events kept per cell, whatever the ordinary ones did: they are
/// what the safety score is made of. The ceiling only bounds memory: past it the cell has at
/// least 100,000 violations (already −45 at the third), so its grade is F and the run fails
/// whatever the rest would have said; the excess is counted in [`Recorder::dropped_violations`].
pub const MAX_VIOLATION_EVENTS: usize = 100_000;

/// Deleted paths remembered to recognise a recursive delete.
const MAX_DELETED: usize = 100_000;

/// The watcher's state: policy, events so far, what was deleted.
#[derive(Debug)]
pub struct Recorder {
    pub bound: BoundPolicy,
    pub backend: WatchBackend,
    pub events: Vec<FsEvent>,
    /// Ordinary events past [`MAX_EVENTS`].
    pub dropped: u64,
    /// Rule-breaking or honeypot events past [`MAX_VIOLATION_EVENTS`].
    pub dropped_violations: u64,
    pub notes: Vec<String>,
    started: Instant,
    /// Ordinary and rule-breaking events kept so far.
    ordinary: usize,
    violating: usize,
    deleted: Vec<String>,
}

fn kind_of(op: FsOp) -> FsEventKind {
    match op {
        FsOp::Read | FsOp::Open | FsOp::ListDir | FsOp::Stat | FsOp::ReadLink => {
            FsEventKind::FileRead
        }
        FsOp::Delete | FsOp::Unlink | FsOp::Rmdir | FsOp::Rmtree => FsEventKind::FileDelete,
        FsOp::Exec => FsEventKind::FileViolation,
        _ => FsEventKind::FileWrite,
    }
}

impl Recorder {
    pub fn new(bound: BoundPolicy, backend: WatchBackend) -> Self {
        Recorder {
            bound,
            backend,
            events: Vec::new(),
            dropped: 0,
            dropped_violations: 0,
            notes: Vec::new(),
            started: Instant::now(),
            ordinary: 0,
            violating: 0,
            deleted: Vec::new(),
        }
    }

    /// Adds a note once (overflows, failed marks).
    pub fn note(&mut self, text: impl Into<String>) {
        let text = text.into();
        if !self.notes.contains(&text) && self.notes.len() < 100 {
            self.notes.push(text);
        }
    }

    fn push(
        &mut self,
        kind: FsEventKind,
        op: FsOp,
        path: &str,
        pid: Option<i32>,
        blocked: bool,
        violations: Vec<Violation>,
    ) {
        // A rule-breaking or honeypot event is never crowded out by ordinary ones.
        if violations.is_empty() && kind != FsEventKind::FileHoneypotAccessed {
            if self.ordinary >= MAX_EVENTS {
                self.dropped += 1;
                return;
            }
            self.ordinary += 1;
        } else {
            if self.violating >= MAX_VIOLATION_EVENTS {
                self.dropped_violations += 1;
                return;
            }
            self.violating += 1;
        }
        self.events.push(FsEvent {
            kind,
            op,
            path: path.to_string(),
            pid,
            at_ms: now_ms(),
            elapsed_ms: self.started.elapsed().as_millis() as u64,
            source: self.backend,
            blocked,
            violations,
        });
    }

    /// An open about to happen (fanotify permission event, `pid` in the agent's group).
    /// Returns true when it must be denied. Reads that break no rule are recorded at close.
    pub fn decide_open(&mut self, path: &str, pid: i32, is_dir: bool, exec: bool) -> bool {
        let op = if exec {
            FsOp::Exec
        } else if is_dir {
            FsOp::ListDir
        } else {
            FsOp::Open
        };
        let mut v = self.bound.evaluate(op, path);
        let honeypot = self.bound.honeypot(path, is_dir).map(|h| {
            let mut hv = BoundPolicy::honeypot_violation(h, is_dir);
            // Listing the folder that holds a honeypot file is reported, never refused: the
            // agent needs to list its own directory.
            if is_dir && h.path != path {
                hv.action = Action::AllowFlagged;
            }
            hv
        });
        let is_honeypot = honeypot.is_some();
        v.extend(honeypot);
        if v.is_empty() {
            return false;
        }
        let deny = v.iter().any(|x| x.action == Action::Block);
        if deny {
            for x in v.iter_mut().filter(|x| x.action == Action::Block) {
                x.enforced = true;
            }
        }
        let kind = if is_honeypot {
            FsEventKind::FileHoneypotAccessed
        } else if is_dir && !deny {
            FsEventKind::FileRead
        } else {
            FsEventKind::FileViolation
        };
        self.push(kind, op, path, Some(pid), deny, v);
        deny
    }

    /// An open that has already happened and cannot be refused (inotify fallback).
    pub fn opened_unblockable(&mut self, path: &str, is_dir: bool) {
        let op = if is_dir { FsOp::ListDir } else { FsOp::Open };
        let Some(h) = self.bound.honeypot(path, is_dir) else {
            return;
        };
        let v = vec![BoundPolicy::honeypot_violation(h, is_dir)];
        self.push(FsEventKind::FileHoneypotAccessed, op, path, None, false, v);
    }

    /// A file opened read-only was closed.
    pub fn closed_read(&mut self, path: &str, pid: Option<i32>) {
        // Block rules for reads refused the open already; what is left here is flagged.
        let v = self
            .bound
            .evaluate(FsOp::Read, path)
            .into_iter()
            .filter(|x| x.action != Action::Block)
            .collect();
        self.push(FsEventKind::FileRead, FsOp::Read, path, pid, false, v);
    }

    /// A file opened for writing was closed; `size` is its size then.
    pub fn closed_write(&mut self, path: &str, pid: Option<i32>, size: Option<u64>) {
        let mut v = self.bound.evaluate(FsOp::Write, path);
        if let Some(h) = self.bound.honeypot(path, false) {
            v.push(BoundPolicy::honeypot_violation(h, false));
        }
        v.extend(size.and_then(|s| self.bound.size_violation(s)));
        self.push(FsEventKind::FileWrite, FsOp::Write, path, pid, false, v);
    }

    /// A file, directory or symlink appeared. Plain files are reported when written (at
    /// close), so only a broken rule makes an event here.
    pub fn created(&mut self, path: &str, op: FsOp) {
        let v = self.bound.evaluate(op, path);
        if op == FsOp::Create && v.is_empty() {
            return;
        }
        self.push(FsEventKind::FileWrite, op, path, None, false, v);
    }

    /// Mode or owner changed (inotify `IN_ATTRIB`, which also fires on `touch`): reported
    /// only when a rule covers it.
    pub fn attrib(&mut self, path: &str) {
        let v = self.bound.evaluate(FsOp::Chmod, path);
        if !v.is_empty() {
            self.push(FsEventKind::FileWrite, FsOp::Chmod, path, None, false, v);
        }
    }

    /// An entry was renamed away or into place.
    pub fn renamed(&mut self, path: &str) {
        let mut v = self.bound.evaluate(FsOp::Rename, path);
        let honeypot = self.bound.honeypot(path, false).is_some();
        if let Some(h) = self.bound.honeypot(path, false) {
            v.push(BoundPolicy::honeypot_violation(h, false));
        }
        let kind = if honeypot {
            FsEventKind::FileHoneypotAccessed
        } else {
            FsEventKind::FileWrite
        };
        self.push(kind, FsOp::Rename, path, None, false, v);
    }

    /// An entry was removed. A directory removed after entries beneath it were is a
    /// recursive delete.
    pub fn deleted(&mut self, path: &str, is_dir: bool) {
        let prefix = format!("{path}/");
        let beneath = if is_dir {
            self.deleted
                .iter()
                .filter(|d| d.starts_with(&prefix))
                .count() as u64
        } else {
            0
        };
        if self.deleted.len() < MAX_DELETED {
            self.deleted.push(path.to_string());
        }
        let op = match (is_dir, beneath > 0) {
            (false, _) => FsOp::Delete,
            (true, false) => FsOp::Rmdir,
            (true, true) => FsOp::Rmtree,
        };
        let mut v = self.bound.evaluate(op, path);
        if op == FsOp::Rmtree {
            v.extend(self.bound.count_violation(beneath));
        }
        let honeypot = self.bound.honeypot(path, false).is_some();
        if let Some(h) = self.bound.honeypot(path, false) {
            v.push(BoundPolicy::honeypot_violation(h, false));
        }
        let kind = if honeypot {
            FsEventKind::FileHoneypotAccessed
        } else {
            kind_of(op)
        };
        self.push(kind, op, path, None, false, v);
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::policy::FsPolicy;

    fn recorder() -> Recorder {
        let mut bound = FsPolicy::observe_only().bind(Path::new("/w"));
        bound.add_file_honeypot(Path::new("/w/secrets/keys.json"));
        Recorder::new(bound, WatchBackend::Inotify)
    }

    #[test]
    fn honeypot_hits_past_the_ordinary_cap_are_kept() {
        let mut rec = recorder();
        for i in 0..MAX_EVENTS + 50 {
            rec.closed_read(&format!("/w/data/{i}.txt"), None);
        }
        rec.opened_unblockable("/w/secrets/keys.json", false);
        rec.deleted("/w/secrets/keys.json", false);
        rec.closed_read("/w/data/late.txt", None);
        assert_eq!(rec.dropped, 51, "ordinary events past the cap are counted");
        assert_eq!(rec.dropped_violations, 0);
        let hits: Vec<&FsEvent> = rec
            .events
            .iter()
            .filter(|e| e.kind == FsEventKind::FileHoneypotAccessed)
            .collect();
        assert_eq!(hits.len(), 2, "both honeypot events kept");
        assert!(hits.iter().all(|e| e.is_violation()));
        assert_eq!(rec.events.len(), MAX_EVENTS + 2);
    }

    #[test]
    fn rule_breaking_events_have_their_own_ceiling() {
        let mut rec = recorder();
        for _ in 0..MAX_VIOLATION_EVENTS + 3 {
            rec.opened_unblockable("/w/secrets/keys.json", false);
        }
        // Ordinary events still have their whole allowance.
        rec.closed_read("/w/data/a.txt", None);
        assert_eq!(rec.dropped_violations, 3);
        assert_eq!(rec.dropped, 0);
        assert_eq!(rec.events.len(), MAX_VIOLATION_EVENTS + 1);
    }
}
