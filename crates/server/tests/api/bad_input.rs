//! Bad input on every route: the clear error in the one error shape, and nothing
//! half-written (no approval request, no campaign, no ledger entry).

use serde_json::json;
use shakedown_server::routes::catalog;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{Api, call, practice, system};

fn concrete(path: &str) -> String {
    path.replace("{id}", "nope")
}

#[tokio::test]
async fn bad_input_on_every_route_is_a_clear_error_and_writes_nothing() {
    let target = practice().await;
    let api = Api::start().await;
    let admin = api.token("root", "admin");
    let t = Some(admin.as_str());
    let ledger_before = api.ledger_len();
    // Every route: the campaign API's and the run API's.
    let routes = catalog();
    assert!(
        routes
            .iter()
            .any(|r| r.path == "/api/runs" && r.method == "POST")
    );
    assert!(routes.iter().any(|r| r.path == "/api/reports/{id}/ci"));

    // Unknown route, and a wrong method on every route.
    let r = api.get("/api/nope", t).await;
    assert_eq!((r.status, r.code().as_str()), (404, "not_found"));
    for route in &routes {
        let r = call(api.addr, "DELETE", &concrete(route.path), t, None).await;
        assert_eq!(r.status, 405, "DELETE {}: {}", route.path, r.text);
        assert_eq!(r.code(), "method_not_allowed");
    }

    // Over 1 MB: refused by its declared length on every route, before any handler.
    let big = vec![b' '; 1024 * 1024 + 1];
    for route in &routes {
        let r = call(
            api.addr,
            route.method,
            &concrete(route.path),
            t,
            Some(("application/json", big.clone())),
        )
        .await;
        assert_eq!(r.status, 413, "{} {}: {}", route.method, route.path, r.text);
        assert_eq!(r.code(), "payload_too_large");
    }
    // And when the length is not declared (chunked), by counting.
    let r = chunked_post(&api, "/api/chaos/run", &admin, 1024 * 1024 + 10).await;
    assert!(r.starts_with("HTTP/1.1 413"), "{r}");
    assert!(r.contains("payload_too_large"), "{r}");

    // Malformed JSON on every route that takes a body (the catalog says which).
    let posts: Vec<String> = routes
        .iter()
        .filter(|r| r.request.is_some())
        .map(|r| {
            assert_eq!(r.method, "POST", "{}", r.path);
            concrete(r.path)
        })
        .collect();
    for must in ["/api/chaos/run", "/api/chaos/halt", "/api/runs"] {
        assert!(posts.iter().any(|p| p == must), "{must} takes a body");
    }
    for path in &posts {
        let path = path.as_str();
        let r = call(
            api.addr,
            "POST",
            path,
            t,
            Some(("application/json", b"{not json".to_vec())),
        )
        .await;
        assert_eq!(r.status, 400, "{path}: {}", r.text);
        assert_eq!(r.code(), "malformed_json");
        let r = call(
            api.addr,
            "POST",
            path,
            t,
            Some(("text/plain", b"{}".to_vec())),
        )
        .await;
        assert_eq!(r.status, 415, "{path}: {}", r.text);
    }
    // Schema violations: unknown field, wrong type, missing source, both sources.
    for (path, body) in [
        ("/api/chaos/halt", json!({"reason": "x", "force": true})),
        ("/api/chaos/halt", json!({"reason": 5})),
        ("/api/approvals/nope/approve", json!({"because": "x"})),
        ("/api/approvals/nope/deny", json!({"reason": ["x"]})),
        ("/api/chaos/run", json!({"system": "x", "target": ["a"]})),
        ("/api/chaos/run", json!({"system": 1})),
        (
            "/api/chaos/run",
            json!({"threshold": "high", "system": "x"}),
        ),
        ("/api/chaos/run", json!({})),
        (
            "/api/chaos/run",
            json!({"system": "x", "system_file": "/etc/hostname"}),
        ),
        ("/api/chaos/run", json!([1, 2])),
        ("/api/runs", json!({"scenario": "data_cleanup", "bogus": 1})),
        ("/api/runs", json!({"scenario": 7})),
        ("/api/runs", json!({"agent_url": "http://127.0.0.1:9/"})),
        ("/api/runs", json!({"scenario": "x", "repeat": "many"})),
    ] {
        let r = api.post_json(path, t, &body).await;
        assert_eq!(r.status, 422, "{path} {body}: {}", r.text);
        assert_eq!(r.code(), "invalid_request");
    }
    // Meaningful values checked: the system file (every problem located), threshold,
    // patterns, targets, the file on the server.
    let good = system("test", &target.url(), "svc");
    for (body, says) in [
        (
            json!({"system": "environment: test\ncomponents: [\n"}),
            "error(s)",
        ),
        (
            json!({"system": good.replace("kind: api_endpoint", "kind: teapot")}),
            "<request body>:7:11",
        ),
        (json!({"system": good, "threshold": 2.0}), "threshold"),
        (
            json!({"system": good, "patterns": ["nope"]}),
            "unknown pattern",
        ),
        (json!({"system": good, "patterns": []}), "patterns"),
        (
            json!({"system": good, "targets": ["ghost"]}),
            "unknown component `ghost`",
        ),
    ] {
        let r = api.post_json("/api/chaos/run", t, &body).await;
        assert_eq!(r.status, 422, "{body}: {}", r.text);
        assert!(r.text.contains(says), "{body}: {}", r.text);
    }
    // The run API's meaningful values: refused before any process starts.
    for (body, status, says) in [
        (json!({"scenario": "data_cleanup"}), 422, "exactly one of"),
        (
            json!({"scenario": "data_cleanup", "agent": "true", "agent_url": "http://127.0.0.1:9/"}),
            422,
            "exactly one of",
        ),
        (
            json!({"scenario": "data_cleanup", "agent": "true"}),
            403,
            "--allow-agent-commands",
        ),
        (
            json!({"scenario": "data_cleanup", "agent_url": "http://127.0.0.1:9/", "repeat": 0}),
            422,
            "repeat",
        ),
        (
            json!({"scenario": "data_cleanup", "agent_url": "http://127.0.0.1:9/", "pg_url": "postgres://u:p@10.0.0.5/db"}),
            422,
            "loopback",
        ),
        (
            json!({"scenario": "data_cleanup", "agent_url": "http://127.0.0.1:9/", "no_fs_sandbox": true}),
            403,
            "no_fs_sandbox",
        ),
    ] {
        let r = api.post_json("/api/runs", t, &body).await;
        assert_eq!(r.status, status, "{body}: {}", r.text);
        assert!(r.text.contains(says), "{body}: {}", r.text);
    }
    // Query strings.
    for path in [
        "/api/chaos/campaigns?limit=abc",
        "/api/chaos/campaigns?limit=0",
        "/api/chaos/campaigns?bogus=1",
        "/api/approvals?status=maybe",
        "/api/ledger?after=-1",
        "/api/runs?limit=0",
        "/api/runs?bogus=1",
        "/api/reports/nope?format=pdf",
        "/api/reports/nope?bogus=1",
    ] {
        let r = api.get(path, t).await;
        assert_eq!(r.status, 422, "{path}: {}", r.text);
        assert_eq!(r.code(), "invalid_request");
    }
    // Unknown and hostile ids.
    for path in [
        "/api/chaos/campaigns/nope",
        "/api/chaos/campaigns/%27%20OR%201%3D1--",
        "/api/chaos/campaigns/..%2F..%2Fetc%2Fpasswd",
        "/api/runs/nope",
        "/api/runs/%27%20OR%201%3D1--",
        "/api/reports/nope",
        "/api/reports/..%2F..%2Fetc%2Fpasswd/score",
        "/api/reports/nope/ci",
    ] {
        let r = api.get(path, t).await;
        assert_eq!((r.status, r.code().as_str()), (404, "not_found"), "{path}");
    }
    for path in [
        "/api/approvals/nope/approve",
        "/api/approvals/%27%3B--/deny",
        "/api/runs/nope/terminate",
    ] {
        let r = api.post_json(path, t, &json!({})).await;
        assert_eq!((r.status, r.code().as_str()), (404, "not_found"), "{path}");
    }

    // Nothing half-written.
    assert_eq!(api.ledger_len(), ledger_before, "{:?}", api.ledger());
    assert!(api.store.approval_requests(None, 10).unwrap().is_empty());
    assert!(api.store.campaigns(10).unwrap().is_empty());
    assert!(api.store.runs(10).unwrap().is_empty());
    let runs_dir = api.data().join("runs");
    assert!(
        std::fs::read_dir(&runs_dir).map_or(true, |mut d| d.next().is_none()),
        "no run process was started"
    );
    assert!(api.ledger_verifies());
}

/// A POST with a chunked body of `n` bytes, raw, so no length is declared.
async fn chunked_post(api: &Api, path: &str, token: &str, n: usize) -> String {
    let mut s = tokio::net::TcpStream::connect(api.addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b' '; 64 * 1024];
    let mut sent = 0;
    while sent < n {
        let len = chunk.len().min(n - sent);
        let frame = format!("{len:x}\r\n");
        if s.write_all(frame.as_bytes()).await.is_err()
            || s.write_all(&chunk[..len]).await.is_err()
            || s.write_all(b"\r\n").await.is_err()
        {
            break;
        }
        sent += len;
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn system_files_are_read_only_inside_the_files_root() {
    let target = practice().await;
    let files = tempfile::tempdir().unwrap();
    let root = files.path().join("systems");
    std::fs::create_dir_all(root.join("looks-like.yaml")).unwrap();
    std::fs::write(root.join("good.yaml"), system("test", &target.url(), "svc")).unwrap();
    std::fs::write(files.path().join("outside.yaml"), "environment: test\n").unwrap();

    // Without --files-root no request names a file.
    let closed = Api::start().await;
    let t = closed.token("op", "operator");
    let r = closed
        .post_json(
            "/api/chaos/run",
            Some(&t),
            &json!({"system_file": root.join("good.yaml")}),
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "files_not_served"),
        "{}",
        r.text
    );

    let api = Api::start_with(|c| c.files_root = Some(root.clone())).await;
    let t = api.token("op", "operator");
    let before = api.ledger_len();
    for (file, status, says) in [
        ("missing.yaml", 422, "cannot read system_file"),
        ("/etc/passwd", 422, "not a .yaml or .yml file"),
        ("looks-like.yaml", 422, "not a regular file"),
        ("../outside.yaml", 403, "outside the server's --files-root"),
        ("/etc/nonexistent.yaml", 422, "cannot read system_file"),
    ] {
        let r = api
            .post_json("/api/chaos/run", Some(&t), &json!({"system_file": file}))
            .await;
        assert_eq!(r.status, status, "{file}: {}", r.text);
        assert!(r.text.contains(says), "{file}: {}", r.text);
    }
    assert_eq!(
        api.ledger_len(),
        before,
        "nothing recorded for a refused file"
    );
    let r = api
        .post_json(
            "/api/chaos/run",
            Some(&t),
            &json!({"system_file": "good.yaml", "patterns": ["sql_injection"]}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    api.wait_campaign(r.json()["campaign_id"].as_str().unwrap(), &t)
        .await;
}
