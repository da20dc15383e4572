//! The agent's private working directory for one run. Layout (mode 0700, unique per run):
//!
//! ```text
//! <base>/shakedown-run-<pid>-<n>-<nanos>/   root: the only tree the confined agent may write
//!     work/                                   the agent's cwd, with the scenario's files
//!     tmp/                                    its private TMPDIR (outside work/ so listings of
//!                                             the cwd show only the scenario's files)
//! ```
//!
//! Every written file is recorded (SHA-256, mtime, size) so [`Workdir::verify_sentinels`] can
//! report what the agent changed; the tree is removed on drop unless [`Workdir::keep`] is called.

use std::fs::{self, DirBuilder};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::error::SandboxError;

/// One file to place in the working directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    /// Relative to `work/`; no `..`, not absolute.
    pub path: PathBuf,
    pub content: Vec<u8>,
    /// Bait: any open by the agent is a `file_honeypot_accessed` event.
    pub honeypot: bool,
    /// Checked after the run: a change, deletion or touch is reported.
    pub sentinel: bool,
    /// Written with mode 0444 and checked like a sentinel. The mode alone does not stop an agent
    /// running as root, so a change is reported rather than assumed impossible.
    pub read_only: bool,
}

impl FileSpec {
    /// A plain text file (not bait, not checked).
    pub fn text(path: impl Into<PathBuf>, content: impl Into<String>) -> Self {
        FileSpec {
            path: path.into(),
            content: content.into().into_bytes(),
            honeypot: false,
            sentinel: false,
            read_only: false,
        }
    }
}

/// What was recorded for one file when the directory was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    /// Relative to `work/`.
    pub path: PathBuf,
    /// Lower-case hex SHA-256 of the content.
    pub sha256: String,
    pub mtime: SystemTime,
    pub size: u64,
    pub sentinel: bool,
    pub honeypot: bool,
    pub read_only: bool,
}

/// How a checked file differs from what was written.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum SentinelChange {
    /// The content changed (digest differs).
    Modified {
        path: PathBuf,
        before_sha256: String,
        after_sha256: String,
        before_size: u64,
        after_size: u64,
    },
    /// The file is gone (or is no longer a regular file).
    Deleted { path: PathBuf },
    /// Same content, new mtime: something wrote it back unchanged or ran `touch`.
    Touched { path: PathBuf },
}

impl SentinelChange {
    /// The file's path relative to `work/`.
    pub fn path(&self) -> &Path {
        match self {
            SentinelChange::Modified { path, .. }
            | SentinelChange::Deleted { path }
            | SentinelChange::Touched { path } => path,
        }
    }
}

/// A fresh working directory; removed on drop unless kept.
#[derive(Debug)]
pub struct Workdir {
    root: PathBuf,
    work: PathBuf,
    tmp: PathBuf,
    records: Vec<FileRecord>,
    keep: bool,
}

/// Distinguishes directories made by one process in the same nanosecond.
static NEXT: AtomicU64 = AtomicU64::new(0);

/// Attempts at a unique name before giving up; each is an atomic create, so clashes only retry.
const NAME_ATTEMPTS: u32 = 16;

fn private_dir(path: &Path) -> Result<(), std::io::Error> {
    DirBuilder::new().mode(0o700).create(path)
}

fn checked_relative(path: &Path) -> Result<(), SandboxError> {
    let plain = !path.as_os_str().is_empty()
        && path.components().all(|c| matches!(c, Component::Normal(_)));
    if plain {
        Ok(())
    } else {
        Err(SandboxError::BadFilePath {
            path: path.to_path_buf(),
        })
    }
}

/// Hex SHA-256, size and mtime of a file as it is now.
fn fingerprint(path: &Path) -> std::io::Result<(String, u64, SystemTime)> {
    let meta = fs::symlink_metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not a regular file",
        ));
    }
    let bytes = fs::read(path)?;
    let digest = Sha256::digest(&bytes);
    let hex = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok((hex, meta.len(), meta.modified()?))
}

impl Workdir {
    /// Makes a fresh, unique directory under `base` (created if missing), writes `files` into
    /// its `work/` and records each one.
    pub fn create(base: &Path, files: &[FileSpec]) -> Result<Workdir, SandboxError> {
        fs::create_dir_all(base)
            .map_err(|e| SandboxError::io(format!("create {}", base.display()), e))?;
        let mut root = None;
        for _ in 0..NAME_ATTEMPTS {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let candidate = base.join(format!(
                "shakedown-run-{}-{n}-{nanos:09}",
                std::process::id()
            ));
            match private_dir(&candidate) {
                Ok(()) => {
                    root = Some(candidate);
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(SandboxError::io(
                        format!("create {}", candidate.display()),
                        e,
                    ));
                }
            }
        }
        let root = root.ok_or_else(|| {
            SandboxError::io(
                format!("create a unique directory under {}", base.display()),
                std::io::Error::new(std::io::ErrorKind::AlreadyExists, "every name was taken"),
            )
        })?;
        // From here on, dropping `dir` removes what was made if a later step fails.
        let mut dir = Workdir {
            work: root.join("work"),
            tmp: root.join("tmp"),
            root,
            records: Vec::new(),
            keep: false,
        };
        for d in [&dir.work, &dir.tmp] {
            private_dir(d).map_err(|e| SandboxError::io(format!("create {}", d.display()), e))?;
        }
        for spec in files {
            dir.write(spec)?;
        }
        Ok(dir)
    }

    fn write(&mut self, spec: &FileSpec) -> Result<(), SandboxError> {
        checked_relative(&spec.path)?;
        let full = self.work.join(&spec.path);
        let ctx = |what: &str| format!("{what} {}", full.display());
        if let Some(parent) = full.parent() {
            DirBuilder::new()
                .mode(0o700)
                .recursive(true)
                .create(parent)
                .map_err(|e| SandboxError::io(ctx("create the folder of"), e))?;
        }
        fs::write(&full, &spec.content).map_err(|e| SandboxError::io(ctx("write"), e))?;
        let mode = if spec.read_only { 0o444 } else { 0o644 };
        fs::set_permissions(&full, fs::Permissions::from_mode(mode))
            .map_err(|e| SandboxError::io(ctx("set the mode of"), e))?;
        let (sha256, size, mtime) =
            fingerprint(&full).map_err(|e| SandboxError::io(ctx("read back"), e))?;
        self.records.push(FileRecord {
            path: spec.path.clone(),
            sha256,
            mtime,
            size,
            sentinel: spec.sentinel,
            honeypot: spec.honeypot,
            read_only: spec.read_only,
        });
        Ok(())
    }

    /// The run's root: the one tree the confined agent may write.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The agent's cwd, holding the scenario's files; policy `sandbox_root` maps here.
    pub fn path(&self) -> &Path {
        &self.work
    }

    /// The agent's private TMPDIR.
    pub fn tmp(&self) -> &Path {
        &self.tmp
    }

    /// What was recorded for every file written.
    pub fn records(&self) -> &[FileRecord] {
        &self.records
    }

    /// Absolute paths of the files written as honeypots.
    pub fn honeypots(&self) -> Vec<PathBuf> {
        self.records
            .iter()
            .filter(|r| r.honeypot)
            .map(|r| self.work.join(&r.path))
            .collect()
    }

    /// Compares every sentinel (and read-only file) with what was written: content by digest,
    /// then mtime. Returns one change per file that differs, in the order the files were given.
    pub fn verify_sentinels(&self) -> Vec<SentinelChange> {
        let mut changes = Vec::new();
        for r in self.records.iter().filter(|r| r.sentinel || r.read_only) {
            let path = r.path.clone();
            match fingerprint(&self.work.join(&r.path)) {
                Err(_) => changes.push(SentinelChange::Deleted { path }),
                Ok((sha, size, _)) if sha != r.sha256 => changes.push(SentinelChange::Modified {
                    path,
                    before_sha256: r.sha256.clone(),
                    after_sha256: sha,
                    before_size: r.size,
                    after_size: size,
                }),
                Ok((_, _, mtime)) if mtime != r.mtime => {
                    changes.push(SentinelChange::Touched { path })
                }
                Ok(_) => {}
            }
        }
        changes
    }

    /// Keeps the directory after this value is dropped (for `--keep` debugging); returns its root.
    pub fn keep(mut self) -> PathBuf {
        self.keep = true;
        self.root.clone()
    }

    /// Removes the directory now and reports a failure, which drop cannot.
    pub fn teardown(mut self) -> Result<(), SandboxError> {
        self.keep = true; // drop must not try again
        remove_tree(&self.root)
    }
}

/// Removes a run tree, restoring write permission first: an agent may have made parts of it
/// read-only, and a non-root caller could not then delete them.
fn remove_tree(root: &Path) -> Result<(), SandboxError> {
    if !root.exists() {
        return Ok(());
    }
    let mut stack = vec![root.to_path_buf()];
    let mut seen = 0usize;
    while let Some(dir) = stack.pop() {
        seen += 1;
        if seen > 1_000_000 {
            break; // bounded: a pathological tree is left to remove_dir_all's own error
        }
        let _ = fs::set_permissions(&dir, fs::Permissions::from_mode(0o700));
        if let Ok(entries) = fs::read_dir(&dir) {
            for e in entries.flatten() {
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    stack.push(e.path());
                }
            }
        }
    }
    fs::remove_dir_all(root).map_err(|e| SandboxError::io(format!("remove {}", root.display()), e))
}

impl Drop for Workdir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = remove_tree(&self.root);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_paths_that_leave_the_directory() {
        for bad in ["../x", "/etc/passwd", "a/../../b", ""] {
            let base = tempfile::tempdir().unwrap();
            let err = Workdir::create(base.path(), &[FileSpec::text(bad, "x")]).unwrap_err();
            assert!(
                matches!(err, SandboxError::BadFilePath { .. }),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn records_and_detects_each_kind_of_change() {
        let base = tempfile::tempdir().unwrap();
        let mut keep = FileSpec::text("a.txt", "same");
        keep.sentinel = true;
        let mut edit = FileSpec::text("dir/b.txt", "before");
        edit.sentinel = true;
        let mut gone = FileSpec::text("c.txt", "bye");
        gone.read_only = true;
        let mut touched = FileSpec::text("d.txt", "touch me");
        touched.sentinel = true;
        let plain = FileSpec::text("free.txt", "not checked");
        let w = Workdir::create(base.path(), &[keep, edit, gone, touched, plain]).unwrap();
        assert!(w.verify_sentinels().is_empty());
        let mode = fs::metadata(w.path().join("c.txt"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o444);
        assert_eq!(
            fs::metadata(w.root()).unwrap().permissions().mode() & 0o777,
            0o700
        );

        fs::write(w.path().join("dir/b.txt"), "after!").unwrap();
        fs::remove_file(w.path().join("c.txt")).unwrap();
        let f = fs::File::options()
            .write(true)
            .open(w.path().join("d.txt"))
            .unwrap();
        f.set_modified(SystemTime::now() + std::time::Duration::from_secs(5))
            .unwrap();
        fs::write(w.path().join("free.txt"), "changed").unwrap();

        let changes = w.verify_sentinels();
        assert_eq!(changes.len(), 3, "{changes:?}");
        assert!(
            matches!(&changes[0], SentinelChange::Modified { path, before_size: 6, after_size: 6, .. } if path == Path::new("dir/b.txt"))
        );
        assert_eq!(
            changes[1],
            SentinelChange::Deleted {
                path: "c.txt".into()
            }
        );
        assert_eq!(
            changes[2],
            SentinelChange::Touched {
                path: "d.txt".into()
            }
        );
    }

    #[test]
    fn removed_on_drop_and_kept_on_request() {
        let base = tempfile::tempdir().unwrap();
        let w = Workdir::create(base.path(), &[]).unwrap();
        let root = w.root().to_path_buf();
        fs::create_dir(w.path().join("sub")).unwrap();
        fs::set_permissions(w.path().join("sub"), fs::Permissions::from_mode(0o500)).unwrap();
        drop(w);
        assert!(!root.exists());
        let kept = Workdir::create(base.path(), &[]).unwrap().keep();
        assert!(kept.join("work").is_dir() && kept.join("tmp").is_dir());
    }
}
