//! `shakedown serve` as a process: killed with SIGKILL mid-campaign it restarts with the
//! campaign marked `interrupted`, the ledger verifying and no attack traffic left; and
//! Shakedown's own campaign (`examples/self_campaign.yaml`) against it passes every pattern —
//! the API guards itself.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shakedown_control::auth::{TokenRequest, create_token};
use shakedown_core::campaign::CampaignStatus;
use shakedown_store::{SqliteStore, Store};

#[path = "support/http.rs"]
mod http;

fn token(data: &Path, account: &str, role: &str) -> String {
    let store = SqliteStore::open_dir(data).unwrap();
    create_token(
        &store,
        &TokenRequest {
            account: account.into(),
            kind: "person".into(),
            roles: vec![role.into()],
            label: "test".into(),
            expires_at: None,
        },
        time::OffsetDateTime::now_utc(),
    )
    .unwrap()
    .1
}

/// Starts `shakedown serve` and reads the bound address it prints.
fn serve(data: &Path, extra: &[&str]) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shakedown"))
        .args([
            "--data-dir",
            data.to_str().unwrap(),
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .parse()
        .unwrap();
    (child, addr)
}

/// One request through the shared test client; (status, body).
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> (u16, String) {
    let json = body.map(Value::to_string);
    let a = http::request(
        &addr.to_string(),
        method,
        path,
        Some(token),
        json.as_deref(),
    );
    (a.status, a.body)
}

fn verify_ledger(data: &Path) -> bool {
    shakedown_ledger::Ledger::open_in_data_dir(data)
        .unwrap()
        .verify()
        .unwrap()
        .is_ok()
}

#[test]
fn a_server_killed_mid_campaign_restarts_with_the_campaign_interrupted() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let target = rt
        .block_on(shakedown_practice::start(
            shakedown_practice::PracticeConfig::weak(),
            "127.0.0.1:0".parse().unwrap(),
        ))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let t = token(data, "olga", "operator");
    let (mut child, addr) = serve(data, &[]);
    let system = format!(
        "environment: test\nscope:\n  allow: [127.0.0.0/8]\ncomponents:\n  - id: svc\n    kind: api_endpoint\n    target: {}\n    health: /health\n    endpoints:\n      - method: GET\n        path: /search\n        query: {{q: \"{{input}}\"}}\n",
        target.url()
    );
    let body = json!({"system": system, "patterns": ["sql_injection", "xss_attack", "null_injection", "type_confusion", "burst_traffic", "slowloris", "connection_exhaustion"]});
    let (status, text) = http(addr, "POST", "/api/chaos/run", &t, Some(&body));
    assert_eq!(status, 202, "{text}");
    let id = serde_json::from_str::<Value>(&text).unwrap()["campaign_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Wait until attacks are under way: results stored, traffic at the target.
    let store = SqliteStore::open_dir(data).unwrap();
    let t0 = Instant::now();
    while store
        .campaign(&id)
        .unwrap()
        .is_none_or(|c| c.results.is_empty())
    {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the campaign never got going"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        store.campaign(&id).unwrap().unwrap().status,
        CampaignStatus::Running
    );

    child.kill().unwrap(); // SIGKILL: no chance to clean up.
    child.wait().unwrap();
    // The dead server's traffic stops with it: nothing reaches the target afterwards.
    std::thread::sleep(Duration::from_millis(300));
    let seen = target.requests_seen();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        target.requests_seen(),
        seen,
        "attack traffic after the kill"
    );

    let (mut child, addr) = serve(data, &[]);
    let (status, text) = http(addr, "GET", &format!("/api/chaos/campaigns/{id}"), &t, None);
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["status"],
        "interrupted"
    );
    let (status, text) = http(addr, "GET", "/api/ledger/verify", &t, None);
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["ok"],
        true,
        "{text}"
    );
    // The interruption is on record, by the server.
    let (_, text) = http(addr, "GET", "/api/ledger?limit=1000", &t, None);
    let entries = serde_json::from_str::<Value>(&text).unwrap()["entries"].clone();
    assert!(
        entries
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "interrupted"
                && e["resource"] == id.as_str()
                && e["actor"] == "shakedown"),
        "{entries}"
    );
    // Nothing left behind: no halt latch, no registered process, the target healthy.
    assert!(shakedown_control::halt_latch::halted(data).is_none());
    assert!(shakedown_control::halt_latch::active(data).is_empty());
    let health = reqwest_free_get(target.addr(), "/health");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(verify_ledger(data));
    rt.block_on(target.shutdown());
}

fn reqwest_free_get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn shakedowns_own_campaign_against_serve_passes_every_pattern() {
    let server_dir = tempfile::tempdir().unwrap();
    let campaign_dir = tempfile::tempdir().unwrap();
    let viewer = token(server_dir.path(), "self-check", "viewer");
    let (mut child, addr) = serve(
        server_dir.path(),
        &[
            "--rate-limit",
            "100",
            "--rate-window",
            "2s",
            "--header-timeout",
            "2s",
            "--max-in-flight",
            "256",
            "--max-connections",
            "512",
        ],
    );
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/self_campaign.yaml"
    ))
    .unwrap();
    let system = example.replace("http://127.0.0.1:8080", &format!("http://{addr}"));
    let file = campaign_dir.path().join("self_campaign.yaml");
    std::fs::write(&file, system).unwrap();
    let report = campaign_dir.path().join("report.json");
    let out = Command::new(env!("CARGO_BIN_EXE_shakedown"))
        .args([
            "--data-dir",
            campaign_dir.path().to_str().unwrap(),
            "campaign",
            "-f",
        ])
        .arg(&file)
        .args(["--report", "json", "--out"])
        .arg(&report)
        .env("SHAKEDOWN_API_TOKEN", &viewer)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap_or_default())
        .unwrap_or_else(|e| panic!("no report ({e}); stderr:\n{stderr}"));
    let results = report["results"]
        .as_array()
        .unwrap_or_else(|| panic!("{report}"));
    let patterns: Vec<&str> = results
        .iter()
        .map(|r| r["pattern"].as_str().unwrap())
        .collect();
    for r in results {
        assert_eq!(
            r["verdict"], "passed",
            "{} did not pass: {}\n{stderr}",
            r["pattern"], r["summary"]
        );
    }
    for p in [
        "sql_injection",
        "xss_attack",
        "auth_bypass",
        "rate_limit_breach",
        "payload_overflow",
        "burst_traffic",
        "slowloris",
        "connection_exhaustion",
        "malformed_data",
        "null_injection",
        "type_confusion",
    ] {
        assert!(patterns.contains(&p), "{p} did not run: {patterns:?}");
    }
    assert!(out.status.success(), "{stderr}");
    // The viewer token could change nothing on the server.
    let server_store = SqliteStore::open_dir(server_dir.path()).unwrap();
    assert!(server_store.campaigns(10).unwrap().is_empty());
    assert!(shakedown_control::halt_latch::halted(server_dir.path()).is_none());
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(verify_ledger(server_dir.path()));
}

#[test]
fn serve_refuses_a_non_loopback_address_without_allow_remote() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_shakedown"))
        .args([
            "--data-dir",
            dir.path().to_str().unwrap(),
            "serve",
            "--listen",
            "0.0.0.0:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not a loopback address") && stderr.contains("--allow-remote"),
        "{stderr}"
    );
    // Nothing was opened or written.
    assert!(!dir.path().join("ledger").exists());
}

#[test]
fn serve_refuses_a_bad_schedule_file_with_located_errors() {
    let dir = tempfile::tempdir().unwrap();
    let schedule = dir.path().join("schedules.yaml");
    std::fs::write(
        &schedule,
        "schedules:\n  - name: tuesday\n    system_file: nowhere.yaml\n    at: \"14:60\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_shakedown"))
        .args([
            "--data-dir",
            dir.path().to_str().unwrap(),
            "serve",
            "--listen",
        ])
        .arg("127.0.0.1:0")
        .arg("--schedule")
        .arg(&schedule)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("schedules.yaml:3:"), "{stderr}");
    assert!(stderr.contains("nowhere.yaml does not exist"), "{stderr}");
    assert!(stderr.contains("`at: 14:60`"), "{stderr}");
    assert!(stderr.contains("the server was not started"), "{stderr}");
}
