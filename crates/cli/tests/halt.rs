//! `shakedown halt` and `resume` against a real agent run: halt stops the run in progress
//! (agent killed, sandbox torn down, run stored as halted_by_guardian), refuses new campaigns and
//! runs while set, and both are recorded in the ledger, which still verifies.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;
use shakedown_pgtest::PgCluster;

fn shakedown(data: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(cargo_bin("shakedown"));
    cmd.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env("USER", "ops");
    cmd
}

#[test]
fn halt_stops_a_running_run_blocks_new_ones_and_resume_lifts_it() {
    let cluster = PgCluster::start().expect("cluster");
    cluster
        .admin_sql(
            "postgres",
            "CREATE ROLE run_admin SUPERUSER LOGIN PASSWORD 'pw'",
        )
        .unwrap();
    let url = format!(
        "postgres://run_admin:pw@127.0.0.1:{}/postgres",
        cluster.port()
    );
    let data = tempfile::tempdir().unwrap();
    let scenario = data.path().join("slow.yaml");
    std::fs::write(
        &scenario,
        "name: slow\ntask: wait\ntimeout_seconds: 120\nseed_sql: 'CREATE TABLE t (id int);'\ninvariants:\n  - {type: completes}\n",
    )
    .unwrap();
    let scenario = scenario.display().to_string();
    let run_args = [
        "run",
        "--agent",
        "sleep 100",
        "--scenario",
        &scenario,
        "--pg-url",
        &url,
    ];
    let child = shakedown(data.path(), &run_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Running once the store lists it.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "the run did not start");
        let o = shakedown(data.path(), &["runs"]).output().unwrap();
        if String::from_utf8_lossy(&o.stdout).contains("running") {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(1));

    let t0 = Instant::now();
    let o = shakedown(data.path(), &["halt", "--reason", "drill"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("1 campaign(s)/run(s) signalled, 0 still stopping"),
        "{out}"
    );
    assert!(
        out.contains("agent_run run-") && out.contains("stopped"),
        "{out}"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(15),
        "took {:?}",
        t0.elapsed()
    );
    let done = child.wait_with_output().unwrap();
    assert_eq!(done.status.code(), Some(1), "a halted run exits 1");
    let o = shakedown(data.path(), &["runs"]).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("halted_by_guardian"));

    // While halted nothing new starts — before any database or agent.
    let o = shakedown(data.path(), &run_args).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("chaos is halted (by ops")
            && err.contains("drill")
            && err.contains("shakedown resume"),
        "{err}"
    );
    let o = shakedown(data.path(), &["campaign", "-f", "/nonexistent.yaml"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));

    let o = shakedown(data.path(), &["resume"]).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("resumed"));
    let o = shakedown(data.path(), &["resume"]).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("not halted"));

    let o = shakedown(data.path(), &["ledger", "export", "--format", "jsonl"])
        .output()
        .unwrap();
    let actions: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let pos = |a: &str| {
        actions
            .iter()
            .position(|x| x == a)
            .unwrap_or_else(|| panic!("no {a} in {actions:?}"))
    };
    assert!(
        pos("started") < pos("halted") && pos("halted") < pos("resumed"),
        "{actions:?}"
    );
    let o = shakedown(data.path(), &["ledger", "verify"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}
