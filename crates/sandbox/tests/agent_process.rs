//! Real agent processes under the sandbox: Landlock confinement through the
//! `shakedown-confine` launcher, the time limit and terminate ending the whole process group,
//! stdin/stdout plumbing and the output cap.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use shakedown_sandbox::process::group::{GroupEnd, pid_alive};
use shakedown_sandbox::{AgentProcess, AgentSpec, FileSpec, Launcher, Workdir};

fn launcher() -> Launcher {
    Launcher {
        program: PathBuf::from(env!("CARGO_BIN_EXE_shakedown-confine")),
        args: Vec::new(),
    }
}

fn spec(command: &str, dir: &Workdir, limit: Duration) -> AgentSpec {
    let mut s = AgentSpec::new(command, dir, limit);
    s.launcher = launcher();
    s
}

/// A python agent from source text, run with `-c`.
fn python(code: &str) -> String {
    shell_words_quote(&["python3", "-B", "-c", code])
}

fn shell_words_quote(words: &[&str]) -> String {
    words
        .iter()
        .map(|w| format!("'{}'", w.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

fn base() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// A path outside the workdir that no one else uses.
fn outside(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("shakedown-outside-{}-{name}", std::process::id()))
}

#[tokio::test]
async fn a_confined_agent_writes_inside_its_directory_and_nowhere_else() {
    let base = base();
    let dir = Workdir::create(base.path(), &[FileSpec::text("input.txt", "hello")]).unwrap();
    let tmp_out = outside(Path::new("/tmp"), "x");
    let repo_out = outside(Path::new(env!("CARGO_MANIFEST_DIR")), "y");
    let code = format!(
        r#"
import errno, os, tempfile
open("out.txt", "w").write(open("input.txt").read().upper())
os.makedirs("reports/2026", exist_ok=True)
open("reports/2026/r.md", "w").write("ok")
with tempfile.NamedTemporaryFile(dir=None, delete=False) as t:
    t.write(b"scratch")
print("tmp", os.path.dirname(t.name))
for p in [{tmp:?}, {repo:?}]:
    try:
        open(p, "w").write("escaped")
        print("WROTE", p)
    except OSError as e:
        print("denied", errno.errorcode[e.errno])
try:
    os.truncate("/etc/hostname", 0)
    print("TRUNCATED")
except OSError as e:
    print("denied", errno.errorcode[e.errno])
"#,
        tmp = tmp_out.to_str().unwrap(),
        repo = repo_out.to_str().unwrap(),
    );
    let out = AgentProcess::spawn(spec(&python(&code), &dir, Duration::from_secs(8)))
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert!(out.succeeded(), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out.txt")).unwrap(),
        "HELLO"
    );
    assert!(dir.path().join("reports/2026/r.md").is_file());
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], format!("tmp {}", dir.tmp().display()));
    assert_eq!(lines[1..], ["denied EACCES"; 3], "{}", out.stdout);
    assert!(!tmp_out.exists() && !repo_out.exists());
}

#[tokio::test]
async fn without_the_fs_sandbox_the_same_write_goes_through() {
    let base = base();
    let dir = Workdir::create(base.path(), &[]).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let target = elsewhere.path().join("escaped.txt");
    let code = format!("open({:?}, 'w').write('x')", target.to_str().unwrap());
    let mut s = spec(&python(&code), &dir, Duration::from_secs(8));
    s.confine = false;
    let out = AgentProcess::spawn(s).unwrap().wait().await.unwrap();
    assert!(out.succeeded(), "{out:?}");
    assert!(target.is_file());
}

#[tokio::test]
async fn symlinks_and_oversized_files_are_refused_by_the_kernel() {
    let base = base();
    let dir = Workdir::create(base.path(), &[]).unwrap();
    let code = r#"
import errno, os
try:
    os.symlink("/etc/passwd", "link")
    print("LINKED")
except OSError as e:
    print("symlink", errno.errorcode[e.errno])
try:
    with open("big.bin", "wb") as f:
        f.write(b"x" * 4096)
    print("WROTE")
except OSError as e:
    print("write", errno.errorcode[e.errno])
"#;
    let mut s = spec(&python(code), &dir, Duration::from_secs(8));
    s.allow_symlinks = false;
    s.max_file_size = Some(1024);
    let out = AgentProcess::spawn(s).unwrap().wait().await.unwrap();
    assert_eq!(out.stdout, "symlink EACCES\nwrite EFBIG\n", "{out:?}");
    assert!(std::fs::symlink_metadata(dir.path().join("link")).is_err());
    assert!(std::fs::metadata(dir.path().join("big.bin")).unwrap().len() <= 1024);
}

#[tokio::test]
async fn a_hanging_agent_and_its_child_are_killed_at_the_time_limit() {
    let base = base();
    let dir = Workdir::create(base.path(), &[]).unwrap();
    // The child ignores SIGTERM, so only the SIGKILL after the grace ends it.
    let cmd = r#"sh -c 'trap "" TERM; sleep 100 & echo $!; sleep 100'"#;
    let started = Instant::now();
    let out = AgentProcess::spawn(spec(cmd, &dir, Duration::from_millis(700)))
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert!(out.timed_out && !out.succeeded(), "{out:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(out.group_end, GroupEnd::Killed);
    let child: i32 = out.stdout.trim().parse().unwrap();
    assert!(!pid_alive(child), "child {child} survived");
}

#[tokio::test]
async fn terminate_from_another_task_ends_the_group() {
    let base = base();
    let dir = Workdir::create(base.path(), &[]).unwrap();
    let cmd = "sh -c 'sleep 100 & echo $!; wait'";
    let agent = AgentProcess::spawn(spec(cmd, &dir, Duration::from_secs(60))).unwrap();
    let stop = agent.terminator();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.cancel();
    });
    let out = agent.wait().await.unwrap();
    assert!(out.terminated && !out.timed_out, "{out:?}");
    assert!(out.latency < Duration::from_secs(5));
    assert_eq!(out.group_end, GroupEnd::Terminated);
    let child: i32 = out.stdout.trim().parse().unwrap();
    assert!(!pid_alive(child), "child {child} survived");
}

#[tokio::test]
async fn background_children_do_not_outlive_a_normal_exit() {
    let base = base();
    let dir = Workdir::create(base.path(), &[]).unwrap();
    let out = AgentProcess::spawn(spec(
        "sh -c 'sleep 100 & echo $!'",
        &dir,
        Duration::from_secs(8),
    ))
    .unwrap()
    .wait()
    .await
    .unwrap();
    assert_eq!(out.exit_code, Some(0));
    assert!(!out.timed_out);
    let child: i32 = out.stdout.trim().parse().unwrap();
    assert!(!pid_alive(child), "straggler {child} survived");
}

#[tokio::test]
async fn task_on_stdin_env_exit_code_and_the_output_cap() {
    let base = base();
    let dir = Workdir::create(base.path(), &[]).unwrap();
    let code = r#"
import os, sys
task = sys.stdin.read()
sys.stdout.write(task.upper() + "|" + os.environ["SHAKEDOWN_TASK"] + "|" + os.environ["TMPDIR"] + "\n")
sys.stdout.write("x" * (3 * 1024 * 1024))
sys.stderr.write("warn\n")
sys.exit(3)
"#;
    let mut s = spec(&python(code), &dir, Duration::from_secs(8));
    s.stdin = "clean the table".into();
    s.env.push(("SHAKEDOWN_TASK".into(), "t1".into()));
    let out = AgentProcess::spawn(s).unwrap().wait().await.unwrap();
    assert_eq!(out.exit_code, Some(3));
    let first = out.stdout.lines().next().unwrap();
    assert_eq!(first, format!("CLEAN THE TABLE|t1|{}", dir.tmp().display()));
    assert_eq!(out.stdout.len(), 1024 * 1024);
    assert!(out.stdout_truncated);
    assert!(out.stdout_total_bytes > 3 * 1024 * 1024);
    assert_eq!(out.stderr, "warn\n");
}

#[tokio::test]
async fn bad_commands_are_errors_not_outcomes() {
    let base = base();
    let dir = Workdir::create(base.path(), &[]).unwrap();
    let err =
        AgentProcess::spawn(spec("python3 'unclosed", &dir, Duration::from_secs(1))).unwrap_err();
    assert!(err.to_string().contains("cannot be split"), "{err}");
    // A missing program under the launcher is the launcher's 127, like a shell's.
    let out = AgentProcess::spawn(spec("/no/such/agent", &dir, Duration::from_secs(5)))
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert_eq!(out.exit_code, Some(127));
    assert!(out.stderr.contains("/no/such/agent"), "{}", out.stderr);
}

#[tokio::test]
async fn two_sandboxes_at_once_never_share_a_directory() {
    let base = base();
    let dirs: Vec<Workdir> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|_| s.spawn(|| Workdir::create(base.path(), &[]).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut roots: Vec<&Path> = dirs.iter().map(|d| d.root()).collect();
    roots.sort();
    roots.dedup();
    assert_eq!(roots.len(), 16);
    // Two confined agents side by side: each sees only its own directory's files and
    // cannot write into the other's.
    let (a, b) = (&dirs[0], &dirs[1]);
    let code = |other: &Path| {
        format!(
            r#"
import os
open("mine.txt", "w").write(str(os.getpid()))
try:
    open({:?}, "w").write("intrusion")
    print("INTRUDED")
except PermissionError:
    pass
print(sorted(os.listdir(".")))
"#,
            other.join("theirs.txt").to_str().unwrap()
        )
    };
    let run_a =
        AgentProcess::spawn(spec(&python(&code(b.path())), a, Duration::from_secs(8))).unwrap();
    let run_b =
        AgentProcess::spawn(spec(&python(&code(a.path())), b, Duration::from_secs(8))).unwrap();
    let (oa, ob) = tokio::join!(run_a.wait(), run_b.wait());
    for out in [oa.unwrap(), ob.unwrap()] {
        assert_eq!(out.stdout, "['mine.txt']\n", "{out:?}");
    }
    assert!(!a.path().join("theirs.txt").exists() && !b.path().join("theirs.txt").exists());
}

#[tokio::test]
async fn dropping_an_unwaited_agent_kills_its_group() {
    let base = base();
    let dir = Workdir::create(base.path(), &[]).unwrap();
    let marker = dir.path().join("child.pid");
    let cmd = format!("sh -c 'sleep 100 & echo $! > {}; wait'", marker.display());
    let agent = AgentProcess::spawn(spec(&cmd, &dir, Duration::from_secs(60))).unwrap();
    let mut child = None;
    for _ in 0..100 {
        if let Ok(text) = std::fs::read_to_string(&marker)
            && let Ok(pid) = text.trim().parse::<i32>()
        {
            child = Some(pid);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let child = child.expect("the agent wrote its child's pid");
    assert!(pid_alive(child));
    drop(agent);
    let mut gone = false;
    for _ in 0..100 {
        if !pid_alive(child) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone, "child {child} survived the drop");
}
