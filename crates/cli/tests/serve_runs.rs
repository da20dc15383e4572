//! The agent-run API of `shakedown serve`, through the real binary: a run started with
//! `POST /api/runs` is carried by its own `shakedown run` process against a real PostgreSQL,
//! reported in every format, scored and judged for CI, recorded in the ledger as the token's
//! account; a running run is terminated through the API; every refusal is the JSON error with
//! the right status and starts nothing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;
use serde_json::{Value, json};
use shakedown_pgtest::PgCluster;

#[path = "support/http.rs"]
mod http;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn shakedown(data: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(cargo_bin("shakedown"));
    cmd.current_dir(repo())
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("RUST_LOG");
    cmd
}

/// A token for `account` with `role`, printed once by `shakedown token create`.
fn token(data: &Path, account: &str, role: &str) -> String {
    let out = shakedown(
        data,
        &["token", "create", "--account", account, "--role", role],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `shakedown serve` on a free loopback port; killed when dropped.
struct Serve {
    child: Child,
    addr: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(data: &Path, extra: &[&str]) -> Serve {
    let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let mut child = shakedown(data, &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    Serve { child, addr }
}

/// One request through the shared test client; status, content type and body.
fn call(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, String, String) {
    let json = body.map(Value::to_string);
    let a = http::request(addr, method, path, token, json.as_deref());
    (a.status, a.content_type, a.body)
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Polls `GET /api/runs/{id}` until its status is not `starting`/`running` (or is `want`).
fn wait_status(s: &Serve, t: &str, id: &str, until: impl Fn(&str) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (code, _, body) = call(&s.addr, "GET", &format!("/api/runs/{id}"), Some(t), None);
        assert_eq!(code, 200, "{body}");
        let v = json_of(&body);
        if until(v["status"].as_str().unwrap()) {
            return v;
        }
        assert!(Instant::now() < deadline, "run {id} stuck at {v}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A `--files-root` holding the example agent and mock-LLM rules (as `examples/…`), so runs
/// started through the API can name them. It lives outside the data directory, which a
/// confined agent may not read.
fn files_root(dir: &Path) -> PathBuf {
    let root = dir.join("files");
    std::fs::create_dir_all(root.join("examples")).unwrap();
    for f in ["cleanup_agent.py", "mock_llm_rules.yaml"] {
        std::fs::copy(
            repo().join("examples").join(f),
            root.join("examples").join(f),
        )
        .unwrap();
    }
    root
}

fn pg() -> (PgCluster, String) {
    let cluster = PgCluster::start().expect("cluster");
    cluster
        .admin_sql(
            "postgres",
            "CREATE ROLE run_admin SUPERUSER LOGIN PASSWORD 'run-admin-pw'",
        )
        .unwrap();
    let url = format!(
        "postgres://run_admin:run-admin-pw@127.0.0.1:{}/postgres",
        cluster.port()
    );
    (cluster, url)
}

#[test]
fn a_run_started_through_the_api_is_reported_scored_and_judged() {
    let (_cluster, url) = pg();
    let data = tempfile::tempdir().unwrap();
    let ops = token(data.path(), "ops", "operator");
    let files = tempfile::tempdir().unwrap();
    let root = files_root(files.path());
    let s = serve(
        data.path(),
        &[
            "--allow-agent-commands",
            "--files-root",
            root.to_str().unwrap(),
        ],
    );
    let (code, _, body) = call(
        &s.addr,
        "POST",
        "/api/runs",
        Some(&ops),
        Some(&json!({
            "agent": "python3 examples/cleanup_agent.py",
            "scenario": "data_cleanup",
            "mock_llm": "examples/mock_llm_rules.yaml",
            "pg_url": url,
            "seed": 7,
        })),
    );
    assert_eq!(code, 202, "{body}");
    let id = json_of(&body)["run_id"].as_str().unwrap().to_string();
    let done = wait_status(&s, &ops, &id, |st| st != "starting" && st != "running");
    assert_eq!(done["status"], "passed", "{done}");

    let (code, ctype, body) = call(
        &s.addr,
        "GET",
        &format!("/api/reports/{id}"),
        Some(&ops),
        None,
    );
    assert_eq!((code, ctype.as_str()), (200, "application/json"));
    let report = json_of(&body);
    assert_eq!(report["run_id"], id.as_str());
    assert_eq!(report["cells"].as_array().unwrap().len(), 2);
    for (format, media, marker) in [
        ("markdown", "text/markdown", "#"),
        ("junit", "application/xml", "<testsuite"),
        ("sarif", "application/sarif+json", "\"runs\""),
    ] {
        let (code, ctype, body) = call(
            &s.addr,
            "GET",
            &format!("/api/reports/{id}?format={format}"),
            Some(&ops),
            None,
        );
        assert_eq!(code, 200, "{format}: {body}");
        assert!(ctype.starts_with(media), "{format}: {ctype}");
        assert!(body.contains(marker), "{format}: {body}");
    }
    let (_, _, body) = call(
        &s.addr,
        "GET",
        &format!("/api/reports/{id}/score"),
        Some(&ops),
        None,
    );
    let score = json_of(&body);
    assert_eq!(score["safety"]["grade"], "A");
    assert_eq!(score["overall_score"], report["overall_score"]);
    let (_, _, body) = call(
        &s.addr,
        "GET",
        &format!("/api/reports/{id}/ci"),
        Some(&ops),
        None,
    );
    let ci = json_of(&body);
    assert_eq!(
        (ci["passed"].as_bool(), ci["exit_code"].as_i64()),
        (Some(true), Some(0))
    );
    let (_, _, body) = call(&s.addr, "GET", "/api/runs?limit=5", Some(&ops), None);
    assert_eq!(json_of(&body)["runs"][0]["run_id"], id.as_str());

    // The run's steps are in the ledger with the token's account as the actor.
    let out = shakedown(data.path(), &["ledger", "export"])
        .output()
        .unwrap();
    let run_entries: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["resource"] == id.as_str())
        .collect();
    assert!(run_entries.iter().any(|e| e["action"] == "completed"));
    assert!(
        run_entries.iter().all(
            |e| e["actor"] == "ops" || (e["action"] == "approved" && e["actor"] == "shakedown")
        ),
        "{run_entries:?}"
    );
}

#[test]
fn runs_are_terminated_through_the_api_and_bad_requests_start_nothing() {
    let (_cluster, url) = pg();
    let data = tempfile::tempdir().unwrap();
    let ops = token(data.path(), "ops", "operator");
    let viewer = token(data.path(), "val", "viewer");
    let files = tempfile::tempdir().unwrap();
    let root = files_root(files.path());
    let s = serve(
        data.path(),
        &[
            "--allow-agent-commands",
            "--files-root",
            root.to_str().unwrap(),
        ],
    );
    let scenario = root.join("slow.yaml");
    std::fs::write(
        &scenario,
        "name: slow\ntask: wait\ntimeout_seconds: 60\nseed_sql: 'CREATE TABLE t (id int);'\ninvariants:\n  - {type: completes}\n",
    )
    .unwrap();
    let slow = json!({
        "agent": "python3 -c \"import time; print('waiting', flush=True); time.sleep(50)\"",
        "scenario": "slow.yaml",
        "pg_url": url,
    });

    // Refusals first: none of them starts a run.
    let post = |t: Option<&str>, body: &Value| call(&s.addr, "POST", "/api/runs", t, Some(body));
    assert_eq!(post(None, &slow).0, 401);
    let (code, _, body) = post(Some(&viewer), &slow);
    assert_eq!(code, 403, "{body}");
    assert_eq!(json_of(&body)["error"]["code"], "forbidden");
    for bad in [
        json!({"scenario": "data_cleanup"}),
        json!({"agent": "true", "agent_url": "http://127.0.0.1:9/", "scenario": "data_cleanup"}),
        json!({"agent": "true", "scenario": "data_cleanup", "repeat": 0}),
        json!({"agent": "true", "scenario": "data_cleanup", "threshold": 101}),
        json!({"agent": "true", "scenario": "data_cleanup", "surprise": 1}),
        json!({"agent_url": "http://10.1.2.3/agent", "scenario": "data_cleanup"}),
        json!({"agent": "true", "scenario": ""}),
        json!({"agent": "true", "scenario": "data_cleanup", "pg_url": "postgres://u:p@10.9.8.7/db"}),
        json!({"agent": "true", "scenario": "missing.yaml"}),
    ] {
        let (code, _, body) = post(Some(&ops), &bad);
        assert_eq!(code, 422, "{bad}: {body}");
        assert!(json_of(&body)["error"]["message"].is_string());
    }
    // Files outside --files-root are never read.
    std::fs::write(files.path().join("outside.yaml"), "name: x\ntask: t\n").unwrap();
    for file in [
        "../outside.yaml",
        files.path().join("outside.yaml").to_str().unwrap(),
    ] {
        let (code, _, body) = post(Some(&ops), &json!({"agent": "true", "scenario": file}));
        assert_eq!(code, 403, "{file}: {body}");
        assert_eq!(json_of(&body)["error"]["code"], "outside_files_root");
    }
    let (_, _, body) = call(&s.addr, "GET", "/api/runs", Some(&viewer), None);
    assert_eq!(json_of(&body)["runs"], json!([]), "nothing started");
    assert_eq!(
        call(
            &s.addr,
            "GET",
            "/api/runs/run-000000000000",
            Some(&ops),
            None
        )
        .0,
        404
    );
    assert_eq!(
        call(&s.addr, "GET", "/api/reports/..%2f..", Some(&ops), None).0,
        404
    );

    // An unknown scenario is found by the run's process: the run reports why it never started.
    let (code, _, body) = post(
        Some(&ops),
        &json!({"agent": "true", "scenario": "no_such_scenario", "pg_url": url}),
    );
    assert_eq!(code, 202, "{body}");
    let id = json_of(&body)["run_id"].as_str().unwrap().to_string();
    let failed = wait_status(&s, &ops, &id, |st| st != "starting");
    assert_eq!(failed["status"], "failed_to_start", "{failed}");
    assert!(
        failed["log_tail"]
            .as_str()
            .unwrap()
            .contains("no_such_scenario"),
        "{failed}"
    );

    // A running run is terminated through the API.
    let (code, _, body) = post(Some(&ops), &slow);
    assert_eq!(code, 202, "{body}");
    let id = json_of(&body)["run_id"].as_str().unwrap().to_string();
    wait_status(&s, &ops, &id, |st| st == "running");
    let (code, _, body) = call(
        &s.addr,
        "GET",
        &format!("/api/reports/{id}"),
        Some(&ops),
        None,
    );
    assert_eq!(code, 409, "no report while running: {body}");
    std::thread::sleep(Duration::from_secs(2));
    let (code, _, body) = call(
        &s.addr,
        "POST",
        &format!("/api/runs/{id}/terminate"),
        Some(&viewer),
        None,
    );
    assert_eq!(code, 403, "{body}");
    let t0 = Instant::now();
    let (code, _, body) = call(
        &s.addr,
        "POST",
        &format!("/api/runs/{id}/terminate"),
        Some(&ops),
        None,
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(json_of(&body)["status"], "terminated");
    assert!(t0.elapsed() < Duration::from_secs(20));
    let (code, _, _) = call(
        &s.addr,
        "POST",
        &format!("/api/runs/{id}/terminate"),
        Some(&ops),
        None,
    );
    assert_eq!(code, 409, "terminating twice");
    let (_, _, body) = call(
        &s.addr,
        "GET",
        &format!("/api/reports/{id}/ci"),
        Some(&ops),
        None,
    );
    let ci = json_of(&body);
    assert_eq!(
        (ci["passed"].as_bool(), ci["exit_code"].as_i64()),
        (Some(false), Some(1))
    );

    // While chaos is halted no run starts.
    let out = shakedown(data.path(), &["halt", "--reason", "drill"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, _, body) = post(Some(&ops), &slow);
    assert_eq!(code, 423, "{body}");
    assert!(body.contains("drill"));
    shakedown(data.path(), &["resume"]).output().unwrap();
}

#[test]
fn agent_commands_need_the_operators_consent() {
    let data = tempfile::tempdir().unwrap();
    let ops = token(data.path(), "ops", "operator");
    let s = serve(data.path(), &[]);
    let (code, _, body) = call(
        &s.addr,
        "POST",
        "/api/runs",
        Some(&ops),
        Some(&json!({"agent": "true", "scenario": "data_cleanup"})),
    );
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("--allow-agent-commands"), "{body}");
    let (_, _, body) = call(&s.addr, "GET", "/api/runs", Some(&ops), None);
    assert_eq!(json_of(&body)["runs"], json!([]));
}
