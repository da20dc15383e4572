//! Running one agent process: split its command line (shell words, no shell), start it in its
//! own process group (confined through the launcher when asked), give it the task on stdin then
//! EOF, capture stdout and stderr (each capped at [`DEFAULT_OUTPUT_CAP`] = 1 MiB; the rest is
//! drained and counted), and wait with a time limit after which, or on terminate, the whole
//! group gets SIGTERM, a grace, then SIGKILL. After a normal exit the group is ended too, so
//! nothing the agent left running in the background outlives the run.

pub mod capture;
pub mod group;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::unistd::Pid;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::confine::{self, ConfineSpec, EXIT_CONFINE_FAILED};
use crate::error::SandboxError;
use crate::policy::FsPolicy;
use crate::workdir::Workdir;
use capture::{Captured, capture};
use group::{GroupEnd, end_group};

/// Cap on captured stdout and on captured stderr, each.
pub const DEFAULT_OUTPUT_CAP: usize = 1024 * 1024;

/// Time between SIGTERM and SIGKILL.
pub const DEFAULT_GRACE: Duration = Duration::from_millis(500);

/// How long the output readers may run on after the group is gone: a process that left the
/// group (setsid) could hold the pipes open forever.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);

/// Variables passed through from our environment; everything else is dropped so our own
/// secrets do not leak into the agent. The spec's `env` is added on top.
const PASSED_ENV: [&str; 9] = [
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TERM",
    "USER",
    "LOGNAME",
    "VIRTUAL_ENV",
];

/// The program that confines and then execs the agent: the `shakedown-confine` binary, or
/// the `shakedown` CLI with its hidden subcommand as `args`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launcher {
    pub program: PathBuf,
    /// Put before the launcher's own arguments (e.g. `["sandbox-exec"]`).
    pub args: Vec<OsString>,
}

impl Launcher {
    /// `shakedown-confine` beside the running executable (or one directory up, where Cargo
    /// puts binaries relative to test executables), else on `PATH`.
    pub fn locate() -> Launcher {
        let name = "shakedown-confine";
        let exe = std::env::current_exe().ok();
        let near = exe.iter().flat_map(|e| {
            let dir = e.parent().map(|p| p.to_path_buf());
            let up = dir
                .as_ref()
                .and_then(|d| d.parent())
                .map(|p| p.to_path_buf());
            [dir, up].into_iter().flatten().map(|d| d.join(name))
        });
        let program = near
            .into_iter()
            .find(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from(name));
        Launcher {
            program,
            args: Vec::new(),
        }
    }
}

/// Everything needed to start one agent.
#[derive(Debug, Clone)]
pub struct AgentSpec {
    /// Split with shell-word rules (quotes, escapes); never run through a shell.
    pub command: String,
    /// Added to (and overriding) the passed-through environment.
    pub env: Vec<(String, String)>,
    /// The agent's cwd (the workdir's `work/`).
    pub cwd: PathBuf,
    /// Set as `TMPDIR`, `TMP`, `TEMP` and `XDG_CACHE_HOME` when given.
    pub tmpdir: Option<PathBuf>,
    /// Directories a confined agent may write beneath (the workdir root).
    pub write_dirs: Vec<PathBuf>,
    /// Written to stdin, then stdin is closed.
    pub stdin: String,
    pub time_limit: Duration,
    /// Confine with Landlock through `launcher`; false is `--no-fs-sandbox`.
    pub confine: bool,
    pub launcher: Launcher,
    /// Passed to the launcher as `RLIMIT_FSIZE` (the policy's `max_file_size`).
    pub max_file_size: Option<u64>,
    /// Passed to the launcher (the policy's `allow_symlinks`).
    pub allow_symlinks: bool,
    /// Passed to the launcher: paths outside the run whose files may not be read.
    pub deny_read: Vec<PathBuf>,
    /// Passed to the launcher: `Some(ports)` confines TCP to connecting to these ports (the
    /// run's proxies) and binding none; `None` leaves the network open (`--no-net-sandbox`).
    /// Ignored when `confine` is false.
    pub connect_tcp: Option<Vec<u16>>,
    pub output_cap: usize,
    pub grace: Duration,
    /// Cancel to terminate the run (Ctrl-C, `shakedown terminate`).
    pub halt: CancellationToken,
}

impl AgentSpec {
    /// A confined agent in `workdir` with default caps, grace and launcher.
    pub fn new(command: impl Into<String>, workdir: &Workdir, time_limit: Duration) -> Self {
        AgentSpec {
            command: command.into(),
            env: Vec::new(),
            cwd: workdir.path().to_path_buf(),
            tmpdir: Some(workdir.tmp().to_path_buf()),
            write_dirs: vec![workdir.root().to_path_buf()],
            stdin: String::new(),
            time_limit,
            confine: true,
            launcher: Launcher::locate(),
            max_file_size: None,
            allow_symlinks: true,
            deny_read: Vec::new(),
            connect_tcp: Some(Vec::new()),
            output_cap: DEFAULT_OUTPUT_CAP,
            grace: DEFAULT_GRACE,
            halt: CancellationToken::new(),
        }
    }
}

impl AgentSpec {
    /// Applies what the kernel can enforce of a file policy at launch: `max_file_size`
    /// (RLIMIT_FSIZE), `allow_symlinks` (Landlock's make-symlink right) and the read-blocking
    /// rules outside the working directory (Landlock read rules, added to those already set).
    pub fn apply_policy(&mut self, policy: &FsPolicy, workdir: &Workdir) {
        self.max_file_size = Some(policy.max_file_size).filter(|&n| n != u64::MAX);
        self.allow_symlinks = policy.allow_symlinks;
        self.deny_read.extend(policy.read_denials(workdir.path()));
    }
}

/// How the agent's run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentOutcome {
    /// Exit code when it exited normally.
    pub exit_code: Option<i32>,
    /// Signal number when a signal ended it (ours after a time-out, or its own crash).
    pub signal: Option<i32>,
    /// The time limit passed and we ended the group.
    pub timed_out: bool,
    /// `halt` was cancelled and we ended the group.
    pub terminated: bool,
    /// The launcher could not confine the agent (exit status 125 from a confined run).
    pub confine_failed: bool,
    /// How the group was ended (also after a normal exit, for stragglers).
    pub group_end: GroupEnd,
    /// From spawn to the leader's exit.
    pub latency: Duration,
    pub stdout: String,
    pub stdout_total_bytes: u64,
    pub stdout_truncated: bool,
    pub stderr: String,
    pub stderr_total_bytes: u64,
    pub stderr_truncated: bool,
}

impl AgentOutcome {
    /// True when the agent exited by itself with status 0.
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out && !self.terminated
    }
}

/// Kills the whole group if the agent is dropped without [`AgentProcess::wait`] (a panic, an
/// early return): `kill_on_drop` alone would reach only the leader.
#[derive(Debug)]
struct GroupGuard {
    pgid: i32,
    armed: bool,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if self.armed && self.pgid > 0 {
            let _ = nix::sys::signal::killpg(Pid::from_raw(self.pgid), nix::sys::signal::SIGKILL);
        }
    }
}

/// A started agent; [`AgentProcess::wait`] ends it. Dropping it unwaited kills its group.
#[derive(Debug)]
pub struct AgentProcess {
    guard: GroupGuard,
    child: Child,
    pid: i32,
    started: Instant,
    stdout: JoinHandle<Captured>,
    stderr: JoinHandle<Captured>,
    stdin: Option<JoinHandle<()>>,
    time_limit: Duration,
    grace: Duration,
    halt: CancellationToken,
    confined: bool,
}

fn split(command: &str) -> Result<Vec<String>, SandboxError> {
    let words = shell_words::split(command).map_err(|e| SandboxError::BadCommand {
        command: command.to_string(),
        reason: e.to_string(),
    })?;
    if words.is_empty() {
        return Err(SandboxError::BadCommand {
            command: command.to_string(),
            reason: "it is empty".into(),
        });
    }
    Ok(words)
}

impl AgentProcess {
    /// Starts the agent. A confined spawn first checks that the kernel can enforce Landlock,
    /// so a missing Landlock is [`SandboxError::LandlockUnavailable`], not an exit status.
    pub fn spawn(spec: AgentSpec) -> Result<AgentProcess, SandboxError> {
        let words = split(&spec.command)?;
        let (program, args): (OsString, Vec<OsString>) = if spec.confine {
            if spec.connect_tcp.is_some() {
                confine::probe_landlock_net()?;
            } else {
                confine::probe_landlock()?;
            }
            let inner = ConfineSpec {
                write: spec.write_dirs.clone(),
                max_file_size: spec.max_file_size,
                allow_symlinks: spec.allow_symlinks,
                deny_read: spec.deny_read.clone(),
                connect_tcp: spec.connect_tcp.clone(),
                program: words[0].clone().into(),
                args: words[1..].iter().map(OsString::from).collect(),
            };
            let mut args = spec.launcher.args.clone();
            args.extend(confine::to_args(&inner));
            (spec.launcher.program.clone().into_os_string(), args)
        } else {
            (
                words[0].clone().into(),
                words[1..].iter().map(OsString::from).collect(),
            )
        };
        let mut cmd = Command::new(&program);
        cmd.args(&args)
            .current_dir(&spec.cwd)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        for key in PASSED_ENV {
            if let Some(v) = std::env::var_os(key) {
                cmd.env(key, v);
            }
        }
        if let Some(tmp) = &spec.tmpdir {
            for key in ["TMPDIR", "TMP", "TEMP", "XDG_CACHE_HOME"] {
                cmd.env(key, tmp);
            }
        }
        for (k, v) in &spec.env {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let mut child = cmd.spawn().map_err(|source| SandboxError::Spawn {
            program: program.to_string_lossy().into_owned(),
            source,
        })?;
        // Never 0: `killpg(0)` would signal our own group.
        let pid = match child
            .id()
            .and_then(|p| i32::try_from(p).ok())
            .filter(|&p| p > 0)
        {
            Some(p) => p,
            None => {
                return Err(SandboxError::Spawn {
                    program: program.to_string_lossy().into_owned(),
                    source: std::io::Error::other("the process exited before it could be tracked"),
                });
            }
        };
        let cap = spec.output_cap;
        let out = child.stdout.take().map(|s| tokio::spawn(capture(s, cap)));
        let err = child.stderr.take().map(|s| tokio::spawn(capture(s, cap)));
        let stdin = child.stdin.take().map(|mut pipe| {
            let task = spec.stdin.clone();
            tokio::spawn(async move {
                // An agent that never reads stdin closes it: a broken pipe is not our error.
                let _ = pipe.write_all(task.as_bytes()).await;
                let _ = pipe.shutdown().await;
            })
        });
        let empty = || tokio::spawn(async { Captured::default() });
        Ok(AgentProcess {
            guard: GroupGuard {
                pgid: pid,
                armed: true,
            },
            child,
            pid,
            started,
            stdout: out.unwrap_or_else(empty),
            stderr: err.unwrap_or_else(empty),
            stdin,
            time_limit: spec.time_limit,
            grace: spec.grace,
            halt: spec.halt,
            confined: spec.confine,
        })
    }

    /// The leader's pid (the launcher's, which becomes the agent's on exec).
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The process group every process of this agent is in (equal to the leader's pid).
    pub fn pgid(&self) -> i32 {
        self.pid
    }

    /// A token whose cancellation terminates the run; hand it to another task.
    pub fn terminator(&self) -> CancellationToken {
        self.halt.clone()
    }

    /// Terminates the run: the waiting task ends the whole group.
    pub fn terminate(&self) {
        self.halt.cancel();
    }

    /// Waits for the agent to exit, the time limit, or termination; ends the group; collects
    /// output.
    pub async fn wait(mut self) -> Result<AgentOutcome, SandboxError> {
        let pgid = Pid::from_raw(self.pid);
        let mut timed_out = false;
        let mut terminated = false;
        let status = tokio::select! {
            s = self.child.wait() => Some(s),
            _ = tokio::time::sleep(self.time_limit) => { timed_out = true; None }
            _ = self.halt.cancelled() => { terminated = true; None }
        };
        let (status, latency, group_end) = match status {
            Some(s) => {
                let latency = self.started.elapsed();
                // Stragglers the agent left in the background go too.
                let end = end_group(pgid, self.grace).await;
                (s, latency, end)
            }
            None => {
                let latency = self.started.elapsed();
                let end = end_group(pgid, self.grace).await;
                (self.child.wait().await, latency, end)
            }
        };
        // The group has been ended; nothing is left for the guard to kill.
        self.guard.armed = false;
        let status = status.map_err(|e| SandboxError::io("wait for the agent", e))?;
        if let Some(stdin) = self.stdin.take() {
            stdin.abort();
        }
        let stdout = collect(self.stdout).await;
        let stderr = collect(self.stderr).await;
        use std::os::unix::process::ExitStatusExt;
        let exit_code = status.code();
        Ok(AgentOutcome {
            exit_code,
            signal: status.signal(),
            timed_out,
            terminated,
            confine_failed: self.confined && exit_code == Some(EXIT_CONFINE_FAILED),
            group_end,
            latency,
            stdout_total_bytes: stdout.total,
            stdout_truncated: stdout.truncated(),
            stdout: String::from_utf8_lossy(&stdout.bytes).into_owned(),
            stderr_total_bytes: stderr.total,
            stderr_truncated: stderr.truncated(),
            stderr: String::from_utf8_lossy(&stderr.bytes).into_owned(),
        })
    }
}

async fn collect(task: JoinHandle<Captured>) -> Captured {
    let abort = task.abort_handle();
    match tokio::time::timeout(DRAIN_LIMIT, task).await {
        Ok(Ok(c)) => c,
        _ => {
            abort.abort();
            Captured::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_split_like_a_shell_without_one() {
        assert_eq!(
            split("python3 -c 'print(\"a b\")' x\\ y").unwrap(),
            vec!["python3", "-c", "print(\"a b\")", "x y"]
        );
        assert!(matches!(split("  "), Err(SandboxError::BadCommand { .. })));
        assert!(matches!(
            split("echo 'open"),
            Err(SandboxError::BadCommand { .. })
        ));
    }
}
