//! Governance wired into campaigns and agent runs, through the real binary: every step lands in
//! the signed ledger and verifies; an exposed signing key stops `campaign` and `run` before any
//! traffic (fail closed); a plan whose risk score needs a human is refused without `--approve`,
//! the refusal naming the score and the decision; an escalated plan (production) needs an
//! approval by a token's account holding `approve`, never the operator's `--approve` nor the
//! requester's own; agent runs are gated by and burn the error budget; more targets than the
//! blast radius start nothing.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;
use shakedown_ledger::Ledger;

fn shakedown(data: &Path) -> Command {
    let mut c = Command::cargo_bin("shakedown").unwrap();
    c.env("SHAKEDOWN_DATA_DIR", data)
        .env("USER", "alice")
        .env_remove("RUST_LOG")
        .timeout(Duration::from_secs(60));
    c
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// The ledger's entries, through `shakedown ledger export`.
fn ledger(data: &Path) -> Vec<Value> {
    let out = shakedown(data)
        .args(["ledger", "export"])
        .assert()
        .success();
    String::from_utf8_lossy(&out.get_output().stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn actions(entries: &[Value]) -> Vec<&str> {
    entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect()
}

/// A loopback listener that counts every connection made to it (any traffic at all).
fn counting_listener() -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let n = Arc::new(AtomicUsize::new(0));
    let counter = n.clone();
    std::thread::spawn(move || {
        // Ends with the test process; each accepted socket is dropped at once.
        for s in l.incoming() {
            if s.is_ok() {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    (port, n)
}

/// The weak practice API on loopback, and a staging system file pointing at it (`extra` goes
/// at the top level).
fn weak_api(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    extra: &str,
) -> (shakedown_practice::PracticeServer, PathBuf) {
    let weak = rt
        .block_on(shakedown_practice::start(
            shakedown_practice::PracticeConfig::weak(),
            "127.0.0.1:0".parse().unwrap(),
        ))
        .unwrap();
    let file = write(
        dir,
        "weak.yaml",
        &format!(
            "environment: staging\n{extra}components:\n  - id: weak\n    kind: api_endpoint\n    target: {}\n    health: /health\n    endpoints:\n      - path: /search\n        query: {{q: \"{{input}}\"}}\n",
            weak.url()
        ),
    );
    (weak, file)
}

#[test]
fn a_campaign_writes_every_step_to_the_ledger_and_it_verifies() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (weak, file) = weak_api(&rt, dir.path(), "");
    // Without --approve: refused (staging always needs a human: pending manual).
    let refused = shakedown(dir.path())
        .args(["campaign", "-f"])
        .arg(&file)
        .args(["--patterns", "xss_attack"])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&refused.get_output().stderr).to_string();
    assert!(stderr.contains("pending_manual"), "{stderr}");
    assert!(stderr.contains("--approve"), "{stderr}");
    // With it: the campaign runs (xss fails on the weak API: exit 1).
    shakedown(dir.path())
        .args(["campaign", "-f"])
        .arg(&file)
        .args(["--patterns", "xss_attack", "--approve"])
        .assert()
        .code(1);
    rt.block_on(weak.shutdown());

    let entries = ledger(dir.path());
    assert_eq!(
        actions(&entries),
        [
            "requested",
            "risk_scored",
            "denied",
            "requested",
            "risk_scored",
            "approved",
            "started",
            "attack",
            "completed"
        ]
    );
    assert!(
        entries
            .iter()
            .all(|e| e["category"] == "campaign" && e["subcategory"] == "staging")
    );
    let requested = &entries[3];
    let id = requested["resource"].as_str().unwrap();
    assert!(id.starts_with("chaos_"), "{id}");
    assert!(entries[3..].iter().all(|e| e["resource"] == id));
    assert_eq!(requested["actor"], "alice");
    assert_eq!(
        requested["data"]["plan"]["components"]["weak"]["patterns"],
        serde_json::json!(["xss_attack"])
    );
    assert_eq!(requested["data"]["plan"]["environment"], "staging");
    let hash = requested["data"]["plan_hash"].as_str().unwrap();
    assert_eq!(hash.len(), 64);
    // The same plan hashes the same when it is asked for again.
    assert_eq!(entries[0]["data"]["plan_hash"], hash);
    let risk = &entries[4]["data"];
    let score = risk["score"].as_f64().unwrap();
    assert!((0.4..=0.55).contains(&score), "{risk}");
    assert_eq!(risk["decision"], "pending_manual");
    assert_eq!(entries[5]["actor"], "alice");
    assert_eq!(entries[5]["data"]["by"], "--approve");
    assert_eq!(entries[5]["data"]["plan_hash"], hash);
    let attack = &entries[7]["data"];
    assert_eq!(attack["component"], "weak");
    assert_eq!(attack["pattern"], "xss_attack");
    assert_eq!(attack["verdict"], "failed");
    assert_eq!(attack["severity"], "high");
    assert!(attack["requests_sent"].as_u64().unwrap() > 0);
    let done = &entries[8]["data"];
    assert_eq!(done["status"], "completed");
    assert_eq!(done["score"], 0.0);
    assert_eq!(done["tests_failed"], 1);

    shakedown(dir.path())
        .args(["ledger", "verify"])
        .assert()
        .success();
}

#[test]
fn an_exposed_key_stops_campaign_and_run_before_any_traffic() {
    let dir = tempfile::tempdir().unwrap();
    // Create the ledger and its key, then expose the key.
    let ledger = Ledger::open_in_data_dir(dir.path()).unwrap();
    let key = ledger.current_key_id().unwrap();
    let secret = ledger.keys().dir().join(format!("{key}.secret"));
    drop(ledger);
    std::process::Command::new("chmod")
        .arg("644")
        .arg(&secret)
        .status()
        .unwrap();

    let (port, hits) = counting_listener();
    let file = write(
        dir.path(),
        "t.yaml",
        &format!(
            "components:\n  - id: t\n    kind: api_endpoint\n    target: http://127.0.0.1:{port}\n"
        ),
    );
    let out = shakedown(dir.path())
        .args(["campaign", "--approve", "-f"])
        .arg(&file)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        stderr.contains("refusing to start the campaign"),
        "{stderr}"
    );
    assert!(stderr.contains("chmod 600"), "{stderr}");

    // The run's database is the counting listener: a started run would connect to it.
    let pg_url = format!("postgres://nobody:pw@127.0.0.1:{port}/postgres");
    let out = shakedown(dir.path())
        .args([
            "run",
            "--agent",
            "true",
            "--scenario",
            "data_cleanup",
            "--no-fs-sandbox",
            "--pg-url",
            &pg_url,
        ])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        stderr.contains("refusing to start the agent run"),
        "{stderr}"
    );
    assert!(stderr.contains("chmod 600"), "{stderr}");

    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(hits.load(Ordering::SeqCst), 0, "no traffic at all");
    // Nothing was recorded or half-started.
    let ledger_file = dir.path().join("ledger").join("ledger.jsonl");
    assert_eq!(
        std::fs::read_to_string(&ledger_file).unwrap_or_default(),
        ""
    );
    assert!(!dir.path().join("runs").exists());
}

#[test]
fn staging_and_production_need_approve_and_the_refusal_names_the_risk() {
    let dir = tempfile::tempdir().unwrap();
    let (port, hits) = counting_listener();
    for (env, decision) in [("staging", "pending_manual"), ("production", "escalated")] {
        let file = write(
            dir.path(),
            &format!("{env}.yaml"),
            &format!(
                "environment: {env}\ncomponents:\n  - id: api\n    kind: api_endpoint\n    target: http://127.0.0.1:{port}\n"
            ),
        );
        let out = shakedown(dir.path())
            .args(["campaign", "-f"])
            .arg(&file)
            .assert()
            .code(2);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(
            stderr.contains(&format!("this {env} campaign has risk score 0.")),
            "{stderr}"
        );
        assert!(stderr.contains(&format!("decision {decision}")), "{stderr}");
        if decision == "pending_manual" {
            assert!(stderr.contains("re-run with --approve"), "{stderr}");
        } else {
            // Escalated: the operator's --approve is not enough; an approver's token is.
            assert!(
                stderr.contains("--approve is not enough") && stderr.contains("--token"),
                "{stderr}"
            );
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(hits.load(Ordering::SeqCst), 0, "refused before any packet");

    let entries = ledger(dir.path());
    assert_eq!(
        actions(&entries),
        [
            "requested",
            "risk_scored",
            "denied",
            "requested",
            "risk_scored",
            "denied"
        ]
    );
    assert_eq!(entries[0]["subcategory"], "staging");
    assert_eq!(entries[3]["subcategory"], "production");
    let staging = entries[1]["data"]["score"].as_f64().unwrap();
    let production = entries[4]["data"]["score"].as_f64().unwrap();
    assert!((0.4..=0.7).contains(&staging), "{staging}");
    assert!(production >= 0.9, "{production}");
    assert_eq!(entries[2]["data"]["decision"], "pending_manual");
    assert_eq!(entries[5]["data"]["decision"], "escalated");
    // Nothing was stored as a campaign.
    let list = shakedown(dir.path())
        .args(["campaigns", "--json"])
        .assert()
        .success();
    let list: Value = serde_json::from_slice(&list.get_output().stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 0);
    shakedown(dir.path())
        .args(["ledger", "verify"])
        .assert()
        .success();
}

#[test]
fn an_agent_run_records_its_risk_and_every_cell_without_being_blocked() {
    let cluster = shakedown_pgtest::PgCluster::start().expect("cluster");
    cluster
        .admin_sql(
            "postgres",
            "CREATE ROLE gov_admin SUPERUSER LOGIN PASSWORD 'gov-admin-pw'",
        )
        .unwrap();
    let url = format!(
        "postgres://gov_admin:gov-admin-pw@127.0.0.1:{}/postgres",
        cluster.port()
    );
    let data = tempfile::tempdir().unwrap();
    let events = data.path().join("events.jsonl");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = shakedown(data.path())
        .current_dir(&repo)
        .timeout(Duration::from_secs(120))
        .args([
            "run",
            "--agent",
            "python3 examples/cleanup_agent.py",
            "--scenario",
            "data_cleanup",
            "--mock-llm",
            "examples/mock_llm_rules.yaml",
            "--pg-url",
            &url,
            "--seed",
            "18446744073709551615",
            "--events",
        ])
        .arg(&events)
        .assert()
        .code(0);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let run_id = stdout.split_whitespace().next().unwrap().to_string();
    assert!(run_id.starts_with("run-"), "{stdout}");

    let entries = ledger(data.path());
    assert_eq!(
        actions(&entries),
        [
            "requested",
            "risk_scored",
            "approved",
            "started",
            "cell",
            "cell",
            "completed"
        ]
    );
    assert!(entries.iter().all(|e| e["category"] == "agent_run"
        && e["subcategory"] == "test"
        && e["resource"] == run_id.as_str()
        && (e["actor"] == "alice" || e["action"] == "approved")));
    let plan = &entries[0]["data"]["plan"];
    assert_eq!(plan["scenario"], "data_cleanup");
    // A seed beyond 2^53 is kept exactly, as a string.
    assert_eq!(plan["seed"], "18446744073709551615");
    assert_eq!(entries[0]["data"]["plan_hash"].as_str().unwrap().len(), 64);
    let risk = &entries[1]["data"];
    assert!(risk["score"].as_f64().unwrap() < 0.3, "{risk}");
    assert_eq!(risk["decision"], "auto_approved");
    assert_eq!(entries[2]["data"]["by"], "risk_score");
    assert_eq!(entries[2]["actor"], "shakedown");
    assert_eq!(entries[4]["data"]["cell"], "p0/baseline/r0");
    assert_eq!(entries[4]["data"]["passed"], true);
    assert!(
        entries[5]["data"]["cell"]
            .as_str()
            .unwrap()
            .contains("db_lock_v1")
    );
    assert_eq!(entries[6]["data"]["status"], "passed");
    // The run burned the test error budget for its injections (0.02 each), no more: here the
    // database chaos actions that triggered.
    let fired = std::fs::read_to_string(&events)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["event_type"] == "chaos_triggered" || e["event_type"] == "fault_injected")
        .count();
    assert!(fired > 0, "the chaos column fired");
    let budgets: Value =
        serde_json::from_str(&std::fs::read_to_string(data.path().join("budgets.json")).unwrap())
            .unwrap();
    let left = budgets["test"]["remaining"].as_f64().unwrap();
    // (The budget refills over its window of 1 h while the run goes on: a few seconds' worth.)
    let expected = 1.0 - 0.02 * fired as f64;
    assert!(
        left >= expected - 1e-9 && left < expected + 0.01,
        "{left} after {fired} injections"
    );
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("error budget of test:"), "{stderr}");
    shakedown(data.path())
        .args(["ledger", "verify"])
        .assert()
        .success();
}

#[test]
fn the_error_budget_gates_campaigns_once_spent() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Each single-pattern campaign burns 45% of the staging budget; below 20% the gate closes.
    let (weak, file) = weak_api(
        &rt,
        dir.path(),
        "error_budget: {cost_per_injection: 0.45, refill_window: 1h, threshold: 0.2}\n",
    );
    let campaign = || {
        let mut c = shakedown(dir.path());
        c.args(["campaign", "--approve", "--patterns", "xss_attack", "-f"])
            .arg(&file);
        c
    };
    for left in ["55%", "10%"] {
        let out = campaign().assert().code(1);
        let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(
            err.contains(&format!("error budget of staging: {left} left")),
            "{err}"
        );
    }
    let out = campaign().assert().code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("BudgetExhausted"), "{err}");
    assert!(
        err.contains("below 20%") && err.contains("retry after 360 s"),
        "{err}"
    );
    rt.block_on(weak.shutdown());
    let entries = ledger(dir.path());
    let gate = entries
        .iter()
        .find(|e| e["action"] == "budget_gate")
        .expect("gate recorded");
    assert_eq!(gate["data"]["gate"], "BudgetExhausted");
    // Exactly two campaigns ran.
    assert_eq!(
        actions(&entries)
            .iter()
            .filter(|a| **a == "started")
            .count(),
        2
    );
}

#[test]
fn a_signed_approval_admits_exactly_its_plan_until_it_expires() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (weak, file) = weak_api(&rt, dir.path(), "");
    let approval = dir.path().join("approval.json");
    let approve = |ttl: &str| {
        shakedown(dir.path())
            .args(["approve", "--patterns", "xss_attack", "--ttl", ttl, "--out"])
            .arg(&approval)
            .arg("-f")
            .arg(&file)
            .assert()
            .success();
    };
    let campaign = |patterns: &str| {
        let mut c = shakedown(dir.path());
        c.args(["campaign", "--patterns", patterns, "--approval"])
            .arg(&approval)
            .arg("-f")
            .arg(&file);
        c
    };
    approve("30m");
    // The approved plan runs (xss fails on the weak API: exit 1, a verdict, not a refusal).
    campaign("xss_attack").assert().code(1);
    // Another plan is refused.
    let out = campaign("sql_injection").assert().code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("plan changed after it was approved"), "{err}");
    // An altered approval is refused.
    let mut forged: Value =
        serde_json::from_str(&std::fs::read_to_string(&approval).unwrap()).unwrap();
    forged["approver"] = "mallory".into();
    std::fs::write(&approval, forged.to_string()).unwrap();
    let out = campaign("xss_attack").assert().code(2);
    assert!(
        String::from_utf8_lossy(&out.get_output().stderr).contains("signature does not verify")
    );
    // An expired approval is refused.
    approve("1s");
    std::thread::sleep(Duration::from_millis(1500));
    let out = campaign("xss_attack").assert().code(2);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("approval expired"));
    // A bad TTL is refused before anything is signed.
    shakedown(dir.path())
        .args(["approve", "--ttl", "0s", "--out"])
        .arg(&approval)
        .arg("-f")
        .arg(&file)
        .assert()
        .code(2);
    rt.block_on(weak.shutdown());
    let entries = ledger(dir.path());
    let acts = actions(&entries);
    assert_eq!(acts.iter().filter(|a| **a == "approval_granted").count(), 2);
    let approved: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] == "approved")
        .collect();
    assert_eq!(approved.len(), 1);
    assert_eq!(approved[0]["data"]["by"], "approval");
    assert_eq!(approved[0]["data"]["approver"], "alice");
    assert_eq!(acts.iter().filter(|a| **a == "denied").count(), 3);
    shakedown(dir.path())
        .args(["ledger", "verify"])
        .assert()
        .success();
}

#[test]
fn tokens_are_shown_once_stored_hashed_listed_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let out = shakedown(dir.path())
        .args([
            "token",
            "create",
            "--account",
            "ci-bot",
            "--role",
            "chaos_agent_service",
            "--kind",
            "service",
            "--label",
            "ci",
            "--expires",
            "720h",
        ])
        .assert()
        .success();
    let secret = String::from_utf8_lossy(&out.get_output().stdout)
        .trim()
        .to_string();
    assert!(secret.starts_with("shk_") && secret.len() == 68, "{secret}");
    // The store keeps the hash, never the token.
    let db = std::fs::read(dir.path().join(shakedown_store::DB_FILE_NAME)).unwrap();
    let wal = std::fs::read(
        dir.path()
            .join(format!("{}-wal", shakedown_store::DB_FILE_NAME)),
    )
    .unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the token itself is stored"
        );
    }
    let out = shakedown(dir.path())
        .args(["token", "list", "--json"])
        .assert()
        .success();
    let list: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let t = &list[0];
    assert_eq!(t["account"], "ci-bot");
    assert_eq!(t["roles"][0], "chaos_agent_service");
    assert_eq!(t["state"], "active");
    assert!(!list.to_string().contains(&secret));
    let id = t["id"].as_str().unwrap().to_string();

    shakedown(dir.path())
        .args(["token", "revoke", &id])
        .assert()
        .success();
    let out = shakedown(dir.path())
        .args(["token", "list", "--json"])
        .assert()
        .success();
    let list: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(list[0]["state"], "revoked");
    let out = shakedown(dir.path())
        .args(["token", "revoke", &id])
        .assert()
        .code(2);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("already revoked"));
    let entries = ledger(dir.path());
    let acts = actions(&entries);
    assert!(
        acts.contains(&"token_created") && acts.contains(&"token_revoked"),
        "{acts:?}"
    );
    assert!(!serde_json::to_string(&entries).unwrap().contains(&secret));
}

#[test]
fn bad_token_requests_are_refused_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = shakedown(dir.path())
        .args(["token", "create", "--account", "eve", "--role", "root"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("unknown role `root`") && err.contains("chaos_agent_service"),
        "{err}"
    );
    let out = shakedown(dir.path())
        .args(["token", "create", "--account", "eve"])
        .assert()
        .code(2);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("--role"));
    shakedown(dir.path())
        .args([
            "token",
            "create",
            "--account",
            "eve",
            "--role",
            "viewer",
            "--expires",
            "soon",
        ])
        .assert()
        .code(2);
    shakedown(dir.path())
        .args(["token", "revoke", "tok_nope"])
        .assert()
        .code(2);
    let out = shakedown(dir.path())
        .args(["token", "list", "--json"])
        .assert()
        .success();
    assert_eq!(
        String::from_utf8_lossy(&out.get_output().stdout).trim(),
        "[]"
    );
}

#[test]
fn production_needs_a_healthy_halt_path() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (weak, file) = weak_api(&rt, dir.path(), "");
    let prod = std::fs::read_to_string(&file)
        .unwrap()
        .replace("environment: staging", "environment: production");
    let file = write(dir.path(), "prod.yaml", &prod);
    // The halt registry is a file, not a directory: a halt could not find this campaign.
    std::fs::write(dir.path().join("active"), b"not a directory").unwrap();
    let out = shakedown(dir.path())
        .args(["campaign", "--approve", "--patterns", "xss_attack", "-f"])
        .arg(&file)
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("halt"), "{err}");
    rt.block_on(weak.shutdown());
    assert!(
        !actions(&ledger(dir.path())).contains(&"started"),
        "nothing started"
    );
}

#[test]
fn editing_the_system_file_never_changes_a_campaign_in_flight() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (weak, file) = weak_api(&rt, dir.path(), "engine: {max_attack_duration: 3s}\n");
    let original = std::fs::read_to_string(&file).unwrap();
    let (decoy_port, decoy_hits) = counting_listener();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("shakedown"))
        .env("SHAKEDOWN_DATA_DIR", dir.path())
        .env("USER", "alice")
        .args([
            "campaign",
            "--approve",
            "--patterns",
            "xss_attack,burst_traffic,sql_injection",
            "-f",
        ])
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Once `started` is in the ledger the plan is fixed; edit the file while it runs.
    let ledger_path = Ledger::open_in_data_dir(dir.path()).unwrap().path();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(&ledger_path).unwrap_or_default();
        if text.contains("\"action\":\"started\"") {
            assert!(
                !text.contains("\"action\":\"completed\""),
                "the campaign ended before the edit"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "campaign never started"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let edited = original
        .replace(
            &weak.url().to_string(),
            &format!("http://127.0.0.1:{decoy_port}"),
        )
        .replace("/search", "/elsewhere");
    assert_ne!(edited, original);
    std::fs::write(&file, edited).unwrap();
    let status = child.wait().unwrap();
    assert!(status.code().is_some_and(|c| c <= 1), "{status:?}");
    rt.block_on(weak.shutdown());
    assert_eq!(
        decoy_hits.load(Ordering::SeqCst),
        0,
        "the edited target was attacked"
    );
    let entries = ledger(dir.path());
    let mut attacks: Vec<&str> = entries
        .iter()
        .filter(|e| e["action"] == "attack")
        .map(|e| e["data"]["pattern"].as_str().unwrap())
        .collect();
    attacks.sort();
    assert_eq!(attacks, ["burst_traffic", "sql_injection", "xss_attack"]);
}

/// A token of a new account `account` holding `role`, through `shakedown token create`.
fn token(data: &Path, account: &str, role: &str) -> String {
    let out = shakedown(data)
        .args(["token", "create", "--account", account, "--role", role])
        .assert()
        .success();
    String::from_utf8_lossy(&out.get_output().stdout)
        .trim()
        .to_string()
}

#[test]
fn an_escalated_plan_is_approved_only_by_a_token_holding_approve_and_not_by_its_requester() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (weak, file) = weak_api(&rt, dir.path(), "");
    let prod = std::fs::read_to_string(&file)
        .unwrap()
        .replace("environment: staging", "environment: production");
    let file = write(dir.path(), "prod.yaml", &prod);
    let approval = dir.path().join("approval.json");
    let bob = token(dir.path(), "bob", "approver");
    let vic = token(dir.path(), "vic", "viewer");
    let approve = |token: Option<&str>| {
        let mut c = shakedown(dir.path());
        c.args(["approve", "--patterns", "xss_attack", "--out"])
            .arg(&approval)
            .arg("-f")
            .arg(&file)
            .env_remove("SHAKEDOWN_TOKEN");
        if let Some(t) = token {
            c.args(["--token", t]);
        }
        c
    };

    // The operator's --approve does not run a production campaign.
    let out = shakedown(dir.path())
        .args(["campaign", "--approve", "--patterns", "xss_attack", "-f"])
        .arg(&file)
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("decision escalated") && err.contains("--approve is not enough"),
        "{err}"
    );
    // `shakedown approve` without a token, or with one lacking `approve`, signs nothing.
    let out = approve(None).assert().code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("escalated") && err.contains("--token") && err.contains("SHAKEDOWN_TOKEN"),
        "{err}"
    );
    let out = approve(Some(&vic)).assert().code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("vic may not approve"), "{err}");
    let out = approve(Some("shk_not-a-token")).assert().code(2);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("malformed"));
    assert!(!approval.exists(), "no approval was written");

    // bob's token (by SHAKEDOWN_TOKEN) approves, recorded as bob.
    let out = approve(None)
        .env("SHAKEDOWN_TOKEN", &bob)
        .assert()
        .success();
    let said = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        said.contains("approved escalated plan") && said.contains("by bob (token)"),
        "{said}"
    );
    let campaign = |user: &str| {
        let mut c = shakedown(dir.path());
        c.env("USER", user)
            .args(["campaign", "--patterns", "xss_attack", "--approval"])
            .arg(&approval)
            .arg("-f")
            .arg(&file);
        c
    };
    // bob may not approve his own request.
    let out = campaign("bob").assert().code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("`bob` requested this escalated plan"), "{err}");
    assert!(
        !actions(&ledger(dir.path())).contains(&"started"),
        "nothing started yet"
    );
    // alice requests, bob approved: it runs (xss fails on the weak API: exit 1, a verdict).
    campaign("alice").assert().code(1);
    rt.block_on(weak.shutdown());

    let entries = ledger(dir.path());
    let granted = entries
        .iter()
        .find(|e| e["action"] == "approval_granted")
        .unwrap();
    assert_eq!(granted["actor"], "bob");
    assert_eq!(granted["data"]["approver"], "bob");
    assert_eq!(granted["data"]["authenticated_by"], "token");
    assert_eq!(granted["data"]["decision"], "escalated");
    let denied: Vec<&Value> = entries.iter().filter(|e| e["action"] == "denied").collect();
    assert_eq!(denied.len(), 2, "{denied:?}");
    assert!(denied.iter().all(|e| e["data"]["decision"] == "escalated"));
    let approved: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] == "approved")
        .collect();
    assert_eq!(approved.len(), 1);
    assert_eq!(approved[0]["data"]["approver"], "bob");
    assert_eq!(approved[0]["data"]["requested_by"], "alice");
    assert_eq!(approved[0]["data"]["decision"], "escalated");
    assert_eq!(
        actions(&entries)
            .iter()
            .filter(|a| **a == "started")
            .count(),
        1
    );
    shakedown(dir.path())
        .args(["ledger", "verify"])
        .assert()
        .success();
}

#[test]
fn a_pending_manual_plan_is_approved_by_the_operator_and_says_so() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (weak, file) = weak_api(&rt, dir.path(), "");
    let approval = dir.path().join("approval.json");
    let out = shakedown(dir.path())
        .env_remove("SHAKEDOWN_TOKEN")
        .args(["approve", "--patterns", "xss_attack", "--out"])
        .arg(&approval)
        .arg("-f")
        .arg(&file)
        .assert()
        .success();
    let said = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        said.contains("approved pending_manual plan") && said.contains("by alice (operator)"),
        "{said}"
    );
    rt.block_on(weak.shutdown());
    let entries = ledger(dir.path());
    assert_eq!(entries[0]["action"], "approval_granted");
    assert_eq!(entries[0]["data"]["decision"], "pending_manual");
    assert_eq!(entries[0]["data"]["authenticated_by"], "operator");
}

#[test]
fn more_targets_than_the_blast_radius_start_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (port, hits) = counting_listener();
    let component = |id: &str| {
        format!(
            "  - id: {id}\n    kind: api_endpoint\n    target: http://127.0.0.1:{port}\n    endpoints:\n      - path: /s\n        query: {{q: \"{{input}}\"}}\n"
        )
    };
    let file = write(
        dir.path(),
        "wide.yaml",
        &format!(
            "blast_radius_limit: 1\ncomponents:\n{}{}",
            component("a"),
            component("b")
        ),
    );
    let out = shakedown(dir.path())
        .args(["campaign", "--approve", "--targets", "a,b", "-f"])
        .arg(&file)
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("2 components requested but blast_radius_limit is 1"),
        "{err}"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(hits.load(Ordering::SeqCst), 0, "no traffic");
    let list = shakedown(dir.path())
        .args(["campaigns", "--json"])
        .assert()
        .success();
    let list: Value = serde_json::from_slice(&list.get_output().stdout).unwrap();
    assert!(list.as_array().unwrap().is_empty(), "no campaign record");
    assert!(
        !actions(&ledger(dir.path())).contains(&"started"),
        "nothing started"
    );
}

#[test]
fn an_exhausted_budget_refuses_an_agent_run_before_anything_starts() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A test campaign with a budget spends it: one injection at 0.9.
    let (weak, file) = weak_api(
        &rt,
        dir.path(),
        "error_budget: {cost_per_injection: 0.9, refill_window: 1h, threshold: 0.2}\n",
    );
    let test_file = std::fs::read_to_string(&file)
        .unwrap()
        .replace("environment: staging", "environment: test");
    let file = write(dir.path(), "test.yaml", &test_file);
    let out = shakedown(dir.path())
        .args(["campaign", "--approve", "--patterns", "xss_attack", "-f"])
        .arg(&file)
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("error budget of test: 10% left"), "{err}");
    rt.block_on(weak.shutdown());
    // The run's database is the counting listener: a started run would connect to it.
    let (port, hits) = counting_listener();
    let pg_url = format!("postgres://nobody:pw@127.0.0.1:{port}/postgres");
    let out = shakedown(dir.path())
        .args([
            "run",
            "--agent",
            "true",
            "--scenario",
            "data_cleanup",
            "--no-fs-sandbox",
            "--pg-url",
            &pg_url,
        ])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("refusing to start the agent run")
            && err.contains("BudgetExhausted")
            && err.contains("the test error budget"),
        "{err}"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(hits.load(Ordering::SeqCst), 0, "no traffic at all");
    let entries = ledger(dir.path());
    let gate = entries.last().unwrap();
    assert_eq!(gate["category"], "agent_run");
    assert_eq!(gate["action"], "budget_gate");
    assert_eq!(gate["data"]["gate"], "BudgetExhausted");
    assert!(
        !entries
            .iter()
            .any(|e| e["category"] == "agent_run" && e["action"] == "started")
    );
    let runs = shakedown(dir.path()).arg("runs").assert().success();
    let runs = String::from_utf8_lossy(&runs.get_output().stdout).to_string();
    assert!(!runs.contains("run-"), "no run stored: {runs}");
    assert!(!dir.path().join("runs").exists(), "no working directory");
}
