//! The halt latch of a data directory: `shakedown halt` sets it, signals every campaign and
//! agent run in progress (each stops its traffic, undoes its chaos and is stored as halted /
//! terminated), and while it is set no new campaign or run starts — until `shakedown resume`.
//! A latch file that cannot be read counts as set (fail closed).
//!
//! Processes carrying a campaign or run register in `active/` (one file per pid, removed when
//! they end), so `halt` knows whom to signal even across processes.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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
    let tmp = path.with_extension("json.tmp");
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
    };
    std::fs::write(
        &path,
        serde_json::to_vec(&entry).map_err(std::io::Error::other)?,
    )?;
    Ok(ActiveGuard(path))
}

fn alive(pid: u32) -> bool {
    // A zombie has exited; it only waits for its parent to reap it.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => false,
    }
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
            Some(a) if alive(a.pid) => out.push(a),
            _ => {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    out.sort_by_key(|a| a.pid);
    out
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
}
