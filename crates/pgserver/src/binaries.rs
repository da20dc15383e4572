//! Where the PostgreSQL server binaries are, and how to run them as the right OS user.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::PgError;

/// The default place of the machine's PostgreSQL binaries (Debian layout).
const DEFAULT_BIN: &str = "/usr/lib/postgresql/15/bin";

/// The directory holding `initdb`, `pg_ctl` and `postgres`: `$PG_BIN` when set, otherwise the
/// Debian PostgreSQL 15 directory, otherwise the newest `/usr/lib/postgresql/*/bin`.
pub fn pg_bin_dir() -> Result<PathBuf, PgError> {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return checked(PathBuf::from(dir));
    }
    let default = PathBuf::from(DEFAULT_BIN);
    if default.join("initdb").exists() {
        return Ok(default);
    }
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .max_by_key(|p| version_of(p));
    checked(newest.unwrap_or(default))
}

fn version_of(bin: &Path) -> u32 {
    bin.parent()
        .and_then(Path::file_name)
        .and_then(|n| n.to_str())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn checked(dir: PathBuf) -> Result<PathBuf, PgError> {
    if dir.join("initdb").exists() && dir.join("pg_ctl").exists() {
        Ok(dir)
    } else {
        Err(PgError::NoBinaries { dir })
    }
}

/// Who runs the server binaries: ourselves, or the `postgres` user when we are root.
#[derive(Debug, Clone, Copy)]
pub enum RunAs {
    Me,
    Postgres { uid: u32, gid: u32 },
}

impl RunAs {
    /// Root cannot run PostgreSQL; everyone else runs it directly.
    pub fn detect() -> Result<Self, PgError> {
        let uid = std::fs::metadata("/proc/self")
            .map(|m| m.uid())
            .unwrap_or(u32::MAX);
        if uid != 0 {
            return Ok(Self::Me);
        }
        let passwd = std::fs::read_to_string("/etc/passwd").map_err(|source| PgError::File {
            path: "/etc/passwd".into(),
            source,
        })?;
        passwd
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.len() > 3 && f[0] == "postgres")
            .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
            .map(|(uid, gid)| Self::Postgres { uid, gid })
            .ok_or(PgError::NoPostgresUser)
    }

    /// A command for `program`, wrapped in `runuser` when it must run as `postgres`.
    pub fn command(self, program: &Path) -> Command {
        match self {
            Self::Me => Command::new(program),
            Self::Postgres { .. } => {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", "postgres", "--"]).arg(program);
                cmd
            }
        }
    }

    /// Give `path` to the user that runs the server.
    pub fn own(self, path: &Path) -> Result<(), PgError> {
        match self {
            Self::Me => Ok(()),
            Self::Postgres { uid, gid } => std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .map_err(|source| PgError::File {
                    path: path.to_path_buf(),
                    source,
                }),
        }
    }
}

/// Run `cmd` to completion; a non-zero exit becomes an error carrying its output.
pub fn run(step: &str, cmd: &mut Command) -> Result<String, PgError> {
    let program = format!("{:?}", cmd.get_program());
    let out = cmd
        .output()
        .map_err(|source| PgError::Spawn { program, source })?;
    finished(step, &out)
}

/// A finished command's output: its text, or an error carrying it when it exited non-zero.
pub(crate) fn finished(step: &str, out: &std::process::Output) -> Result<String, PgError> {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(PgError::Command {
            step: step.to_string(),
            status: out.status.to_string(),
            output: text,
        })
    }
}
