//! The `shakedown` binary's contract: exit codes, located validation errors, the schema, the
//! store-backed listing commands, events as JSON lines, and the demo.

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

fn shakedown(data: &Path) -> Command {
    let mut c = Command::cargo_bin("shakedown").unwrap();
    c.env("SHAKEDOWN_DATA_DIR", data).env_remove("RUST_LOG");
    c
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn validate_reports_each_kind_of_bad_file_with_location_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, &str)] = &[
        (
            "syntax.yaml",
            "components:\n  - id: a\n    kind: [api\n",
            "syntax.yaml:3:",
        ),
        (
            "unknown_field.yaml",
            "components:\n  - id: a\n    kind: api_endpoint\n    target: http://127.0.0.1:1\n    gardrails: {}\n",
            "unknown_field.yaml:5:5: error: unknown field `gardrails`",
        ),
        (
            "bad_enum.yaml",
            "environment: prod\ncomponents:\n  - id: a\n    kind: api_endpoint\n    target: http://127.0.0.1:1\n",
            "bad_enum.yaml:1:14: error: `prod` is not a valid `environment`",
        ),
        (
            "bad_duration.yaml",
            "components:\n  - id: a\n    kind: api_endpoint\n    target: http://127.0.0.1:1\n    guardrails:\n      request_timeout: soon\n",
            "bad_duration.yaml:6:24: error: `soon` is not a valid `request_timeout`",
        ),
        (
            "missing.yaml",
            "components:\n  - id: a\n    target: http://127.0.0.1:1\n",
            "missing.yaml:2:5: error: missing required field `kind`",
        ),
        (
            "scope.yaml",
            "components:\n  - id: a\n    kind: api_endpoint\n    target: http://192.0.2.10:80\n",
            "scope.yaml:4:13: error: target `http://192.0.2.10:80` is outside the scope",
        ),
        (
            "duplicate.yaml",
            "components:\n  - id: a\n    kind: api_endpoint\n    target: http://127.0.0.1:1\n  - id: a\n    kind: api_endpoint\n    target: http://127.0.0.1:2\n",
            "duplicate.yaml:5:9: error: duplicate component id `a`",
        ),
        (
            "pattern.yaml",
            "components:\n  - id: a\n    kind: api_endpoint\n    target: http://127.0.0.1:1\n    patterns: [rate_limit_breach]\n",
            "pattern.yaml:5:16: error: rate_limit_breach needs a claimed rate limit",
        ),
    ];
    for (name, text, expected) in cases {
        let file = write(dir.path(), name, text);
        shakedown(dir.path())
            .arg("validate")
            .arg(&file)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(*expected).and(predicate::str::contains("hint:")));
    }
    // Several problems in one file are all listed.
    let many = write(
        dir.path(),
        "many.yaml",
        "environment: prod\ncomponents:\n  - id: a\n    kind: api_endpoint\n    target: http://127.0.0.1:1\n    guardrails:\n      max_payload: lots\n      request_timeout: soon\n",
    );
    let out = shakedown(dir.path())
        .arg("validate")
        .arg(&many)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        stderr.contains("many.yaml:1:")
            && stderr.contains("many.yaml:7:")
            && stderr.contains("many.yaml:8:"),
        "{stderr}"
    );
    assert!(stderr.contains("3 error(s)"), "{stderr}");
    // A missing file is an error too.
    shakedown(dir.path())
        .args(["validate", "/nonexistent/shakedown.yaml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot read system file"));
}

#[test]
fn validate_accepts_a_good_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "ok.yaml",
        "components:\n  - id: a\n    kind: api_endpoint\n    target: http://127.0.0.1:1\n",
    );
    shakedown(dir.path())
        .arg("validate")
        .arg(&file)
        .assert()
        .success()
        .stdout(predicate::str::contains("ok (1 component(s)"));
}

#[test]
fn the_checked_in_schema_is_current() {
    let dir = tempfile::tempdir().unwrap();
    let out = shakedown(dir.path())
        .args(["schema", "system"])
        .assert()
        .success();
    let printed: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let checked_in: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../schemas/system.schema.json"
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        printed, checked_in,
        "regenerate with `shakedown schema system > schemas/system.schema.json`"
    );
}

#[test]
fn patterns_lists_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let out = shakedown(dir.path()).arg("patterns").assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    for p in [
        "sql_injection",
        "slowloris",
        "type_confusion",
        "network_partition",
    ] {
        assert!(text.contains(p), "{p}");
    }
    assert!(text.contains("planned"));
}

#[test]
fn campaign_errors_exit_2_before_any_attack() {
    let dir = tempfile::tempdir().unwrap();
    // Production without approval.
    let prod = write(
        dir.path(),
        "prod.yaml",
        "environment: production\ncomponents:\n  - id: a\n    kind: api_endpoint\n    target: http://127.0.0.1:1\n",
    );
    shakedown(dir.path())
        .args(["campaign", "-f"])
        .arg(&prod)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--approve"));
    // Missing secret.
    let secret = write(
        dir.path(),
        "secret.yaml",
        "components:\n  - id: a\n    kind: api_endpoint\n    target: http://127.0.0.1:1\n    auth: {token_env: SHAKEDOWN_TEST_UNSET_SECRET}\n",
    );
    shakedown(dir.path())
        .args(["campaign", "-f"])
        .arg(&secret)
        // Its risk score needs a human (pending manual): approved, so the secret is checked.
        .arg("--approve")
        .env_remove("SHAKEDOWN_TEST_UNSET_SECRET")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("SHAKEDOWN_TEST_UNSET_SECRET"));
    // Unknown pattern and bad threshold.
    shakedown(dir.path())
        .args(["campaign", "-f"])
        .arg(&prod)
        .args(["--patterns", "sqli"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown pattern `sqli`"));
    shakedown(dir.path())
        .args(["campaign", "-f"])
        .arg(&prod)
        .args(["--threshold", "80"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--threshold must be between 0 and 1",
        ));
    // Nothing testable: only a database component.
    let db = write(
        dir.path(),
        "db.yaml",
        "components:\n  - id: db\n    kind: database\n",
    );
    shakedown(dir.path())
        .args(["campaign", "-f"])
        .arg(&db)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nothing testable"));
    // None of these left a campaign behind.
    let out = shakedown(dir.path())
        .args(["campaigns", "--json"])
        .assert()
        .success();
    let list: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 0);
}

#[test]
fn an_unreachable_target_gives_exit_2_not_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let file = write(
        dir.path(),
        "down.yaml",
        &format!(
            "components:\n  - id: down\n    kind: api_endpoint\n    target: http://127.0.0.1:{port}\n"
        ),
    );
    shakedown(dir.path())
        .args(["campaign", "-f"])
        .arg(&file)
        // Every pattern in the test environment scores "pending manual": approve it.
        .arg("--approve")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("every result was inconclusive"));
}

#[test]
fn demo_runs_in_under_a_minute_and_the_store_commands_show_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let report = dir.path().join("demo.json");
    let start = std::time::Instant::now();
    let out = shakedown(&data)
        .args(["demo", "--report", "json", "--out"])
        .arg(&report)
        .timeout(std::time::Duration::from_secs(120))
        .assert()
        .success();
    let elapsed = start.elapsed();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(elapsed.as_secs() < 60, "demo took {elapsed:?}");
    assert!(
        stderr.contains("Practice API (guarded) resilience: 100% (11/11 passed)"),
        "{stderr}"
    );
    assert!(stderr.contains("→ sql_injection"), "{stderr}");
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let verdict = |c: &str, p: &str| {
        r["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["component_id"] == c && x["pattern"] == p)
            .unwrap()["verdict"]
            .clone()
    };
    for p in [
        "sql_injection",
        "xss_attack",
        "auth_bypass",
        "rate_limit_breach",
        "payload_overflow",
        "slowloris",
    ] {
        assert_eq!(verdict("practice-weak", p), "failed", "{p}");
        assert_eq!(verdict("practice-guarded", p), "passed", "{p}");
    }
    let id = r["campaign_id"].as_str().unwrap().to_string();

    // The demo used the store in --data-dir: the listing commands show the campaign.
    let out = shakedown(&data)
        .args(["campaigns", "--json"])
        .assert()
        .success();
    let list: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(list[0]["campaign_id"], id.as_str());
    shakedown(&data)
        .args(["campaign", "show", &id])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "# Shakedown campaign `{id}`"
        )));
    shakedown(&data)
        .args(["campaign", "show", &id, "--report", "junit"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "<testsuite name=\"practice-weak\" tests=\"11\" failures=\"9\"",
        ));
    shakedown(&data)
        .args(["campaign", "show", "chaos_nope"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no campaign `chaos_nope`"));
    let out = shakedown(&data)
        .args(["resilience", "--json"])
        .assert()
        .success();
    let ranks: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(
        ranks["rankings"][0]["component_id"], "practice-weak",
        "weakest first"
    );
    assert_eq!(ranks["rankings"][1]["resilience_score"], 1.0);
    shakedown(&data)
        .args(["resilience", "--history", "practice-weak"])
        .assert()
        .success()
        .stdout(predicate::str::contains(&id));
    // The demo's campaign is in the signed ledger (approved by running the demo), intact.
    shakedown(&data)
        .args(["ledger", "export"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "\"action\":\"completed\",\"resource\":\"{id}\""
        )));
    shakedown(&data)
        .args(["ledger", "verify"])
        .assert()
        .success();
}

/// The weak practice API on loopback, with the runtime that serves it.
fn weak_practice_api() -> (tokio::runtime::Runtime, shakedown_practice::PracticeServer) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let weak = rt
        .block_on(shakedown_practice::start(
            shakedown_practice::PracticeConfig::weak(),
            "127.0.0.1:0".parse().unwrap(),
        ))
        .unwrap();
    (rt, weak)
}

#[test]
fn events_stream_as_json_lines_and_the_threshold_sets_the_exit_code() {
    let (rt, weak) = weak_practice_api();
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "weak.yaml",
        &format!(
            "components:\n  - id: weak\n    kind: api_endpoint\n    target: {}\n    health: /health\n    endpoints:\n      - path: /search\n        query: {{q: \"{{input}}\"}}\n",
            weak.url()
        ),
    );
    let events = dir.path().join("events.jsonl");
    // xss fails on the weak API: score 0 → below the default threshold → exit 1.
    shakedown(dir.path())
        .args(["campaign", "-f"])
        .arg(&file)
        // An injection pattern in the test environment scores "pending manual": approve it.
        .args(["--approve", "--patterns", "xss_attack", "--events"])
        .arg(&events)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("→ xss_attack"));
    let lines: Vec<Value> = std::fs::read_to_string(&events)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let types: Vec<&str> = lines
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "chaos.campaign.started",
            "chaos.injection",
            "chaos.campaign.completed"
        ]
    );
    let injection = &lines[1]["data"];
    assert_eq!(injection["component_id"], "weak");
    assert_eq!(injection["stress_pattern"], "xss_attack");
    assert_eq!(injection["verdict"], "failed");
    assert_eq!(injection["success"], false);
    assert_eq!(injection["severity"], "high");
    assert!(injection["metrics"]["requests_sent"].as_u64().unwrap() > 0);
    // The same failure passes a threshold of 0.
    shakedown(dir.path())
        .args(["campaign", "-f"])
        .arg(&file)
        .args(["--approve", "--patterns", "xss_attack", "--threshold", "0"])
        .assert()
        .success();
    rt.block_on(weak.shutdown());
}

#[test]
fn sigint_halts_the_campaign_mid_attack_and_stores_it_as_halted() {
    let (rt, weak) = weak_practice_api();
    let dir = tempfile::tempdir().unwrap();
    // The weak API never drops slow connections: slowloris would run for 30 s + grace.
    let file = write(
        dir.path(),
        "slow.yaml",
        &format!(
            "components:\n  - id: weak\n    kind: api_endpoint\n    target: {}\n    health: /health\n    patterns: [slowloris, burst_traffic]\n",
            weak.url()
        ),
    );
    let bin = assert_cmd::cargo::cargo_bin("shakedown");
    let child = std::process::Command::new(bin)
        .env("SHAKEDOWN_DATA_DIR", dir.path())
        .args(["campaign", "--approve", "-f"])
        .arg(&file)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let child_pid = child.id();
    let status = std::process::Command::new("kill")
        .args(["-INT", &child_pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let signalled = std::time::Instant::now();
    let out = child.wait_with_output().unwrap();
    let stopped_in = signalled.elapsed();
    assert!(stopped_in.as_secs_f64() < 3.0, "halt took {stopped_in:?}");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("halt requested"), "{stderr}");
    assert!(stderr.contains("halted_by_guardian"), "{stderr}");

    let list = shakedown(dir.path())
        .args(["campaigns", "--json"])
        .assert()
        .success();
    let list: Value = serde_json::from_slice(&list.get_output().stdout).unwrap();
    assert_eq!(list[0]["status"], "halted_by_guardian");
    let id = list[0]["campaign_id"].as_str().unwrap().to_string();
    let show = shakedown(dir.path())
        .args(["campaign", "show", &id, "--report", "json"])
        .assert()
        .success();
    let record: Value = serde_json::from_slice(&show.get_output().stdout).unwrap();
    let results = record["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "burst_traffic never started");
    assert_eq!(results[0]["pattern"], "slowloris");
    assert_eq!(results[0]["verdict"], "inconclusive");
    // Nothing is ranked from a halted campaign.
    let ranks = shakedown(dir.path())
        .args(["resilience", "--json"])
        .assert()
        .success();
    let ranks: Value = serde_json::from_slice(&ranks.get_output().stdout).unwrap();
    assert!(ranks["rankings"].as_array().unwrap().is_empty());
    // The signed ledger records the halt, then the halted completion, and verifies.
    let ledger = shakedown(dir.path())
        .args(["ledger", "export"])
        .assert()
        .success();
    let entries: Vec<Value> = String::from_utf8_lossy(&ledger.get_output().stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .collect();
    let actions: Vec<&str> = entries
        .iter()
        .filter(|e| e["category"] == "campaign")
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions[actions.len() - 3..],
        ["attack", "halted", "completed"],
        "{actions:?}"
    );
    // The signal pulled the halt lever, like `shakedown halt`: the latch is set and the
    // ledger says by whom (the signal, naming the process).
    let lever = entries
        .iter()
        .find(|e| e["category"] == "control" && e["action"] == "halted")
        .expect("the halt lever is recorded");
    assert_eq!(lever["actor"], "signal");
    let reason = lever["data"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("SIGINT") && reason.contains(&format!("pid {}", child_pid)),
        "{reason}"
    );
    let latch: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("halted.json")).unwrap())
            .unwrap();
    assert_eq!(latch["by"], "signal");
    shakedown(dir.path())
        .args(["ledger", "verify"])
        .assert()
        .success();
    // Nothing new starts until `shakedown resume`.
    let quick = write(
        dir.path(),
        "quick.yaml",
        &format!(
            "components:\n  - id: weak\n    kind: api_endpoint\n    target: {}\n    health: /health\n    endpoints:\n      - path: /search\n        query: {{q: \"{{input}}\"}}\n",
            weak.url()
        ),
    );
    let quick_campaign = || {
        let mut c = shakedown(dir.path());
        c.args(["campaign", "--approve", "--patterns", "xss_attack", "-f"])
            .arg(&quick);
        c
    };
    quick_campaign()
        .assert()
        .code(2)
        .stderr(predicate::str::contains("shakedown resume"));
    shakedown(dir.path()).arg("resume").assert().success();
    // xss fails on the weak API: a verdict (exit 1), so it ran.
    quick_campaign().assert().code(1);
    rt.block_on(weak.shutdown());
}

#[test]
fn a_signal_to_one_campaign_halts_every_campaign_of_the_data_directory() {
    let (rt, weak) = weak_practice_api();
    let dir = tempfile::tempdir().unwrap();
    // Slowloris against the weak API runs for 30 s + grace unless halted.
    let file = write(
        dir.path(),
        "slow.yaml",
        &format!(
            "components:\n  - id: weak\n    kind: api_endpoint\n    target: {}\n    health: /health\n    patterns: [slowloris]\n",
            weak.url()
        ),
    );
    let bin = assert_cmd::cargo::cargo_bin("shakedown");
    let start = || {
        std::process::Command::new(&bin)
            .env("SHAKEDOWN_DATA_DIR", dir.path())
            .args(["campaign", "--approve", "-f"])
            .arg(&file)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let first = start();
    let second = start();
    // Both registered in the halt registry (bounded wait).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let n = std::fs::read_dir(dir.path().join("active"))
            .map(|d| d.count())
            .unwrap_or(0);
        if n == 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the campaigns did not register"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let status = std::process::Command::new("kill")
        .args(["-TERM", &first.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let signalled = std::time::Instant::now();
    let (first, second) = (
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    );
    // Both end long before slowloris would (30 s): the second was halted by the first's signal.
    let took = signalled.elapsed();
    assert!(took.as_secs_f64() < 10.0, "halt took {took:?}");
    assert_eq!(first.status.code(), Some(2));
    assert_eq!(second.status.code(), Some(2));
    let err = String::from_utf8_lossy(&first.stderr);
    assert!(err.contains("halt requested (SIGTERM)"), "{err}");
    assert!(
        err.contains("1 other campaign(s)/run(s) signalled"),
        "{err}"
    );
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("chaos is halted"), "{err}");
    let list = shakedown(dir.path())
        .args(["campaigns", "--json"])
        .assert()
        .success();
    let list: Value = serde_json::from_slice(&list.get_output().stdout).unwrap();
    let statuses: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["halted_by_guardian", "halted_by_guardian"]);
    // One lever pull, by the signal; the second process stopped without pulling it again.
    let ledger = shakedown(dir.path())
        .args(["ledger", "export"])
        .assert()
        .success();
    let halts: Vec<Value> = String::from_utf8_lossy(&ledger.get_output().stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["category"] == "control" && e["action"] == "halted")
        .collect();
    assert_eq!(halts.len(), 1, "{halts:?}");
    assert_eq!(halts[0]["actor"], "signal");
    assert_eq!(halts[0]["data"]["signalled"].as_array().unwrap().len(), 1);
    // Each campaign's own `halted` entry names who pulled the lever.
    let by: Vec<Value> = String::from_utf8_lossy(&ledger.get_output().stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["category"] == "campaign" && e["action"] == "halted")
        .map(|e| e["data"]["by"].clone())
        .collect();
    assert_eq!(by, ["signal", "signal"]);
    rt.block_on(weak.shutdown());
}
