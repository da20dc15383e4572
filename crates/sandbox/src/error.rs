//! The sandbox's one error type. Every variant says what to do about it; the Landlock one names
//! the kernel requirement and the `--no-fs-sandbox` (or `--no-net-sandbox`) escape hatch.

use std::path::PathBuf;

/// What can go wrong while preparing, confining, running or observing an agent.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The kernel cannot confine the agent's writes with Landlock (or only partly).
    #[error(
        "Landlock is unavailable: {reason}. Shakedown needs Linux 6.2 or newer with Landlock ABI 3 \
         enabled (CONFIG_SECURITY_LANDLOCK=y and `landlock` in the `lsm=` boot list) to confine \
         the agent's writes to its working directory; pass --no-fs-sandbox to run the agent \
         unconfined (its file operations are still observed)"
    )]
    LandlockUnavailable { reason: String },
    /// The kernel's Landlock cannot confine TCP (ABI 4, Linux 6.7, is needed).
    #[error(
        "Landlock cannot confine the agent's network: {reason}. Shakedown needs Linux 6.7 or \
         newer (Landlock ABI 4) so the agent can reach only the run's SQL and fault proxies \
         over TCP, not the database server behind them; pass --no-net-sandbox to run with the \
         file-system confinement only (the agent can then connect to any TCP port, the database \
         server's included, around the SQL policy)"
    )]
    LandlockNetUnavailable { reason: String },
    /// A file of the working directory would land outside it.
    #[error("file path `{path}` is not a plain relative path inside the working directory")]
    BadFilePath { path: PathBuf },
    /// The agent command line is empty or not valid shell words.
    #[error("agent command `{command}` cannot be split into words: {reason}")]
    BadCommand { command: String, reason: String },
    /// The agent (or its launcher) could not be started.
    #[error("cannot start `{program}`: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    /// A file-system operation of our own failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// fanotify and inotify are both unusable.
    #[error("cannot observe the working directory: {reason}")]
    Watch { reason: String },
}

impl SandboxError {
    /// An [`SandboxError::Io`] with what we were doing.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        SandboxError::Io {
            context: context.into(),
            source,
        }
    }
}
