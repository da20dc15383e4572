//! What the server tells about itself: the OpenAPI 3.1 document lists every route, the
//! Prometheus metrics count requests by route and status and show the halt, and the event
//! stream carries a campaign's events live.

use std::time::Duration;

use serde_json::{Value, json};
use shakedown_server::routes::catalog;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{Api, practice, run_body, system};

/// Resolves `#/components/schemas/X` references, failing on a dangling one.
fn check_refs(v: &Value, doc: &Value) {
    match v {
        Value::Object(m) => {
            if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                let ptr = r
                    .strip_prefix('#')
                    .unwrap_or_else(|| panic!("external ref {r}"));
                assert!(doc.pointer(ptr).is_some(), "dangling {r}");
            }
            m.values().for_each(|x| check_refs(x, doc));
        }
        Value::Array(a) => a.iter().for_each(|x| check_refs(x, doc)),
        _ => {}
    }
}

#[tokio::test]
async fn the_openapi_document_lists_every_route() {
    let api = Api::start().await;
    let t = api.token("v", "viewer");
    let r = api.get("/api/openapi.json", Some(&t)).await;
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let routes = catalog();
    let mut listed = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        listed += ops.as_object().unwrap().len();
        for (method, op) in ops.as_object().unwrap() {
            assert!(
                routes
                    .iter()
                    .any(|r| r.path == path && r.method.eq_ignore_ascii_case(method)),
                "{method} {path} is documented but not in the catalog"
            );
            assert!(op["responses"].as_object().is_some_and(|m| !m.is_empty()));
        }
    }
    assert_eq!(listed, routes.len());
    for route in &routes {
        let op = &doc["paths"][route.path][route.method.to_ascii_lowercase()];
        assert!(op.is_object(), "{} {} missing", route.method, route.path);
        if route.permission.is_some() {
            assert!(op["responses"]["401"].is_object(), "{}", route.path);
        }
    }
    let run = &doc["paths"]["/api/chaos/run"]["post"];
    assert!(
        run["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .unwrap()
            .ends_with("RunRequest")
    );
    let schema = &doc["components"]["schemas"]["RunRequest"];
    assert_eq!(schema["additionalProperties"], false, "{schema}");
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    check_refs(&doc, &doc);
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status_and_show_the_halt() {
    let api = Api::start().await;
    let t = api.token("op", "approver");
    api.get("/api/chaos/status", Some(&t)).await;
    api.get("/api/chaos/status", None).await;
    api.get("/api/chaos/campaigns/nope", Some(&t)).await;
    let text = api.get("/metrics", Some(&t)).await;
    assert_eq!(text.status, 200);
    assert!(
        text.header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let body = text.text;
    for line in [
        "shakedown_http_requests_total{route=\"/api/chaos/status\",method=\"GET\",status=\"200\"} 1",
        "shakedown_http_requests_total{route=\"/api/chaos/status\",method=\"GET\",status=\"401\"} 1",
        "shakedown_http_requests_total{route=\"/api/chaos/campaigns/{id}\",method=\"GET\",status=\"404\"} 1",
        "shakedown_halted 0",
        "shakedown_campaigns_running 0",
    ] {
        assert!(
            body.lines().any(|l| l == line),
            "missing `{line}` in\n{body}"
        );
    }
    // Every sample line is `name{labels} value` with a numeric value.
    for l in body.lines().filter(|l| !l.starts_with('#')) {
        let value = l.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "{l}");
    }
    api.post_json("/api/chaos/halt", Some(&t), &json!({})).await;
    let body = api.get("/metrics", Some(&t)).await.text;
    assert!(body.lines().any(|l| l == "shakedown_halted 1"), "{body}");
}

/// Reads the SSE stream until `needle` shows up (bounded).
async fn read_until(s: &mut TcpStream, needle: &str, limit: Duration) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    while !String::from_utf8_lossy(&seen).contains(needle) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => seen.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

#[tokio::test]
async fn the_event_stream_carries_campaign_events_live_and_is_bounded() {
    let target = practice().await;
    let api = Api::start_with(|c| c.max_event_streams = 1).await;
    let t = api.token("op", "operator");
    let mut s = TcpStream::connect(api.addr).await.unwrap();
    s.write_all(
        format!("GET /api/events HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {t}\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let head = read_until(&mut s, "\r\n\r\n", Duration::from_secs(5)).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/event-stream"), "{head}");
    // One stream at a time here: the second is refused.
    let second = api.get("/api/events", Some(&t)).await;
    assert_eq!(second.status, 503, "{}", second.text);
    assert_eq!(second.code(), "too_many_streams");

    let r = api
        .post_json(
            "/api/chaos/run",
            Some(&t),
            &run_body(&system("test", &target.url(), "svc")),
        )
        .await;
    let id = r.json()["campaign_id"].as_str().unwrap().to_string();
    let seen = read_until(
        &mut s,
        "event: chaos.campaign.completed",
        Duration::from_secs(30),
    )
    .await;
    assert!(seen.contains("event: chaos.campaign.started"), "{seen}");
    assert!(seen.contains("event: chaos.injection"), "{seen}");
    assert!(seen.contains(&id), "{seen}");
}

#[tokio::test]
async fn the_event_stream_shows_only_environments_the_caller_may_read() {
    let target = practice().await;
    let api = Api::start().await;
    let admin = api.token("root", "admin");
    let bob = api.token("bob", "approver");
    let op = api.token("op", "operator");
    let open = |t: String| {
        let addr = api.addr;
        async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(
                format!("GET /api/events HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {t}\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .unwrap();
            let head = read_until(&mut s, "\r\n\r\n", Duration::from_secs(5)).await;
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            s
        }
    };
    let mut as_op = open(op.clone()).await;
    let mut as_admin = open(admin.clone()).await;

    // A production campaign (approved by another account), then a test one.
    let r = api
        .post_json(
            "/api/chaos/run",
            Some(&admin),
            &run_body(&system("production", &target.url(), "prod_svc")),
        )
        .await;
    let approval = r.json()["approval_id"].as_str().unwrap().to_string();
    let r = api
        .post_json(
            &format!("/api/approvals/{approval}/approve"),
            Some(&bob),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let prod = r.json()["campaign_id"].as_str().unwrap().to_string();
    api.wait_campaign(&prod, &admin).await;
    let r = api
        .post_json(
            "/api/chaos/run",
            Some(&op),
            &run_body(&system("test", &target.url(), "test_svc")),
        )
        .await;
    let test = r.json()["campaign_id"].as_str().unwrap().to_string();

    let seen_by_admin = read_until(&mut as_admin, &test, Duration::from_secs(30)).await;
    assert!(seen_by_admin.contains(&prod), "{seen_by_admin}");
    let seen_by_op = read_until(&mut as_op, &test, Duration::from_secs(30)).await;
    assert!(seen_by_op.contains(&test), "{seen_by_op}");
    assert!(
        !seen_by_op.contains(&prod),
        "the operator saw production events: {seen_by_op}"
    );
}

#[tokio::test]
async fn the_event_stream_follows_the_whole_log_and_resumes_from_last_event_id() {
    use shakedown_core::{Event, EventType};
    let api = Api::start().await;
    let t = api.token("op", "operator");
    let open = |last: Option<String>| {
        let (addr, t) = (api.addr, t.clone());
        async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let resume = last
                .map(|id| format!("last-event-id: {id}\r\n"))
                .unwrap_or_default();
            s.write_all(
                format!("GET /api/events HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {t}\r\n{resume}\r\n")
                    .as_bytes(),
            )
            .await
            .unwrap();
            // The first read may carry events after the head: keep them.
            let head = read_until(&mut s, "\r\n\r\n", Duration::from_secs(5)).await;
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            (s, head)
        }
    };
    // Events another process (a CLI campaign) appends to the store reach the stream.
    let append = |n: u32| {
        let e = Event::new(
            EventType::Injection,
            Some("chaos_from_cli"),
            Some("api"),
            json!({"n": n}),
            time::OffsetDateTime::now_utc(),
        );
        api.store.append_event(&e).unwrap();
        e.id.to_string()
    };
    let (mut s, _) = open(None).await;
    let first = append(1);
    let seen = read_until(&mut s, &first, Duration::from_secs(10)).await;
    let id_line = seen
        .lines()
        .find(|l| l.starts_with("id: "))
        .expect("an id line")
        .trim_start_matches("id: ")
        .to_string();
    drop(s);
    // Disconnected meanwhile: two more events; resuming from the last id gets exactly those.
    let second = append(2);
    let third = append(3);
    let (mut s, mut seen) = open(Some(id_line)).await;
    if !seen.contains(&third) {
        seen.push_str(&read_until(&mut s, &third, Duration::from_secs(10)).await);
    }
    assert!(seen.contains(&second), "{seen}");
    assert!(!seen.contains(&first), "nothing sent twice: {seen}");
    // A Last-Event-ID that is not a position is refused.
    let mut bad = TcpStream::connect(api.addr).await.unwrap();
    bad.write_all(
        format!("GET /api/events HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {t}\r\nlast-event-id: yesterday\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let head = read_until(&mut bad, "\r\n\r\n", Duration::from_secs(5)).await;
    assert!(head.starts_with("HTTP/1.1 422"), "{head}");
}

#[tokio::test]
async fn a_revoked_token_loses_its_open_event_stream() {
    let api = Api::start().await;
    let t = api.token("op", "operator");
    let mut s = TcpStream::connect(api.addr).await.unwrap();
    s.write_all(
        format!("GET /api/events HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {t}\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let head = read_until(&mut s, "\r\n\r\n", Duration::from_secs(5)).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let id = api.store.tokens().unwrap()[0].id.clone();
    api.store
        .revoke_token(&id, time::OffsetDateTime::now_utc())
        .unwrap();
    // Within the re-check interval (5 s) the server ends the stream: the read sees its end.
    let mut buf = [0u8; 4096];
    let mut seen = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(8), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(n) => {
                    seen.extend_from_slice(&buf[..n]);
                    // The last chunk of the chunked body: the stream was ended by the server.
                    if seen.ends_with(b"0\r\n\r\n") {
                        return true;
                    }
                }
            }
        }
    })
    .await;
    assert_eq!(ended, Ok(true), "the stream outlived the revocation");
}

#[tokio::test]
async fn one_token_cannot_take_every_event_stream() {
    let api = Api::start_with(|c| c.max_event_streams = 8).await;
    let greedy = api.token("greedy", "viewer");
    let other = api.token("other", "viewer");
    let open = |t: String| {
        let addr = api.addr;
        async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(
                format!("GET /api/events HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {t}\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .unwrap();
            let head = read_until(&mut s, "\r\n\r\n", Duration::from_secs(5)).await;
            (s, head)
        }
    };
    // A quarter of 8 per token.
    let (_a, head) = open(greedy.clone()).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let (_b, head) = open(greedy.clone()).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let (_c, head) = open(greedy.clone()).await;
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    let (_d, head) = open(other).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // A closed stream gives its share back.
    drop(_a);
    let mut again = None;
    for _ in 0..50 {
        let (s, head) = open(greedy.clone()).await;
        if head.starts_with("HTTP/1.1 200") {
            again = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(again.is_some(), "the closed stream's share never came back");
}
