//! `shakedown pg-proxy` and `shakedown validate --policy/--chaos` as a user runs them: the real
//! binary in front of a real PostgreSQL, driven by psql.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;
use predicates::prelude::*;
use serde_json::Value;
use shakedown_pgtest::PgCluster;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn pg_proxy_blocks_with_the_strict_policy_and_writes_events() {
    let cluster = PgCluster::start().expect("cluster");
    cluster
        .admin_sql(
            cluster.database(),
            &format!(
                "CREATE TABLE customers (id int, name text); INSERT INTO customers SELECT g, 'c' FROM generate_series(1, 30) g; GRANT ALL ON customers TO {};",
                cluster.user().name
            ),
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let chaos = dir.path().join("chaos.yaml");
    std::fs::write(
        &chaos,
        "name: cli-chaos\ntriggers:\n  - name: timeout_updates\n    trigger_type: event\n    event_condition: {event_type: SQL_RECEIVED, parsed_type: UPDATE}\n    action: {type: simulate_timeout}\n    max_triggers: 1\n",
    )
    .unwrap();
    let port = free_port();
    let mut proxy = Command::new(cargo_bin("shakedown"))
        .env("SHAKEDOWN_DATA_DIR", dir.path().join("data"))
        .args(["pg-proxy", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--upstream", &format!("127.0.0.1:{}", cluster.port())])
        .args(["--policy", "strict", "--events"])
        .arg(&events)
        .arg("--chaos")
        .arg(&chaos)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the "listening" line.
    let mut stderr = BufReader::new(proxy.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(line.contains("pg-proxy listening"), "{line}");
    assert!(line.contains("policy: strict"), "{line}");
    assert!(line.contains("chaos: "), "{line}");

    let psql = |sql: &str| {
        cluster
            .psql_via(port, cluster.user())
            .args(["-A", "-t", "-c", sql])
            .output()
            .unwrap()
    };
    let ok = psql("SELECT count(*) FROM customers");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "30");
    let blocked = psql("DELETE FROM customers");
    assert!(!blocked.status.success());
    let err = String::from_utf8_lossy(&blocked.stderr);
    assert!(err.contains("blocked by policy"), "{err}");
    let ok = psql("SELECT count(*) FROM customers");
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout).trim(),
        "30",
        "nothing deleted"
    );
    // The chaos script times out the first UPDATE (57014), then lets the next one through.
    let timed_out = psql("UPDATE customers SET name = 'x' WHERE id = 1");
    assert!(!timed_out.status.success());
    let err = String::from_utf8_lossy(&timed_out.stderr).to_lowercase();
    assert!(err.contains("timeout") || err.contains("cancel"), "{err}");
    let ok = psql("UPDATE customers SET name = 'x' WHERE id = 1");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    // Stop with SIGINT: the event file is complete afterwards.
    Command::new("kill")
        .args(["-INT", &proxy.id().to_string()])
        .status()
        .unwrap();
    let start = Instant::now();
    let status = proxy.wait().unwrap();
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(status.success());
    let lines: Vec<Value> = std::fs::read_to_string(&events)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let blocked: Vec<&Value> = lines
        .iter()
        .filter(|e| e["event_type"] == "sql_blocked")
        .collect();
    assert_eq!(blocked.len(), 1, "{lines:#?}");
    assert_eq!(blocked[0]["data"]["statement_type"], "DELETE");
    assert!(
        lines
            .iter()
            .any(|e| e["event_type"] == "sql_result" && e["data"]["rows"] == 1)
    );
    assert!(
        lines
            .iter()
            .filter(|e| e["event_type"] == "sql_received")
            .count()
            >= 3
    );
    let triggered: Vec<&Value> = lines
        .iter()
        .filter(|e| e["event_type"] == "chaos_triggered")
        .collect();
    assert_eq!(triggered.len(), 1);
    assert_eq!(triggered[0]["data"]["trigger"], "timeout_updates");
    assert!(lines.iter().any(|e| e["event_type"] == "chaos_completed"));
}

#[test]
fn validate_checks_policies_and_chaos_scripts_with_located_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bin = || {
        let mut c = assert_cmd::Command::cargo_bin("shakedown").unwrap();
        c.env("SHAKEDOWN_DATA_DIR", dir.path());
        c
    };
    bin()
        .args(["validate", "--policy", "strict", "--chaos", "db_lock_v1"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("strict (built in): ok")
                .and(predicate::str::contains("db_lock_v1 (built in): ok")),
        );
    let bad_policy = dir.path().join("bad_policy.yaml");
    std::fs::write(&bad_policy, "name: x\nhoneypot:\n  tables: [secrets]\n").unwrap();
    bin()
        .args(["validate", "--policy"])
        .arg(&bad_policy)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("bad_policy.yaml:2:1: error")
                .and(predicate::str::contains("honeypot")),
        );
    let bad_chaos = dir.path().join("bad_chaos.yaml");
    std::fs::write(
        &bad_chaos,
        "name: x\ntriggers:\n  - name: t\n    trigger_type: event\n    event_condition: {event_type: SQL_RECEIVED}\n    action: {type: melt_server}\n",
    )
    .unwrap();
    bin()
        .args(["validate", "--chaos"])
        .arg(&bad_chaos)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("bad_chaos.yaml:6:")
                .and(predicate::str::contains("melt_server")),
        );
    bin()
        .args(["validate", "--policy", "no_such_policy"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "built-ins: strict, permissive, read_only",
        ));
}
