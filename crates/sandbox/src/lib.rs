//! Shakedown's agent sandbox, without Docker: a private working directory per run with
//! digest-checked sentinel files ([`workdir`]), Landlock confinement so the agent can write only
//! inside it and reach only the run's proxies over TCP ([`confine`]), the agent run in its own process group with a time limit that kills
//! the whole group ([`process`]), and file operations observed and policed with fanotify under a
//! ChaosTrace `strict_fs`-format policy ([`policy`], [`watch`]). See `docs/sandbox.md`.

pub mod confine;
pub mod error;
pub mod policy;
pub mod process;
pub mod watch;
pub mod workdir;

pub use confine::{
    ConfineSpec, ConfineStatus, confine_and_exec, decide_confinement, decide_net_confinement,
    probe_landlock, probe_landlock_net,
};
pub use error::SandboxError;
pub use policy::{FsPolicy, load_fs_policy};
pub use process::{AgentOutcome, AgentProcess, AgentSpec, Launcher};
pub use watch::{FsEvent, FsEventKind, WatchBackend, WatchReport, Watcher};
pub use workdir::{FileSpec, SentinelChange, Workdir};
