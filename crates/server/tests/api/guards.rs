//! The server's own guardrails: per-token rate limit, load shedding, connection cap, request
//! and head timeouts, the error-budget gate, security headers.

use std::time::{Duration, Instant};

use serde_json::json;
use shakedown_core::system::{Environment, ErrorBudgetSettings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{Api, practice, run_body, system};

#[tokio::test]
async fn the_rate_limit_is_per_token_and_says_when_to_retry() {
    let api = Api::start_with(|c| {
        c.rate_limit = 5;
        c.rate_window = Duration::from_secs(30);
    })
    .await;
    let a = api.token("a", "viewer");
    let b = api.token("b", "viewer");
    // Unauthenticated requests never count against anyone.
    for _ in 0..10 {
        assert_eq!(api.get("/api/budgets", None).await.status, 401);
    }
    for i in 0..5 {
        let r = api.get("/api/budgets", Some(&a)).await;
        assert_eq!(r.status, 200, "request {i}: {}", r.text);
        assert_eq!(
            r.header("x-ratelimit-remaining"),
            Some((4 - i).to_string().as_str())
        );
    }
    let r = api.get("/api/budgets", Some(&a)).await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert_eq!(r.code(), "rate_limited");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    // Another token has its own budget; health is never limited.
    assert_eq!(api.get("/api/budgets", Some(&b)).await.status, 200);
    assert_eq!(api.get("/api/health", None).await.status, 200);
}

/// Opens a request whose declared body never fully arrives: the handler waits for it.
async fn stalled(api: &Api, token: &str) -> TcpStream {
    let mut s = TcpStream::connect(api.addr).await.unwrap();
    let head = format!(
        "POST /api/chaos/halt HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"re"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s
}

async fn read_all(mut s: TcpStream, limit: Duration) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(limit, s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn overload_is_shed_with_503_and_retry_after() {
    let api = Api::start_with(|c| {
        c.max_in_flight = 2;
        c.header_timeout = Duration::from_secs(3);
    })
    .await;
    let t = api.token("op", "operator");
    let s1 = stalled(&api, &t).await;
    let s2 = stalled(&api, &t).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = api.get("/api/chaos/status", Some(&t)).await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.code(), "overloaded");
    assert_eq!(r.header("retry-after"), Some("1"));
    // The stalled bodies are cut off (408), which frees the slots; nothing was halted.
    assert!(read_all(s1, Duration::from_secs(6)).await.contains("408"));
    drop(s2);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(api.get("/api/chaos/status", Some(&t)).await.status, 200);
    assert!(shakedown_control::halt_latch::halted(api.data()).is_none());
}

#[tokio::test]
async fn a_request_that_takes_too_long_gets_408() {
    let api = Api::start_with(|c| {
        c.request_timeout = Duration::from_millis(300);
        c.header_timeout = Duration::from_secs(5);
    })
    .await;
    let t = api.token("op", "operator");
    let t0 = Instant::now();
    let s = stalled(&api, &t).await;
    let answer = read_all(s, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    assert!(shakedown_control::halt_latch::halted(api.data()).is_none());
}

#[tokio::test]
async fn slow_heads_and_too_many_connections_are_cut_off() {
    let api = Api::start_with(|c| {
        c.max_connections = 2;
        c.header_timeout = Duration::from_millis(500);
    })
    .await;
    // A head that trickles in is cut off at the deadline.
    let t0 = Instant::now();
    let mut slow = TcpStream::connect(api.addr).await.unwrap();
    slow.write_all(b"GET /api/health HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let mut other = TcpStream::connect(api.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The third connection is over the cap: 503, closed.
    let mut third = TcpStream::connect(api.addr).await.unwrap();
    third
        .write_all(b"GET /api/health HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_all(third, Duration::from_secs(3)).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("retry-after: 1"), "{answer}");
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(3), slow.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    let _ = n;
    assert!(t0.elapsed() < Duration::from_secs(3));
    let _ = other.write_all(b"").await;
    drop(other);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(api.get("/api/health", None).await.status, 200);
}

#[tokio::test]
async fn an_exhausted_error_budget_is_429_with_the_gate_header() {
    let target = practice().await;
    let api = Api::start().await;
    let t = api.token("op", "operator");
    let settings = ErrorBudgetSettings::default();
    shakedown_control::budget_gate::burn(
        api.data(),
        Environment::Staging,
        &settings,
        time::OffsetDateTime::now_utc(),
        1000,
    )
    .unwrap();
    let before = api.ledger_len();
    let r = api
        .post_json(
            "/api/chaos/run",
            Some(&t),
            &run_body(&system("staging", &target.url(), "svc")),
        )
        .await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert_eq!(r.code(), "budget_exhausted");
    assert_eq!(r.header("x-gate-enforced"), Some("BudgetExhausted"));
    assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
    // The refusal is recorded, as the caller; no request was filed.
    assert_eq!(api.ledger_len(), before + 1);
    let gate = api.ledger().pop().unwrap();
    assert_eq!(
        (gate["actor"].as_str(), gate["action"].as_str()),
        (Some("op"), Some("budget_gate"))
    );
    assert!(api.store.approval_requests(None, 10).unwrap().is_empty());
    let budgets = api.get("/api/budgets", Some(&t)).await.json();
    assert_eq!(budgets[0]["environment"], "staging");
    assert_eq!(budgets[0]["exhausted"], true);
    // And an ok request carries the security headers.
    let r = api.get("/api/budgets", Some(&t)).await;
    for (h, v) in [
        ("x-content-type-options", "nosniff"),
        ("cache-control", "no-store"),
        ("x-frame-options", "DENY"),
    ] {
        assert_eq!(r.header(h), Some(v), "{h}");
    }
    let _ = json!({});
}
