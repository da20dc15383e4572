//! Landlock confinement by re-exec. The agent is started as `shakedown-confine --write DIR ...
//! -- CMD ARGS...`: that launcher restricts *itself* (Landlock is inherited across `exec` and
//! by every child) and then `exec`s the agent, so no `pre_exec` hook (and no `unsafe`) is
//! needed. The rules: read and execute everywhere except beneath the `--deny-read` paths,
//! write (create, delete, rename, truncate) only beneath the `--write` directories, plus
//! writing the harmless devices (`/dev/null`, `/dev/zero`, `/dev/full`, `/dev/tty`).
//! Everything else is denied with `EACCES`.
//!
//! Landlock only grants, so "everywhere except P" is built by granting, along the path from
//! `/` down to P, every sibling of each step, and only listing (not reading files) for the
//! steps themselves.
//!
//! Landlock ABI 3 (Linux 6.2) is a hard requirement: ABI 1 and 2 cannot stop `truncate(2)` of
//! a file outside, so a kernel without it is refused rather than half-enforced.
//!
//! Network: unless `--no-net-sandbox` is given, TCP is confined too (Landlock ABI 4, Linux
//! 6.7): `connect(2)` only to the `--connect-tcp` ports (the run's SQL and fault proxies), and
//! `bind(2)` of any TCP port refused, so the agent cannot reach the database server around the
//! SQL proxy nor serve anything. Landlock's network rules name ports, not addresses, and cover
//! TCP only (UDP, raw and unix sockets are not theirs); see `docs/sandbox.md`. On kernels with
//! Landlock scopes (ABI 6) the agent also cannot signal processes outside its sandbox nor
//! reach abstract unix sockets made outside it.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, NetPort, Ruleset,
    RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope, path_beneath_rules,
};
use nix::sys::resource::{Resource, setrlimit};

use crate::error::SandboxError;

/// The Landlock ABI whose file-system rights we require in full.
const REQUIRED_ABI: ABI = ABI::V3;

/// The Landlock ABI whose network rights (TCP bind and connect) we require when the network
/// is confined.
const NET_ABI: ABI = ABI::V4;

/// The Landlock ABI whose scopes we add when the kernel has them (Linux 6.12): no signals to
/// processes outside the sandbox (the database server, Shakedown itself), no connecting to
/// abstract unix sockets made outside it. Not required: older kernels confine without them.
const SCOPE_ABI: ABI = ABI::V6;

/// Whether the running kernel can enforce [`SCOPE_ABI`]'s scopes.
pub fn scopes_supported() -> bool {
    // The kernel does not change under us: probe once per process, not once per ruleset.
    static SUPPORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        Ruleset::default()
            .set_compatibility(CompatLevel::HardRequirement)
            .handle_access(handled())
            .and_then(|r| r.scope(Scope::from_all(SCOPE_ABI)))
            .and_then(|r| r.create())
            .is_ok()
    })
}

/// Devices any program may need to write; never a place to leave data.
const WRITABLE_DEVICES: [&str; 4] = ["/dev/null", "/dev/zero", "/dev/full", "/dev/tty"];

/// Exit status of the launcher when it cannot confine or exec (as `env`, `timeout` and
/// container runtimes use 125..127): 125 confinement failed, 126 not executable, 127 not found.
pub const EXIT_CONFINE_FAILED: i32 = 125;

/// What to confine and what to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfineSpec {
    /// Directories the agent may write beneath (the run root).
    pub write: Vec<PathBuf>,
    /// Largest file the agent may write, enforced with `RLIMIT_FSIZE` (writes past it fail
    /// with `EFBIG`); `None` for no limit.
    pub max_file_size: Option<u64>,
    /// When false, creating symlinks in the write directories is refused by Landlock.
    pub allow_symlinks: bool,
    /// Paths (outside the write directories) whose files may not be read: the policy's
    /// blocking rules for reads outside the working directory.
    pub deny_read: Vec<PathBuf>,
    /// TCP confinement: `Some(ports)` lets the agent connect only to these TCP ports (any
    /// address) and bind none; `None` leaves the network unconfined (`--no-net-sandbox`).
    pub connect_tcp: Option<Vec<u16>>,
    pub program: OsString,
    pub args: Vec<OsString>,
}

/// How the restriction went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfineStatus {
    /// Every handled right (ABI 3's full file-system set) is enforced.
    pub fully_enforced: bool,
    /// `no_new_privs` is set (required by Landlock for an unprivileged caller).
    pub no_new_privs: bool,
}

fn unavailable(reason: impl std::fmt::Display) -> SandboxError {
    SandboxError::LandlockUnavailable {
        reason: reason.to_string(),
    }
}

/// Every file-system right of [`REQUIRED_ABI`].
fn handled() -> BitFlags<AccessFs> {
    AccessFs::from_all(REQUIRED_ABI)
}

fn net_unavailable(reason: impl std::fmt::Display) -> SandboxError {
    SandboxError::LandlockNetUnavailable {
        reason: reason.to_string(),
    }
}

/// The file-system rule set, plus the network rights when `net` (each a hard requirement),
/// plus the scopes when the kernel has them.
fn ruleset(net: bool) -> Result<Ruleset, SandboxError> {
    let mut rs = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(handled())
        .map_err(unavailable)?;
    if scopes_supported() {
        rs = rs.scope(Scope::from_all(SCOPE_ABI)).map_err(unavailable)?;
    }
    if !net {
        return Ok(rs);
    }
    rs.handle_access(AccessNet::from_all(NET_ABI))
        .map_err(net_unavailable)
}

/// Checks, without restricting this process, that the kernel can enforce the full
/// file-system rule set. Call before spawning a confined agent so the refusal is a typed
/// error, not an exit status.
pub fn probe_landlock() -> Result<(), SandboxError> {
    ruleset(false)?.create().map_err(unavailable)?;
    Ok(())
}

/// Checks, without restricting this process, that the kernel can also confine TCP (Landlock
/// ABI 4); the refusal, [`SandboxError::LandlockNetUnavailable`], names `--no-net-sandbox`.
pub fn probe_landlock_net() -> Result<(), SandboxError> {
    probe_landlock()?;
    ruleset(true)?.create().map_err(net_unavailable)?;
    Ok(())
}

/// Whether a confined agent's TCP is confined too, decided before anything starts: nothing to
/// decide when the agent is not confined at all (`fs_confined` false: `--no-fs-sandbox` also
/// drops the network rules, as there is no launcher); `--no-net-sandbox` says no without
/// asking the kernel; otherwise `probe` (in production [`probe_landlock_net`]) must succeed.
pub fn decide_net_confinement(
    fs_confined: bool,
    no_net_sandbox: bool,
    probe: impl FnOnce() -> Result<(), SandboxError>,
) -> Result<bool, SandboxError> {
    if !fs_confined || no_net_sandbox {
        return Ok(false);
    }
    probe()?;
    Ok(true)
}

/// Whether agents are confined, decided before anything starts: `--no-fs-sandbox`
/// (`no_fs_sandbox`) says no without asking the kernel; otherwise `probe` (in production
/// [`probe_landlock`]) must succeed, and its refusal — [`SandboxError::LandlockUnavailable`],
/// which names `--no-fs-sandbox` — refuses the run. The probe is a parameter so the refusal
/// path is tested on kernels that have Landlock.
pub fn decide_confinement(
    no_fs_sandbox: bool,
    probe: impl FnOnce() -> Result<(), SandboxError>,
) -> Result<bool, SandboxError> {
    if no_fs_sandbox {
        return Ok(false);
    }
    probe()?;
    Ok(true)
}

/// Restricts the current process (and everything it later runs) to the spec's rules.
pub fn restrict(spec: &ConfineSpec) -> Result<ConfineStatus, SandboxError> {
    let mut write = handled();
    if !spec.allow_symlinks {
        write.remove(AccessFs::MakeSym);
    }
    let device = AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::Truncate;
    let (readable, listable) = read_grants(&spec.deny_read, &spec.write);
    let net = spec.connect_tcp.is_some();
    let mut created = ruleset(net)?.create().map_err(unavailable)?;
    // No bind rule at all: every TCP bind is refused. Connect only to the listed ports.
    for &port in spec.connect_tcp.iter().flatten() {
        created = created
            .add_rule(NetPort::new(port, AccessNet::ConnectTcp))
            .map_err(net_unavailable)?;
    }
    let status = created
        .add_rules(path_beneath_rules(
            readable,
            AccessFs::from_read(REQUIRED_ABI),
        ))
        .map_err(unavailable)?
        .add_rules(path_beneath_rules(listable, AccessFs::ReadDir))
        .map_err(unavailable)?
        .add_rules(path_beneath_rules(&spec.write, write))
        .map_err(unavailable)?
        .add_rules(path_beneath_rules(WRITABLE_DEVICES, device))
        .map_err(unavailable)?
        .restrict_self()
        .map_err(unavailable)?;
    let out = ConfineStatus {
        fully_enforced: status.ruleset == RulesetStatus::FullyEnforced,
        no_new_privs: status.no_new_privs,
    };
    if !out.fully_enforced {
        // HardRequirement should already have failed; never accept less silently.
        return Err(unavailable(format!(
            "the kernel enforced the rules only {:?}",
            status.ruleset
        )));
    }
    if let Some(limit) = spec.max_file_size {
        setrlimit(Resource::RLIMIT_FSIZE, limit, limit)
            .map_err(|e| SandboxError::io("set RLIMIT_FSIZE", e.into()))?;
    }
    Ok(out)
}

/// Rules past which a deny list is not expanded further (a deny deep in a huge tree).
const MAX_READ_RULES: usize = 20_000;

/// Splits the file system into what may be read (whole trees) and the directories on the way
/// to a denied path (listing only). Denied paths inside a write directory are left to the
/// watcher: Landlock cannot take back what the write rule grants.
fn read_grants(deny: &[PathBuf], write: &[PathBuf]) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let canon = |p: &PathBuf| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
    let write: Vec<PathBuf> = write.iter().map(canon).collect();
    let deny: Vec<PathBuf> = deny
        .iter()
        .filter(|p| p.is_absolute())
        .map(canon)
        .filter(|p| p != Path::new("/") && !write.iter().any(|w| p.starts_with(w)))
        .collect();
    let mut readable = Vec::new();
    let mut listable = Vec::new();
    let mut stack = vec![PathBuf::from("/")];
    while let Some(path) = stack.pop() {
        // A symlink is granted as what it points to; never grant a way into a denied tree.
        let real = canon(&path);
        if deny.iter().any(|d| real.starts_with(d)) {
            continue;
        }
        let above_denied = deny.iter().any(|d| d.starts_with(&real) && d != &real);
        if !above_denied {
            readable.push(path);
            continue;
        }
        // A link to a tree holding a denied path would grant all of it; its real path is
        // walked on its own. Past the rule budget we stop granting: stricter, never looser.
        if real != path || readable.len() + listable.len() > MAX_READ_RULES {
            continue;
        }
        listable.push(path.clone());
        if let Ok(entries) = std::fs::read_dir(&path) {
            stack.extend(entries.flatten().map(|e| e.path()));
        }
    }
    (readable, listable)
}

/// Restricts the current process, then replaces it with the agent. Returns only on failure.
pub fn confine_and_exec(spec: &ConfineSpec) -> SandboxError {
    if spec.write.is_empty() {
        return unavailable("no --write directory was given, so nothing could be written");
    }
    if let Err(e) = restrict(spec) {
        return e;
    }
    let err = std::process::Command::new(&spec.program)
        .args(&spec.args)
        .exec();
    SandboxError::Spawn {
        program: spec.program.to_string_lossy().into_owned(),
        source: err,
    }
}

/// The launcher's usage line, printed on a bad command line.
pub const USAGE: &str = "usage: shakedown-confine [--write DIR]... [--deny-read PATH]... \
                         [--max-file-size BYTES] [--allow-symlinks] \
                         [--connect-tcp PORT]... [--no-net-sandbox] -- CMD [ARGS...]";

/// Parses the launcher's arguments (without the program name).
pub fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<ConfineSpec, String> {
    let mut it = args.into_iter();
    let mut spec = ConfineSpec {
        write: Vec::new(),
        max_file_size: None,
        allow_symlinks: false,
        deny_read: Vec::new(),
        connect_tcp: Some(Vec::new()),
        program: OsString::new(),
        args: Vec::new(),
    };
    let mut no_net = false;
    while let Some(arg) = it.next() {
        match arg.to_str() {
            Some("--write") => {
                let dir = it.next().ok_or("--write needs a directory")?;
                spec.write.push(PathBuf::from(dir));
            }
            Some("--max-file-size") => {
                let n = it.next().ok_or("--max-file-size needs a byte count")?;
                let n = n
                    .to_str()
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or("--max-file-size needs a byte count")?;
                spec.max_file_size = Some(n);
            }
            Some("--allow-symlinks") => spec.allow_symlinks = true,
            Some("--deny-read") => {
                let path = it.next().ok_or("--deny-read needs a path")?;
                spec.deny_read.push(PathBuf::from(path));
            }
            Some("--connect-tcp") => {
                let port = it
                    .next()
                    .and_then(|p| p.to_str().and_then(|s| s.parse::<u16>().ok()))
                    .filter(|&p| p != 0)
                    .ok_or("--connect-tcp needs a TCP port (1-65535)")?;
                if let Some(ports) = spec.connect_tcp.as_mut() {
                    ports.push(port);
                }
            }
            Some("--no-net-sandbox") => no_net = true,
            Some("--") => {
                if no_net {
                    if spec.connect_tcp.as_ref().is_some_and(|p| !p.is_empty()) {
                        return Err(
                            "--connect-tcp and --no-net-sandbox contradict each other".into()
                        );
                    }
                    spec.connect_tcp = None;
                }
                spec.program = it.next().ok_or("no command after --")?;
                spec.args = it.collect();
                return Ok(spec);
            }
            _ => return Err(format!("unexpected argument {arg:?}")),
        }
    }
    Err("no `--` before the command".into())
}

/// The launcher's whole behaviour, for the `shakedown-confine` binary and the CLI's hidden
/// subcommand alike: parse, confine, exec; on failure print why and return the exit status.
pub fn launcher_main(args: impl IntoIterator<Item = OsString>) -> i32 {
    let spec = match parse_args(args) {
        Ok(spec) => spec,
        Err(e) => {
            eprintln!("shakedown-confine: {e}\n{USAGE}");
            return 2;
        }
    };
    let err = confine_and_exec(&spec);
    eprintln!("shakedown-confine: {err}");
    match &err {
        SandboxError::Spawn { source, .. } if source.kind() == std::io::ErrorKind::NotFound => 127,
        SandboxError::Spawn { .. } => 126,
        _ => EXIT_CONFINE_FAILED,
    }
}

/// The launcher arguments that confine to `spec` (the inverse of [`parse_args`]).
pub fn to_args(spec: &ConfineSpec) -> Vec<OsString> {
    let mut out = Vec::new();
    for w in &spec.write {
        out.push("--write".into());
        out.push(w.clone().into_os_string());
    }
    if let Some(n) = spec.max_file_size {
        out.push("--max-file-size".into());
        out.push(n.to_string().into());
    }
    if spec.allow_symlinks {
        out.push("--allow-symlinks".into());
    }
    for d in &spec.deny_read {
        out.push("--deny-read".into());
        out.push(d.clone().into_os_string());
    }
    match &spec.connect_tcp {
        Some(ports) => {
            for p in ports {
                out.push("--connect-tcp".into());
                out.push(p.to_string().into());
            }
        }
        None => out.push("--no-net-sandbox".into()),
    }
    out.push("--".into());
    out.push(spec.program.clone());
    out.extend(spec.args.iter().cloned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_round_trip() {
        let spec = ConfineSpec {
            write: vec!["/a".into(), "/b c".into()],
            max_file_size: Some(10),
            allow_symlinks: true,
            deny_read: vec!["/root".into()],
            connect_tcp: Some(vec![5432, 8080]),
            program: "python3".into(),
            args: vec!["-c".into(), "--write".into()],
        };
        assert_eq!(parse_args(to_args(&spec)).unwrap(), spec);
        let unconfined_net = ConfineSpec {
            connect_tcp: None,
            ..spec
        };
        assert_eq!(
            parse_args(to_args(&unconfined_net)).unwrap(),
            unconfined_net
        );
        // Without either flag the network is confined with no port open: fail closed.
        let bare = parse_args(["--write", "/a", "--", "x"].map(OsString::from)).unwrap();
        assert_eq!(bare.connect_tcp, Some(vec![]));
    }

    #[test]
    fn bad_command_lines_are_refused() {
        for args in [
            vec!["--write"],
            vec!["--write", "/a"],
            vec!["--"],
            vec!["-x", "--", "a"],
            vec!["--write", "/a", "--connect-tcp", "0", "--", "a"],
            vec!["--write", "/a", "--connect-tcp", "http", "--", "a"],
            vec![
                "--write",
                "/a",
                "--connect-tcp",
                "1",
                "--no-net-sandbox",
                "--",
                "a",
            ],
        ] {
            let args = args.into_iter().map(OsString::from);
            assert!(parse_args(args).is_err());
        }
    }

    #[test]
    fn read_grants_go_around_denied_paths() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().canonicalize().unwrap();
        for d in ["a/secret", "a/open", "b"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(root.join("a/file.txt"), "x").unwrap();
        let (readable, listable) = read_grants(&[root.join("a/secret")], &[root.join("b")]);
        assert!(readable.contains(&root.join("a/open")));
        assert!(readable.contains(&root.join("a/file.txt")));
        assert!(readable.contains(&root.join("b")));
        assert!(
            !readable
                .iter()
                .any(|p| p.starts_with(root.join("a/secret")))
        );
        assert!(!readable.contains(&PathBuf::from("/")));
        assert!(listable.contains(&PathBuf::from("/")) && listable.contains(&root.join("a")));
        // Nothing denied: one rule for the whole tree.
        assert_eq!(read_grants(&[], &[]).0, [PathBuf::from("/")]);
        // A denial inside a write directory is the watcher's job.
        assert_eq!(
            read_grants(&[root.join("b/x")], &[root.join("b")]).0,
            [PathBuf::from("/")]
        );
    }

    #[test]
    fn without_landlock_the_run_is_refused_naming_the_escape_hatch() {
        // What the landlock crate reports on a kernel built without it.
        let missing = || {
            Err(unavailable(
                "Landlock is not supported by the running kernel",
            ))
        };
        let err = decide_confinement(false, missing).unwrap_err();
        assert!(matches!(err, SandboxError::LandlockUnavailable { .. }));
        let text = err.to_string();
        assert!(text.contains("pass --no-fs-sandbox"), "{text}");
        assert!(
            text.contains("not supported by the running kernel"),
            "{text}"
        );
        assert!(text.contains("Linux 6.2"), "{text}");
        // With --no-fs-sandbox the kernel is not asked and the agent runs unconfined.
        let mut asked = false;
        let confine = decide_confinement(true, || {
            asked = true;
            missing()
        })
        .unwrap();
        assert!(!confine && !asked);
        // A kernel with Landlock confines.
        assert!(decide_confinement(false, || Ok(())).unwrap());
    }

    #[test]
    fn without_network_rules_the_run_is_refused_naming_no_net_sandbox() {
        let old_kernel = || Err(net_unavailable("the running kernel has Landlock ABI 3"));
        let err = decide_net_confinement(true, false, old_kernel).unwrap_err();
        assert!(matches!(err, SandboxError::LandlockNetUnavailable { .. }));
        let text = err.to_string();
        assert!(text.contains("pass --no-net-sandbox"), "{text}");
        assert!(text.contains("Linux 6.7"), "{text}");
        assert!(text.contains("ABI 3"), "{text}");
        // --no-net-sandbox, or an agent not confined at all, never asks the kernel.
        for (fs, no_net) in [(true, true), (false, false)] {
            let mut asked = false;
            let confine = decide_net_confinement(fs, no_net, || {
                asked = true;
                old_kernel()
            })
            .unwrap();
            assert!(!confine && !asked);
        }
        assert!(decide_net_confinement(true, false, || Ok(())).unwrap());
    }

    #[test]
    fn this_kernel_has_landlock() {
        // The VM and CI run Linux 6.18 with Landlock enabled; a kernel without it gets the
        // typed error, which names the escape hatch.
        match probe_landlock() {
            Ok(()) => {}
            Err(e) => assert!(e.to_string().contains("--no-fs-sandbox"), "{e}"),
        }
    }
}
