//! The halt lever of a data directory, shared by `shakedown halt` / `resume` and the REST
//! server's `POST /api/chaos/halt|resume`: set the latch, signal every process carrying a
//! campaign or run, record it in the signed ledger; and lift it again. Synchronous, cheap and
//! silent (callers print or answer), so any front end can call it.
//!
//! Order matters for the 100 ms target: the latch is written first (from then on nothing new
//! starts and every latch watcher — the standalone proxies — removes its faults), the signals
//! go out next, and only then is the ledger entry appended, so its fsync never delays the stop.
//! A ledger that cannot be written does not stop the halt; the outcome says it was not
//! recorded.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use shakedown_core::system::Environment;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::governance::Governance;
use crate::halt_latch::{self, Active, HaltInfo};

/// Ledger category of halt and resume.
pub const CONTROL_CATEGORY: &str = "control";
/// Ledger resource of halt and resume: everything in the data directory.
const ALL: &str = "all";
/// The ledger actor of a halt pulled by SIGINT/SIGTERM to a running campaign.
pub const SIGNAL_ACTOR: &str = "signal";
/// How often [`wait_stopped`] looks at the registry.
const WAIT_POLL: Duration = Duration::from_millis(20);

/// Why the lever could not be pulled or lifted.
#[derive(Debug, thiserror::Error)]
pub enum HaltError {
    #[error(
        "cannot {what} the halt latch {path}: {source}; make the data directory writable (or \
         pass the right --data-dir) and try again"
    )]
    Latch {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What `halt_all` did.
#[derive(Debug, Clone)]
pub struct HaltOutcome {
    /// The latch as written.
    pub info: HaltInfo,
    /// The instant halt was accepted: when the latch was written (the same instant as
    /// `info.at`). The 100 ms target is measured from here.
    pub accepted_at: OffsetDateTime,
    /// The processes that were sent SIGTERM.
    pub signalled: Vec<Active>,
    /// Signals that could not be delivered (the process had just ended, or `kill` failed).
    pub signal_errors: Vec<String>,
    /// The ledger entry's sequence number, or why it could not be recorded.
    pub ledger: Result<u64, String>,
}

/// What `resume` did.
#[derive(Debug, Clone)]
pub struct ResumeOutcome {
    /// The halt that was lifted; `None` when chaos was not halted (nothing changed, nothing
    /// recorded).
    pub lifted: Option<HaltInfo>,
    /// The ledger entry's sequence number, or why it could not be recorded (`Ok(0)` when
    /// nothing was lifted).
    pub ledger: Result<u64, String>,
}

/// Pulls the lever: sets the latch as `actor` with `reason`, sends SIGTERM to every registered
/// campaign or run but the calling process (a campaign halting on its own signal stops itself),
/// and records `control/halted` in the ledger. Returns at once; use [`wait_stopped`] to wait
/// for the signalled processes.
pub fn halt_all(data_dir: &Path, actor: &str, reason: &str) -> Result<HaltOutcome, HaltError> {
    halt_all_then(data_dir, actor, reason, || {})
}

/// [`halt_all`], calling `latched` right after the latch is written and before any signal: a
/// campaign halting on its own signal stops itself there, so whatever it records next already
/// sees the latch (and who set it).
pub fn halt_all_then(
    data_dir: &Path,
    actor: &str,
    reason: &str,
    latched: impl FnOnce(),
) -> Result<HaltOutcome, HaltError> {
    let accepted_at = OffsetDateTime::now_utc();
    let info = HaltInfo {
        by: actor.to_string(),
        at: accepted_at
            .format(&Rfc3339)
            .unwrap_or_else(|_| accepted_at.unix_timestamp().to_string()),
        reason: reason.to_string(),
    };
    halt_latch::set(data_dir, &info).map_err(|source| HaltError::Latch {
        what: "set",
        path: data_dir.join("halted.json"),
        source,
    })?;
    latched();
    let me = std::process::id();
    let signalled: Vec<Active> = halt_latch::active(data_dir)
        .into_iter()
        .filter(|a| a.pid != me)
        .collect();
    let signal_errors = terminate(&signalled);
    let ledger = record(
        data_dir,
        actor,
        "halted",
        serde_json::json!({"reason": reason, "signalled": signalled, "pid": me}),
    );
    Ok(HaltOutcome {
        info,
        accepted_at,
        signalled,
        signal_errors,
        ledger,
    })
}

/// Waits until none of `pids` is registered any more (each removes its registration when it
/// has stopped and cleaned up), at most `timeout`. Returns those still running.
pub fn wait_stopped(data_dir: &Path, pids: &[Active], timeout: Duration) -> Vec<Active> {
    let deadline = Instant::now() + timeout;
    let max_polls = timeout.as_millis() / WAIT_POLL.as_millis() + 1;
    let mut left = still_running(data_dir, pids);
    let mut polls = 0;
    while !left.is_empty() && Instant::now() < deadline && polls < max_polls {
        std::thread::sleep(WAIT_POLL);
        polls += 1;
        left = still_running(data_dir, pids);
    }
    left
}

/// Lifts the lever as `actor`: clears the latch and records `control/resumed` in the ledger.
/// Resuming when not halted changes and records nothing.
pub fn resume(data_dir: &Path, actor: &str) -> Result<ResumeOutcome, HaltError> {
    let was = halt_latch::halted(data_dir);
    let cleared = halt_latch::clear(data_dir).map_err(|source| HaltError::Latch {
        what: "clear",
        path: data_dir.join("halted.json"),
        source,
    })?;
    if !cleared {
        return Ok(ResumeOutcome {
            lifted: None,
            ledger: Ok(0),
        });
    }
    let ledger = record(data_dir, actor, "resumed", serde_json::json!({"halt": was}));
    Ok(ResumeOutcome {
        lifted: was,
        ledger,
    })
}

fn still_running(data_dir: &Path, pids: &[Active]) -> Vec<Active> {
    let live = halt_latch::active(data_dir);
    pids.iter().filter(|a| live.contains(a)).cloned().collect()
}

/// SIGTERM to every process in one `kill` (no `unsafe` here, and one fork however many).
fn terminate(running: &[Active]) -> Vec<String> {
    if running.is_empty() {
        return Vec::new();
    }
    let mut cmd = Command::new("kill");
    cmd.arg("-TERM");
    cmd.args(running.iter().map(|a| a.pid.to_string()));
    match cmd.output() {
        Ok(o) if o.status.success() => Vec::new(),
        Ok(o) => String::from_utf8_lossy(&o.stderr)
            .lines()
            .map(str::to_string)
            .collect(),
        Err(e) => vec![format!("cannot run kill: {e}")],
    }
}

fn record(
    data_dir: &Path,
    actor: &str,
    action: &str,
    data: serde_json::Value,
) -> Result<u64, String> {
    let g = Governance::open(data_dir, actor).map_err(|e| e.to_string())?;
    g.record(CONTROL_CATEGORY, Environment::Test, action, ALL, data)
        .map(|e| e.seq)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shakedown_ledger::{ExportFormat, Ledger};

    fn actions(data: &Path) -> Vec<(String, String, serde_json::Value)> {
        let ledger = Ledger::open_in_data_dir(data).unwrap();
        let mut out = Vec::new();
        ledger.export(ExportFormat::Jsonl, &mut out).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["actor"].as_str().unwrap().to_string(),
                    v["action"].as_str().unwrap().to_string(),
                    v["data"].clone(),
                )
            })
            .collect()
    }

    #[test]
    fn halt_sets_the_latch_signals_and_records_and_resume_lifts_it() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        // A real process carrying a "campaign": halt must SIGTERM it.
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        std::fs::create_dir_all(data.join("active")).unwrap();
        let reg = Active {
            pid: child.id(),
            kind: "campaign".into(),
            id: "c1".into(),
            started: None,
        };
        std::fs::write(
            data.join("active").join(child.id().to_string()),
            serde_json::to_vec(&reg).unwrap(),
        )
        .unwrap();

        let before = OffsetDateTime::now_utc();
        let out = halt_all(data, "alice", "drill").unwrap();
        let after = OffsetDateTime::now_utc();
        assert!(before <= out.accepted_at && out.accepted_at <= after);
        assert_eq!(halt_latch::halted(data), Some(out.info.clone()));
        assert_eq!(
            OffsetDateTime::parse(&out.info.at, &Rfc3339).unwrap(),
            out.accepted_at,
            "the latch carries the acceptance instant to the nanosecond"
        );
        assert_eq!(out.signalled, vec![reg.clone()]);
        assert!(out.signal_errors.is_empty(), "{:?}", out.signal_errors);
        assert_eq!(out.ledger, Ok(1));
        // SIGTERM ended the sleep (signal 15), so the registration is now stale.
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(15));
        assert!(wait_stopped(data, &out.signalled, Duration::from_secs(2)).is_empty());

        let r = resume(data, "bob").unwrap();
        assert_eq!(r.lifted, Some(out.info.clone()));
        assert_eq!(r.ledger, Ok(2));
        assert!(halt_latch::halted(data).is_none());
        // Nothing to lift: nothing recorded.
        let again = resume(data, "bob").unwrap();
        assert!(again.lifted.is_none());

        let entries = actions(data);
        assert_eq!(entries.len(), 2, "{entries:?}");
        assert_eq!(
            (entries[0].0.as_str(), entries[0].1.as_str()),
            ("alice", "halted")
        );
        assert_eq!(entries[0].2["reason"], "drill");
        assert_eq!(entries[0].2["signalled"][0]["id"], "c1");
        assert_eq!(
            (entries[1].0.as_str(), entries[1].1.as_str()),
            ("bob", "resumed")
        );
        assert_eq!(entries[1].2["halt"]["by"], "alice");
        assert!(
            Ledger::open_in_data_dir(data)
                .unwrap()
                .verify()
                .unwrap()
                .is_ok()
        );
    }

    #[test]
    fn wait_stopped_reports_processes_that_do_not_stop() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        // This test process is alive and is never signalled here.
        let _g = halt_latch::register(data, "agent_run", "r1").unwrap();
        let me = halt_latch::active(data);
        let t0 = Instant::now();
        let left = wait_stopped(data, &me, Duration::from_millis(200));
        assert_eq!(left, me);
        assert!(t0.elapsed() >= Duration::from_millis(200));
        assert!(t0.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn a_latch_that_cannot_be_written_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        // The data "directory" is a file: nothing can be created under it.
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, "x").unwrap();
        let err = halt_all(&file, "alice", "drill").unwrap_err().to_string();
        assert!(
            err.contains("cannot set the halt latch") && err.contains("--data-dir"),
            "{err}"
        );
    }
}
