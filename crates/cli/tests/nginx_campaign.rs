//! Campaigns against a real nginx: configured with the guardrails (limit_req, auth check on
//! Authorization, client_max_body_size, header/body timeouts) every applicable pattern passes;
//! the same nginx without them fails rate_limit_breach, auth_bypass and slowloris, with
//! evidence. Runs the real `shakedown` binary.

#[path = "support/nginx.rs"]
mod nginx;

use std::path::Path;

use assert_cmd::Command;
use nginx::Nginx;
use serde_json::Value;

const TOKEN: &str = "nginx-test-token";

/// Patterns nginx's own guardrails can be held to (nginx validates no JSON and runs no SQL, so
/// the data and injection patterns are not applicable to a bare nginx).
const PATTERNS: &str = "[auth_bypass, rate_limit_breach, payload_overflow, slowloris, connection_exhaustion, burst_traffic]";

fn system_file(url: &str) -> String {
    format!(
        r#"environment: test
components:
  - id: edge
    name: nginx edge
    kind: api_endpoint
    target: {url}
    health: /health
    endpoints:
      - method: GET
        path: /api/data
      - method: POST
        path: /api/items
        body: {{name: widget}}
    auth: {{token_env: NGINX_TOKEN}}
    guardrails:
      rate_limit: {{requests: 20, per: 1s}}
      auth_required: true
      max_payload: 1MB
      request_timeout: 2s
      circuit_breaker: {{concurrency: 1000}}
    patterns: {PATTERNS}
"#
    )
}

/// An upstream that answers every request: proxying to it makes nginx read (and so limit)
/// request bodies, as a real reverse proxy does.
fn upstream_block(port: u16) -> String {
    format!("server {{ listen 127.0.0.1:{port}; location / {{ return 200 '{{\"ok\":true}}'; }} }}")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn guarded_nginx() -> Nginx {
    let up = free_port();
    Nginx::start(
        &format!(
            "limit_req_zone $binary_remote_addr zone=api:1m rate=20r/s;\n    limit_req_status 429;\n    {}",
            upstream_block(up)
        ),
        &format!(
            r#"client_max_body_size 1m;
        client_header_timeout 2s;
        client_body_timeout 2s;
        keepalive_timeout 5s;
        location = /health {{ return 200 '{{"status":"ok"}}'; }}
        location / {{
            if ($http_authorization != "Bearer {TOKEN}") {{ return 401 '{{"error":"unauthorized"}}'; }}
            limit_req zone=api burst=19 nodelay;
            proxy_pass http://127.0.0.1:{up};
        }}"#
        ),
    )
}

fn unguarded_nginx() -> Nginx {
    let up = free_port();
    Nginx::start(
        &upstream_block(up),
        &format!(
            r#"location = /health {{ return 200 '{{"status":"ok"}}'; }}
        location / {{ proxy_pass http://127.0.0.1:{up}; }}"#
        ),
    )
}

/// Runs `shakedown campaign` and returns (exit code, JSON report).
fn campaign(nginx: &Nginx, dir: &Path) -> (i32, Value) {
    let file = dir.join("shakedown.yaml");
    std::fs::write(&file, system_file(&nginx.url())).unwrap();
    let out = dir.join("report.json");
    let assert = Command::cargo_bin("shakedown")
        .unwrap()
        .env("SHAKEDOWN_DATA_DIR", dir.join("data"))
        .env("NGINX_TOKEN", TOKEN)
        // Load patterns in the test environment score "pending manual": approve the plan.
        .args(["campaign", "--approve", "-f"])
        .arg(&file)
        .args(["--report", "json", "--out"])
        .arg(&out)
        .timeout(std::time::Duration::from_secs(300))
        .assert();
    let output = assert.get_output();
    let code = output.status.code().unwrap_or(-1);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap_or_else(|e| {
        panic!(
            "no report ({e}); exit {code}; stderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    }))
    .unwrap();
    (code, report)
}

fn result<'a>(report: &'a Value, pattern: &str) -> &'a Value {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["pattern"] == pattern)
        .unwrap_or_else(|| panic!("no result for {pattern}"))
}

fn verdicts(report: &Value) -> String {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{}={} ({})", r["pattern"], r["verdict"], r["summary"]))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn guarded_nginx_passes_every_applicable_pattern() {
    let nginx = guarded_nginx();
    let dir = tempfile::tempdir().unwrap();
    let (code, report) = campaign(&nginx, dir.path());
    assert_eq!(
        report["results"].as_array().unwrap().len(),
        6,
        "{}",
        verdicts(&report)
    );
    for r in report["results"].as_array().unwrap() {
        assert_eq!(r["verdict"], "passed", "{}", verdicts(&report));
        assert_eq!(r["component_id"], "edge");
        assert!(r["evidence"]["requests_sent"].as_u64().unwrap() > 0);
    }
    assert_eq!(code, 0, "{}", verdicts(&report));
    assert_eq!(report["score"], 1.0);
    let rate = result(&report, "rate_limit_breach");
    assert_eq!(rate["guardrail_triggered"], true);
    assert!(
        rate["evidence"]["status_histogram"]["429"]
            .as_u64()
            .unwrap()
            > 0
    );
    let payload = result(&report, "payload_overflow");
    assert!(
        payload["evidence"]["status_histogram"].get("413").is_some(),
        "{payload}"
    );
    // nginx really saw the attack traffic.
    assert!(nginx.access_log().len() > 100);
}

#[test]
fn unguarded_nginx_fails_rate_limit_auth_and_slowloris_with_evidence() {
    let nginx = unguarded_nginx();
    let dir = tempfile::tempdir().unwrap();
    let (code, report) = campaign(&nginx, dir.path());
    assert_eq!(code, 1, "below threshold: {}", verdicts(&report));
    for p in ["rate_limit_breach", "auth_bypass", "slowloris"] {
        let r = result(&report, p);
        assert_eq!(r["verdict"], "failed", "{p}: {}", verdicts(&report));
        assert!(
            !r["evidence"]["findings"].as_array().unwrap().is_empty(),
            "{p} has findings"
        );
        assert!(r["evidence"]["requests_sent"].as_u64().unwrap() > 0);
    }
    let rate = result(&report, "rate_limit_breach");
    assert!(rate["evidence"]["status_histogram"].get("429").is_none());
    assert_eq!(
        rate["evidence"]["status_histogram"]["200"].as_u64(),
        Some(30)
    );
    let auth = result(&report, "auth_bypass");
    let samples = auth["evidence"]["samples"].as_array().unwrap();
    assert!(
        samples.iter().any(|s| s["status"] == 200),
        "a bypass sample: {auth}"
    );
    let slow = result(&report, "slowloris");
    let text = slow["evidence"]["findings"].to_string();
    assert!(text.contains("still open"), "{text}");
}
