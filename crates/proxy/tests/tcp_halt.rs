//! The guardian's halt of the TCP fault proxy: every toxic of every proxy is removed live (a
//! chunk a latency toxic is holding goes through at once), disabled proxies come back, no
//! fault can be added while halted — toxiproxy-python gets an exception naming the halt — and
//! after `resume` toxics can be added again (none come back by themselves).

#[path = "tcp_support/support.rs"]
mod tcp_support;

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{Value, json};
use tcp_support::{Api, echo_server, round_trip};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const REASON: &str = "by ops at 2026-11-22T06:00:00Z: drill";

/// Runs the toxiproxy-python client script; returns its JSON line.
async fn python_add(api: &Api, proxy: &str, toxic: &str) -> Result<Value> {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/toxiproxy_halted.py"
    );
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::process::Command::new("python3")
            .arg(script)
            .arg(api.addr.port().to_string())
            .args([proxy, toxic])
            .kill_on_drop(true)
            .output(),
    )
    .await?
    .context("python3 (scripts/test installs toxiproxy-python)")?;
    anyhow::ensure!(
        out.status.success(),
        "client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn halt_removes_every_toxic_live_and_refuses_new_faults_until_resume() -> Result<()> {
    let api = Api::start().await?;
    let echo = echo_server(api.stop.clone()).await?;
    let a = api.proxy("a", echo).await?;
    api.proxy("b", echo).await?;
    api.toxic(
        "a",
        json!({"name": "slow", "type": "latency", "attributes": {"latency": 5000}}),
    )
    .await?;
    api.toxic(
        "b",
        json!({"name": "cut", "type": "bandwidth", "stream": "upstream", "attributes": {"rate": 1}}),
    )
    .await?;
    let (status, _) = api
        .call("POST", "/proxies/b", Some(r#"{"enabled": false}"#))
        .await?;
    assert_eq!(status, 200);

    // A chunk held by the 5 s latency toxic when the halt lands.
    let mut conn = TcpStream::connect(a).await?;
    conn.write_all(b"ping").await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t0 = Instant::now();
    let out = api.server.halt(REASON);
    let mut back = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(2), conn.read_exact(&mut back)).await??;
    assert_eq!(&back, b"ping");
    assert!(
        t0.elapsed() < Duration::from_millis(500),
        "released {:?} after the halt",
        t0.elapsed()
    );
    let mut removed: Vec<(String, String)> = out
        .toxics
        .iter()
        .map(|(p, t)| (p.clone(), t.name.clone()))
        .collect();
    removed.sort();
    assert_eq!(
        removed,
        [("a".into(), "slow".into()), ("b".into(), "cut".into())]
    );
    assert_eq!(out.enabled, ["b"]);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    let (_, proxies) = api.call("GET", "/proxies", None).await?;
    for name in ["a", "b"] {
        assert_eq!(proxies[name]["toxics"], json!([]), "{proxies}");
        assert_eq!(proxies[name]["enabled"], true, "{proxies}");
    }
    // The connection now runs without delay.
    assert!(round_trip(&mut conn, b"pong").await? < Duration::from_millis(500));

    // No fault while halted: not a toxic, not a change, not an outage; each a 409 naming it.
    let refusals = [
        (
            "POST",
            "/proxies/a/toxics",
            r#"{"type": "latency", "attributes": {"latency": 10}}"#,
        ),
        ("POST", "/proxies/a", r#"{"enabled": false}"#),
        (
            "POST",
            "/proxies",
            r#"{"name": "c", "upstream": "127.0.0.1:9", "enabled": false}"#,
        ),
    ];
    for (method, path, body) in refusals {
        let (status, v) = api.call(method, path, Some(body)).await?;
        assert_eq!(status, 409, "{method} {path}: {v}");
        let msg = v["error"].as_str().unwrap_or_default();
        assert!(
            msg.contains("chaos is halted")
                && msg.contains(REASON)
                && msg.contains("shakedown resume"),
            "{msg}"
        );
    }
    let (_, proxies) = api.call("GET", "/proxies", None).await?;
    assert_eq!(proxies["a"]["enabled"], true);
    assert!(
        proxies.get("c").is_none(),
        "a refused request changes nothing"
    );
    // A real Toxiproxy client sees an exception carrying the reason.
    let v = python_add(&api, "a", "py_slow").await?;
    assert!(v["error"].is_string(), "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("chaos is halted"),
        "{v}"
    );
    // Halting twice is harmless; a proxy may still be created (without faults).
    assert!(api.server.halt(REASON).toxics.is_empty());
    let (status, _) = api
        .call(
            "POST",
            "/proxies",
            Some(
                &json!({"name": "d", "listen": "127.0.0.1:0", "upstream": echo.to_string()})
                    .to_string(),
            ),
        )
        .await?;
    assert_eq!(status, 201);

    assert!(api.server.resume());
    assert!(!api.server.resume());
    assert!(api.server.halted().is_none());
    let (_, toxics) = api.call("GET", "/proxies/a/toxics", None).await?;
    assert_eq!(toxics, json!([]), "toxics do not come back by themselves");
    let v = python_add(&api, "a", "py_slow").await?;
    assert_eq!(v, json!({"added": true, "toxics": ["py_slow"]}));
    Ok(())
}
