//! File observation and policing against real agent processes: fanotify events attributed to
//! the agent, honeypots reported or refused, protected paths, exec and recursive delete,
//! sentinel checks, and the inotify fallback.

use std::path::PathBuf;
use std::time::Duration;

use shakedown_sandbox::policy::{Action, FsOp};
use shakedown_sandbox::watch::Prefer;
use shakedown_sandbox::{
    AgentOutcome, AgentProcess, AgentSpec, FileSpec, FsEventKind, FsPolicy, Launcher,
    SentinelChange, WatchBackend, WatchReport, Watcher, Workdir, load_fs_policy,
};

fn python(code: &str) -> String {
    format!("python3 -B -c '{}'", code.replace('\'', r"'\''"))
}

async fn run(dir: &Workdir, watcher: Watcher, code: &str) -> (AgentOutcome, WatchReport) {
    run_with(dir, watcher, code, None).await
}

async fn run_with(
    dir: &Workdir,
    watcher: Watcher,
    code: &str,
    policy: Option<&FsPolicy>,
) -> (AgentOutcome, WatchReport) {
    let mut spec = AgentSpec::new(python(code), dir, Duration::from_secs(8));
    if let Some(p) = policy {
        spec.apply_policy(p, dir);
    }
    spec.launcher = Launcher {
        program: PathBuf::from(env!("CARGO_BIN_EXE_shakedown-confine")),
        args: Vec::new(),
    };
    let agent = AgentProcess::spawn(spec).unwrap();
    watcher.attach(agent.pgid());
    let out = agent.wait().await.unwrap();
    (out, watcher.stop())
}

fn strict() -> FsPolicy {
    load_fs_policy(include_str!("../../../policies/strict_fs.yaml"))
        .unwrap()
        .0
}

fn bait(path: &str, content: &str) -> FileSpec {
    let mut f = FileSpec::text(path, content);
    f.honeypot = true;
    f
}

#[tokio::test]
async fn a_honeypot_read_is_observed_with_the_agents_pid() {
    let base = tempfile::tempdir().unwrap();
    let files = [
        FileSpec::text("notes.txt", "todo"),
        bait("secrets.env", "KEY=bait"),
    ];
    let dir = Workdir::create(base.path(), &files).unwrap();
    let watcher = Watcher::start(&dir, None).unwrap();
    assert_eq!(watcher.backend(), WatchBackend::Fanotify);
    let code =
        "import os\nprint(open(\"notes.txt\").read(), open(\"secrets.env\").read(), os.getpid())";
    let (out, report) = run(&dir, watcher, code).await;
    assert!(out.succeeded(), "{out:?}");
    let agent_pid: i32 = out
        .stdout
        .split_whitespace()
        .last()
        .unwrap()
        .parse()
        .unwrap();
    assert!(out.stdout.starts_with("todo KEY=bait"));
    let hp: Vec<_> = report.of_kind(FsEventKind::FileHoneypotAccessed).collect();
    assert_eq!(hp.len(), 1, "{report:#?}");
    assert!(hp[0].path.ends_with("/work/secrets.env"));
    assert_eq!(hp[0].pid, Some(agent_pid));
    assert!(!hp[0].blocked);
    assert_eq!(hp[0].violations[0].action, Action::AllowFlagged);
    let reads: Vec<_> = report
        .of_kind(FsEventKind::FileRead)
        .map(|e| e.path.as_str())
        .collect();
    assert!(
        reads.iter().any(|p| p.ends_with("/work/notes.txt")),
        "{reads:?}"
    );
}

#[tokio::test]
async fn the_strict_policy_blocks_honeypots_hidden_files_and_exec() {
    let base = tempfile::tempdir().unwrap();
    let files = [
        FileSpec::text("secrets/api_keys.json", "{\"key\": \"bait\"}"),
        FileSpec::text(".hidden/token", "t"),
        FileSpec::text("data/rows.csv", "a,b"),
    ];
    let dir = Workdir::create(base.path(), &files).unwrap();
    let policy = strict();
    let watcher = Watcher::start(&dir, Some(&policy)).unwrap();
    let code = r##"
import errno, os, subprocess
def attempt(name, f):
    try:
        f()
        print(name, "ok")
    except OSError as e:
        print(name, errno.errorcode[e.errno])
attempt("honeypot", lambda: open("secrets/api_keys.json").read())
attempt("hidden", lambda: open(".hidden/token").read())
attempt("data", lambda: open("data/rows.csv").read())
open("data/run.sh", "w").write("#!/bin/sh\necho ran\n")
os.chmod("data/run.sh", 0o755)
attempt("exec", lambda: subprocess.run(["./data/run.sh"], check=True))
attempt("root", lambda: os.listdir("/root") and open("/root/.profile").read())
"##;
    // The whole strict policy, Landlock part included (`/root/**` unreadable).
    let (out, report) = run_with(&dir, watcher, code, Some(&policy)).await;
    assert_eq!(
        out.stdout, "honeypot EPERM\nhidden EPERM\ndata ok\nexec EPERM\nroot EACCES\n",
        "{out:?}"
    );
    let hp: Vec<_> = report.of_kind(FsEventKind::FileHoneypotAccessed).collect();
    assert_eq!(hp.len(), 1, "{report:#?}");
    assert!(hp[0].blocked && hp[0].violations[0].enforced);
    assert!(hp[0].path.ends_with("/work/secrets/api_keys.json"));
    let blocked: Vec<_> = report
        .of_kind(FsEventKind::FileViolation)
        .map(|e| (e.op, e.blocked, e.violations[0].rule.clone()))
        .collect();
    assert!(
        blocked.contains(&(
            FsOp::Open,
            true,
            "protected_path:/sandbox/.hidden/**".into()
        )),
        "{blocked:?}"
    );
    assert!(
        blocked.contains(&(FsOp::Exec, true, "forbidden_operation:EXEC".into())),
        "{blocked:?}"
    );
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains(".hidden") && n.contains("not refused"))
    );
    // fanotify attributes every event to the acting process.
    assert!(report.events.iter().all(|e| e.pid.is_some()));
}

#[tokio::test]
async fn listing_a_honeypots_folder_and_flagged_writes_are_reported_not_refused() {
    let base = tempfile::tempdir().unwrap();
    let files = [
        FileSpec::text("secrets/api_keys.json", "{}"),
        FileSpec::text("config/app.yaml", "debug: false"),
    ];
    let dir = Workdir::create(base.path(), &files).unwrap();
    let watcher = Watcher::start(&dir, Some(&strict())).unwrap();
    let code = r#"
import os
print(os.listdir("secrets"))
open("config/app.yaml", "w").write("debug: true")
open("scratch.txt", "w").write("outside the allowed paths")
"#;
    let (out, report) = run(&dir, watcher, code).await;
    assert!(out.succeeded(), "{out:?}");
    assert_eq!(out.stdout, "['api_keys.json']\n");
    let listed: Vec<_> = report.of_kind(FsEventKind::FileHoneypotAccessed).collect();
    assert_eq!(listed.len(), 1, "{report:#?}");
    assert_eq!(listed[0].op, FsOp::ListDir);
    assert!(!listed[0].blocked);
    let writes: Vec<_> = report.of_kind(FsEventKind::FileWrite).collect();
    let config = writes
        .iter()
        .find(|e| e.path.ends_with("config/app.yaml"))
        .unwrap();
    assert_eq!(
        config.violations[0].rule,
        "protected_path:/sandbox/config/**"
    );
    assert_eq!(config.violations[0].action, Action::AllowFlagged);
    let scratch = writes
        .iter()
        .find(|e| e.path.ends_with("scratch.txt"))
        .unwrap();
    assert_eq!(scratch.violations[0].rule, "allowed_paths");
}

#[tokio::test]
async fn deleting_a_sentinel_and_a_tree_is_detected() {
    let base = tempfile::tempdir().unwrap();
    let mut keep = FileSpec::text("data/customers.csv", "id,name\n1,a\n");
    keep.sentinel = true;
    let files = [
        keep,
        FileSpec::text("data/old/a.log", "a"),
        FileSpec::text("data/old/b.log", "b"),
    ];
    let dir = Workdir::create(base.path(), &files).unwrap();
    let watcher = Watcher::start(&dir, Some(&strict())).unwrap();
    let code = "import os, shutil\nos.remove(\"data/customers.csv\")\nshutil.rmtree(\"data/old\")";
    let (out, report) = run(&dir, watcher, code).await;
    assert!(out.succeeded(), "{out:?}");
    assert_eq!(
        dir.verify_sentinels(),
        [SentinelChange::Deleted {
            path: "data/customers.csv".into()
        }]
    );
    let deletes: Vec<_> = report.of_kind(FsEventKind::FileDelete).collect();
    assert!(
        deletes
            .iter()
            .any(|e| e.path.ends_with("data/customers.csv") && e.op == FsOp::Delete)
    );
    let tree = deletes
        .iter()
        .find(|e| e.op == FsOp::Rmtree)
        .expect("rmtree event");
    assert!(tree.path.ends_with("data/old"));
    let rules: Vec<&str> = tree.violations.iter().map(|v| v.rule.as_str()).collect();
    assert!(
        rules.contains(&"no_recursive_delete") && rules.contains(&"forbidden_operation:RMTREE"),
        "{rules:?}"
    );
    assert!(!tree.blocked && tree.pid.is_none());
}

#[tokio::test]
async fn new_directories_are_watched_and_our_own_reads_are_not_events() {
    let base = tempfile::tempdir().unwrap();
    let dir = Workdir::create(base.path(), &[FileSpec::text("a.txt", "a")]).unwrap();
    let mut policy = strict();
    policy
        .honeypots
        .push(shakedown_sandbox::policy::HoneypotRule {
            path: "/sandbox/out/deep/bait.txt".into(),
            is_directory: false,
            recursive: false,
            alert_on_list: false,
            action: Action::AllowFlagged,
        });
    let watcher = Watcher::start(&dir, Some(&policy)).unwrap();
    // Our own process reads while the watcher answers permission events: no deadlock, no event.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("a.txt")).unwrap(),
        "a"
    );
    let code = "import os, time\nos.makedirs(\"out/deep\")\ntime.sleep(0.3)\nopen(\"out/deep/bait.txt\", \"w\").write(\"x\")\nopen(\"out/deep/bait.txt\").read()";
    let (out, report) = run(&dir, watcher, code).await;
    assert!(out.succeeded(), "{out:?}");
    assert!(
        report.events.iter().all(|e| !e.path.ends_with("/a.txt")),
        "{report:#?}"
    );
    assert!(
        report
            .of_kind(FsEventKind::FileHoneypotAccessed)
            .any(|e| e.path.ends_with("out/deep/bait.txt") && e.pid.is_some()),
        "{report:#?}"
    );
}

#[tokio::test]
async fn without_fanotify_inotify_still_observes() {
    let base = tempfile::tempdir().unwrap();
    let dir = Workdir::create(base.path(), &[bait("secrets.env", "KEY=bait")]).unwrap();
    let mut bound = FsPolicy::observe_only().bind(dir.path());
    for h in dir.honeypots() {
        bound.add_file_honeypot(&h);
    }
    let watcher = Watcher::start_with(dir.path(), bound, Prefer::Inotify).unwrap();
    assert_eq!(watcher.backend(), WatchBackend::Inotify);
    let code = "open(\"secrets.env\").read()\nopen(\"new.txt\", \"w\").write(\"n\")\nimport os\nos.remove(\"new.txt\")";
    let (out, report) = run(&dir, watcher, code).await;
    assert!(out.succeeded(), "{out:?}");
    assert!(report.notes.iter().any(|n| n.contains("no pid")));
    let kinds: Vec<_> = report.events.iter().map(|e| (e.kind, e.pid)).collect();
    assert!(
        kinds.contains(&(FsEventKind::FileHoneypotAccessed, None)),
        "{kinds:?}"
    );
    assert!(kinds.contains(&(FsEventKind::FileWrite, None)), "{kinds:?}");
    assert!(
        kinds.contains(&(FsEventKind::FileDelete, None)),
        "{kinds:?}"
    );
    assert!(
        report
            .events
            .iter()
            .all(|e| e.source == WatchBackend::Inotify && !e.blocked)
    );
}

#[tokio::test]
async fn malformed_fs_policies_give_located_errors() {
    let cases = [
        (
            "name: x\nprotected_paths:\n  - pattern: /a/**\n    operation: [WRITE]\n",
            4,
            "unknown field `operation`",
        ),
        (
            "name: x\nforbidden_operations:\n  - operation: SHRED\n",
            3,
            "`SHRED` is not a file operation",
        ),
        (
            "name: x\nhoneypots:\n  - path: /sandbox/k*\n",
            3,
            "is a pattern",
        ),
        ("name: x\nallow_symlinks: maybe\n", 2, "allow_symlinks"),
        ("name: x\nmax_file_size: lots\n", 2, "max_file_size"),
    ];
    for (text, line, needle) in cases {
        let problems = load_fs_policy(text).unwrap_err().0;
        assert_eq!(problems[0].line, line, "{text}: {problems:?}");
        assert!(
            problems[0].message.contains(needle),
            "{text}: {}",
            problems[0].message
        );
    }
}

#[tokio::test]
async fn a_read_block_outside_the_workdir_is_refused_by_landlock() {
    let base = tempfile::tempdir().unwrap();
    let dir = Workdir::create(base.path(), &[]).unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(outside.path().join("vault")).unwrap();
    std::fs::write(outside.path().join("vault/key.pem"), "secret").unwrap();
    std::fs::write(outside.path().join("public.txt"), "public").unwrap();
    let text = format!(
        "name: t\nprotected_paths:\n  - pattern: {}/vault/**\n    operations: [READ]\n",
        outside.path().display()
    );
    let policy = load_fs_policy(&text).unwrap().0;
    let watcher = Watcher::start(&dir, Some(&policy)).unwrap();
    let code = format!(
        r#"
import errno
for p in [{:?}, {:?}]:
    try:
        print(open(p).read())
    except OSError as e:
        print(errno.errorcode[e.errno])
"#,
        outside.path().join("public.txt").to_str().unwrap(),
        outside.path().join("vault/key.pem").to_str().unwrap()
    );
    let (out, _) = run_with(&dir, watcher, &code, Some(&policy)).await;
    assert_eq!(out.stdout, "public\nEACCES\n", "{out:?}");
}
