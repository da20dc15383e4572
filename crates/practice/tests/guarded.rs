//! The guarded practice API keeps every guardrail it claims, checked with real requests
//! against a real server on 127.0.0.1:0.

#[path = "support/client.rs"]
mod client;

use std::time::Duration;

use bytes::Bytes;
use client::{enc, get, get_auth, post, raw, raw_get, send, trickle, wait_closed};
use shakedown_practice::{PracticeConfig, PracticeServer, start};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "practice-token-123";
const JSON: Option<&str> = Some("application/json");

/// A guarded server with the rate limiter out of the way (tests that need it set it).
async fn server(tweak: impl FnOnce(&mut PracticeConfig)) -> PracticeServer {
    let mut config = PracticeConfig::guarded(TOKEN);
    config.rate_limit = 10_000;
    tweak(&mut config);
    start(config, "127.0.0.1:0".parse().unwrap()).await.unwrap()
}

#[tokio::test]
async fn every_route_but_health_needs_the_exact_token() -> anyhow::Result<()> {
    let s = server(|_| {}).await;
    let addr = s.addr();
    let health = get(addr, "/health").await?;
    assert_eq!(
        (health.status, health.json()),
        (200, serde_json::json!({"status": "ok"}))
    );

    let alg_none_jwt =
        "Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhZG1pbiIsInJvbGUiOiJhZG1pbiJ9.";
    let wrong = [
        vec![],
        vec![("authorization", "Bearer wrong")],
        vec![("authorization", "bearer practice-token-123")],
        vec![("authorization", "Bearer practice-token-1234")],
        vec![("authorization", "Bearer practice-token-12")],
        vec![("authorization", "Basic YWRtaW46YWRtaW4=")],
        vec![("authorization", alg_none_jwt)],
        vec![("x-forwarded-for", "127.0.0.1")],
        vec![("x-original-url", "/health")],
        vec![("x-rewrite-url", "/health"), ("x-real-ip", "127.0.0.1")],
    ];
    for path in ["/users", "/users/1", "/search?q=a", "/admin/stats", "/nope"] {
        for headers in &wrong {
            let r = send(addr, "GET", path, headers, Bytes::new()).await?;
            assert_eq!(r.status, 401, "{path} {headers:?}: {}", r.body);
            assert_eq!(
                r.header("www-authenticate"),
                Some("Bearer realm=\"practice\"")
            );
            assert!(!r.body.contains("alice"), "{path} leaked data: {}", r.body);
        }
        let ok = get_auth(addr, path, TOKEN).await?;
        let expected = if path == "/nope" { 404 } else { 200 };
        assert_eq!(ok.status, expected, "{path} with the token: {}", ok.body);
    }
    let stats = get_auth(addr, "/admin/stats", TOKEN).await?.json();
    assert_eq!(stats["flavor"], "guarded");
    assert!(stats["unauthorized"].as_u64().unwrap() >= 50, "{stats}");
    s.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn path_tricks_never_expose_the_stats() -> anyhow::Result<()> {
    let s = server(|_| {}).await;
    let addr = s.addr();
    let tricks = [
        "//admin/stats",
        "/admin//stats",
        "/admin/./stats",
        "/admin/../admin/stats",
        "/ADMIN/stats",
        "/Admin/Stats",
        "/admin/stats/",
        "/admin/stats/.",
        "/admin/%2e/stats",
        "/%61dmin/stats",
        "/admin%2fstats",
        "/health/../admin/stats",
        "/health/..%2fadmin/stats",
        "/health;/../admin/stats",
        "/admin/stats;.css",
        "/admin/stats%00",
        "http://127.0.0.1/admin/stats",
    ];
    for trick in tricks {
        let anon = raw_get(addr, trick, "").await?;
        assert_eq!(anon.status, 401, "{trick}: {}", anon.body);
        assert!(
            !anon.body.contains("rate_limited"),
            "{trick} exposed stats: {}",
            anon.body
        );
        // Tricks pointing at health must not make a protected route public either.
        let spoofed = raw_get(
            addr,
            trick,
            "X-Original-URL: /health\r\nX-Forwarded-For: 127.0.0.1\r\n",
        )
        .await?;
        assert!(
            !spoofed.body.contains("rate_limited"),
            "{trick} exposed stats: {}",
            spoofed.body
        );
    }
    // With the token the tricks are simply unknown paths; the absolute form is the real one.
    let auth = format!("Authorization: Bearer {TOKEN}\r\n");
    for trick in [
        "//admin/stats",
        "/admin/./stats",
        "/ADMIN/stats",
        "/admin/stats/",
        "/admin/%2e/stats",
    ] {
        let r = raw_get(addr, trick, &auth).await?;
        assert_eq!(r.status, 404, "{trick} with token: {}", r.body);
    }
    s.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn injection_payloads_are_only_data() -> anyhow::Result<()> {
    let s = server(|_| {}).await;
    let addr = s.addr();
    let alice = get_auth(addr, "/users?name=alice", TOKEN).await?;
    assert_eq!(alice.status, 200);
    assert_eq!(alice.json().as_array().unwrap().len(), 1);
    for payload in [
        "' OR '1'='1",
        "'",
        "alice' AND '1'='1",
        "' UNION SELECT id, name, value, 0 FROM secrets--",
        "'; DROP TABLE users; --",
        "alice' AND sleep(3)--",
    ] {
        let r = get_auth(addr, &format!("/users?name={}", enc(payload)), TOKEN).await?;
        assert_eq!(r.status, 200, "{payload}: {}", r.body);
        assert_eq!(r.json(), serde_json::json!([]), "{payload}");
        let page = get_auth(addr, &format!("/search?q={}", enc(payload)), TOKEN).await?;
        assert_eq!(page.status, 200, "{payload}");
        assert!(
            !page.body.contains("practice-hunter2") && !page.body.contains("error"),
            "{}",
            page.body
        );
    }
    for path in [
        "/users/1%20OR%201=1",
        "/users/1'",
        "/users/99999999999999999999999",
    ] {
        let r = get_auth(addr, path, TOKEN).await?;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert!(!r.body.contains("syntax"), "{}", r.body);
    }
    assert_eq!(
        get_auth(addr, "/users/1", TOKEN).await?.json()["name"],
        "alice"
    );
    assert_eq!(get_auth(addr, "/users/999", TOKEN).await?.status, 404);

    // A hostile name is stored verbatim, and the table survives.
    let evil = r#"{"name": "x'); DROP TABLE users;--", "email": "x@example.com", "age": 5}"#;
    let created = post(addr, "/users", TOKEN, JSON, evil).await?;
    assert_eq!(created.status, 201, "{}", created.body);
    let found = get_auth(
        addr,
        &format!("/users?name={}", enc("x'); DROP TABLE users;--")),
        TOKEN,
    )
    .await?;
    assert_eq!(found.json().as_array().unwrap().len(), 1);
    assert_eq!(
        get_auth(addr, "/users", TOKEN)
            .await?
            .json()
            .as_array()
            .unwrap()
            .len(),
        5
    );
    s.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn reflected_input_is_escaped() -> anyhow::Result<()> {
    let s = server(|_| {}).await;
    let canary = "<script>alert('shakedown-1f3a')</script>\"><img src=x onerror=alert(1)>";
    let r = get_auth(s.addr(), &format!("/search?q={}", enc(canary)), TOKEN).await?;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert_eq!(
        r.header("content-security-policy"),
        Some("default-src 'none'")
    );
    assert!(
        r.body
            .contains("Results for &lt;script&gt;alert(&#x27;shakedown-1f3a&#x27;)"),
        "{}",
        r.body
    );
    assert!(
        !r.body.contains("<script>") && !r.body.contains("<img"),
        "{}",
        r.body
    );
    let listed = get_auth(s.addr(), "/search?q=AL", TOKEN).await?;
    assert!(listed.body.contains("<li>alice</li>"), "{}", listed.body);
    s.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn json_bodies_are_validated_and_never_cause_a_5xx() -> anyhow::Result<()> {
    let s = server(|_| {}).await;
    let addr = s.addr();
    let deep_arrays = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_objects = format!("{}1{}", "{\"name\":".repeat(10_000), "}".repeat(10_000));
    let cases: Vec<(Option<&str>, Vec<u8>, u16)> = vec![
        (
            None,
            br#"{"name":"a","email":"a@b.c","age":1}"#.to_vec(),
            415,
        ),
        (
            Some("text/plain"),
            br#"{"name":"a","email":"a@b.c","age":1}"#.to_vec(),
            415,
        ),
        (
            Some("application/x-www-form-urlencoded"),
            b"name=a&email=a@b.c&age=1".to_vec(),
            415,
        ),
        (JSON, b"".to_vec(), 400),
        (JSON, b"{".to_vec(), 400),
        (JSON, b"{\"name\": \"a\",}".to_vec(), 400),
        (JSON, b"not json at all".to_vec(), 400),
        (
            JSON,
            b"{\"name\": \"\xff\xfe\", \"email\": \"a@b.c\", \"age\": 1}".to_vec(),
            400,
        ),
        (
            JSON,
            b"{\"name\": \"a\0b\", \"email\": \"a@b.c\", \"age\": 1}".to_vec(),
            400,
        ),
        (
            JSON,
            br#"{"name":"a\u0000b","email":"a@b.c","age":1}"#.to_vec(),
            422,
        ),
        (
            JSON,
            br#"{"name":null,"email":"a@b.c","age":1}"#.to_vec(),
            422,
        ),
        (
            JSON,
            br#"{"name":"a","email":"a@b.c","age":"1"}"#.to_vec(),
            422,
        ),
        (
            JSON,
            br#"{"name":"a","email":"a@b.c","age":1.5}"#.to_vec(),
            422,
        ),
        (
            JSON,
            br#"{"name":"a","email":"a@b.c","age":99999999999999999999999}"#.to_vec(),
            422,
        ),
        (
            JSON,
            br#"{"name":"a","email":"a@b.c","age":1e999}"#.to_vec(),
            400,
        ),
        (
            JSON,
            br#"{"name":"a","email":"a@b.c","age":-5}"#.to_vec(),
            422,
        ),
        (
            JSON,
            br#"{"name":["a"],"email":"a@b.c","age":1}"#.to_vec(),
            422,
        ),
        (
            JSON,
            br#"{"name":{"$ne":null},"email":"a@b.c","age":1}"#.to_vec(),
            422,
        ),
        (JSON, br#"{"name":"a","email":"a@b.c"}"#.to_vec(), 422),
        (
            JSON,
            br#"{"name":"a","email":"a@b.c","age":1,"__proto__":{"admin":true}}"#.to_vec(),
            422,
        ),
        (
            JSON,
            br#"{"name":"a","email":"a@b.c","age":1,"constructor":{"prototype":{}}}"#.to_vec(),
            422,
        ),
        (
            JSON,
            br#"{"name":"a","name":"b","email":"a@b.c","age":1}"#.to_vec(),
            422,
        ),
        (JSON, br#"[1, 2, 3]"#.to_vec(), 422),
        (JSON, br#""just a string""#.to_vec(), 422),
        (JSON, deep_arrays.into_bytes(), 422),
        (JSON, deep_objects.into_bytes(), 422),
        (
            JSON,
            br#"{"name":"a","email":"not-an-email","age":1}"#.to_vec(),
            422,
        ),
    ];
    for (ct, body, expected) in cases {
        let shown = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
        let r = post(addr, "/users", TOKEN, ct, body).await?;
        assert_eq!(r.status, expected, "{ct:?} {shown}: {}", r.body);
        assert!(r.json()["error"].is_string());
    }
    let ok = post(
        addr,
        "/users",
        TOKEN,
        Some("application/json; charset=utf-8"),
        r#"{"name":"zoe","email":"zoe@example.com","age":29}"#,
    )
    .await?;
    assert_eq!(ok.status, 201, "{}", ok.body);
    let location = ok.header("location").unwrap().to_string();
    let back = get_auth(addr, &location, TOKEN).await?.json();
    assert_eq!(
        (back["name"].as_str(), back["age"].as_i64()),
        (Some("zoe"), Some(29))
    );
    assert_eq!(get(addr, "/health").await?.status, 200);
    s.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn the_rate_limit_answers_429_with_retry_after() -> anyhow::Result<()> {
    let s = server(|c| {
        c.rate_limit = 5;
        c.rate_window = Duration::from_secs(1);
    })
    .await;
    let addr = s.addr();
    // Refused requests cost nothing: unauthenticated probes never see 429.
    for _ in 0..10 {
        assert_eq!(get(addr, "/users").await?.status, 401);
    }
    for i in 0..5 {
        let r = get_auth(addr, "/users?name=bob", TOKEN).await?;
        assert_eq!(r.status, 200, "request {i}");
        assert_eq!(
            r.header("x-ratelimit-remaining"),
            Some((4 - i).to_string().as_str())
        );
    }
    let limited = get_auth(addr, "/users?name=bob", TOKEN).await?;
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert_eq!(limited.header("retry-after"), Some("1"));
    assert!(
        limited.json()["error"]
            .as_str()
            .unwrap()
            .contains("rate limit")
    );
    // Spoofed client addresses do not buy a new budget.
    let spoofed = send(
        addr,
        "GET",
        "/users",
        &[
            ("authorization", &format!("Bearer {TOKEN}")),
            ("x-forwarded-for", "10.9.8.7"),
        ],
        Bytes::new(),
    )
    .await?;
    assert_eq!(spoofed.status, 429);
    assert_eq!(get(addr, "/health").await?.status, 200, "health is exempt");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        get_auth(addr, "/users?name=bob", TOKEN).await?.status,
        200,
        "the window slid on"
    );
    s.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn oversized_bodies_get_413() -> anyhow::Result<()> {
    let s = server(|c| c.max_body = 1024).await;
    let addr = s.addr();
    // A declared length over the limit is refused before any body is sent, even before auth.
    for auth in ["", "Authorization: Bearer practice-token-123\r\n"] {
        let head = format!(
            "POST /users HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\n\
             Content-Length: 15000000\r\n\r\n"
        );
        let started = std::time::Instant::now();
        let r = raw(addr, head.as_bytes()).await?;
        assert_eq!(r.status, 413, "{}", r.body);
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(r.header("connection"), Some("close"));
    }
    // A chunked body is cut off as it crosses the limit, on any route.
    for path in ["/users", "/search?q=a"] {
        let method = if path == "/users" { "POST" } else { "GET" };
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        .into_bytes();
        for _ in 0..3 {
            req.extend_from_slice(format!("200\r\n{}\r\n", "a".repeat(512)).as_bytes());
        }
        req.extend_from_slice(b"0\r\n\r\n");
        let r = raw(addr, &req).await?;
        assert_eq!(r.status, 413, "{path}: {}", r.body);
    }
    // Within the limit is fine.
    let ok = post(
        addr,
        "/users",
        TOKEN,
        JSON,
        r#"{"name":"small","email":"s@x.io","age":1}"#,
    )
    .await?;
    assert_eq!(ok.status, 201);
    assert_eq!(
        get_auth(addr, "/admin/stats", TOKEN).await?.json()["payload_too_large"],
        4
    );
    s.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_trickling_client_is_dropped_while_others_are_served() -> anyhow::Result<()> {
    let s = server(|c| c.header_timeout = Duration::from_secs(1)).await;
    let addr = s.addr();
    let slow = tokio::spawn(trickle(addr, Duration::from_secs(4)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        get(addr, "/health").await?.status,
        200,
        "served during the trickle"
    );
    let closed = slow
        .await??
        .expect("the trickling connection was never dropped");
    assert!(closed < Duration::from_secs(2), "dropped after {closed:?}");
    assert!(
        closed >= Duration::from_millis(900),
        "dropped too early: {closed:?}"
    );
    s.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() -> anyhow::Result<()> {
    let s = server(|c| c.header_timeout = Duration::from_secs(1)).await;
    let addr = s.addr();
    let mut stream = TcpStream::connect(addr).await?;
    stream
        .write_all(format!("GET /health HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await?;
    let mut buf = [0u8; 1024];
    let n = stream.read(&mut buf).await?;
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let closed = wait_closed(&mut stream, Duration::from_secs(3)).await;
    let closed = closed.expect("idle keep-alive connection stayed open");
    assert!(closed < Duration::from_secs(2), "closed after {closed:?}");
    // A connection that never sends anything is closed the same way.
    let mut silent = TcpStream::connect(addr).await?;
    assert!(
        wait_closed(&mut silent, Duration::from_secs(3))
            .await
            .is_some()
    );
    s.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn connections_beyond_the_cap_get_503_and_are_closed() -> anyhow::Result<()> {
    let s = server(|c| {
        c.max_connections = 2;
        c.header_timeout = Duration::from_secs(5);
    })
    .await;
    let addr = s.addr();
    let held_a = TcpStream::connect(addr).await?;
    let _held_b = TcpStream::connect(addr).await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = raw_get(addr, "/health", "").await?;
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(refused.header("connection"), Some("close"));
    // Releasing one frees a slot.
    drop(held_a);
    let mut served = None;
    for _ in 0..20 {
        let r = raw_get(addr, "/health", "").await?;
        if r.status == 200 {
            served = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served.is_some(), "a released slot was never reused");
    let stats = get_auth(addr, "/admin/stats", TOKEN).await;
    // The stats request itself may be refused while `_held_b` holds a slot; either is clean.
    if let Ok(stats) = stats
        && stats.status == 200
    {
        assert!(stats.json()["connections_refused"].as_u64().unwrap() >= 1);
    }
    s.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn requests_beyond_the_concurrency_limit_are_shed() -> anyhow::Result<()> {
    let s = server(|c| {
        c.max_concurrency = 1;
        c.header_timeout = Duration::from_secs(5);
    })
    .await;
    let addr = s.addr();
    // One request in flight: its handler waits for a body that arrives slowly.
    let mut busy = TcpStream::connect(addr).await?;
    let head = format!(
        "POST /users HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: 50\r\nConnection: close\r\n\r\n{{\"name\":"
    );
    busy.write_all(head.as_bytes()).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let shed = get(addr, "/health").await?;
    assert_eq!(shed.status, 503, "{}", shed.body);
    assert_eq!(shed.header("retry-after"), Some("1"));
    // Finishing the slow request frees the slot.
    busy.write_all(br#""slow","email":"slow@example.com","age":3}"#)
        .await?;
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), busy.read_to_end(&mut out)).await??;
    assert!(
        String::from_utf8_lossy(&out).starts_with("HTTP/1.1 201"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    assert_eq!(get(addr, "/health").await?.status, 200);
    s.shutdown().await;
    Ok(())
}
