//! `payload_overflow` against in-process servers on 127.0.0.1:0: axum with a body limit, axum
//! reading everything, a limit that forgets chunked bodies, a raw server that hangs up, and
//! one that never answers. `max_payload` is 64KB so each probe streams 96KB.

#[path = "support/context.rs"]
mod context;
#[path = "support/server.rs"]
mod server;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use shakedown_attack::owasp::payload_overflow;
use shakedown_attack::{AttackContext, Limits};
use shakedown_core::system::{Endpoint, HttpMethod};
use shakedown_core::{AttackOutcome, ByteSize, Guardrails, Verdict};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use server::{Server, closed_port, listen, serve};

const MAX: u64 = 64 * 1024;
const BODY: u64 = MAX + MAX / 2;

fn ctx(addr: SocketAddr) -> AttackContext {
    let ep = |method, path: &str| Endpoint {
        headers: BTreeMap::from([("X-Client".to_string(), "shakedown-test".to_string())]),
        ..context::endpoint(method, path)
    };
    context::ctx(addr)
        .no_health()
        .endpoint(ep(HttpMethod::Get, "/items"))
        .endpoint(ep(HttpMethod::Post, "/upload"))
        .guardrails(Guardrails {
            max_payload: Some(ByteSize(MAX)),
            ..Guardrails::default()
        })
        .auth("Authorization", "Bearer secret")
        .limits(Limits {
            request_timeout: Duration::from_millis(500),
            max_attack_duration: Duration::from_secs(6),
            ..Limits::default()
        })
        .build()
}

fn findings(o: &AttackOutcome) -> String {
    o.evidence.findings.join("\n")
}

#[tokio::test]
async fn a_body_limit_refuses_both_probes_with_413() {
    let app = Router::new()
        .route(
            "/upload",
            post(|body: Bytes| async move { format!("got {}", body.len()) }),
        )
        .layer(DefaultBodyLimit::max(MAX as usize));
    let (addr, _s) = serve(app);
    let o = payload_overflow::run(&ctx(addr)).await;
    assert_eq!(o.verdict, Verdict::Passed, "{}", findings(&o));
    assert!(o.guardrail_triggered);
    let m = &o.evidence.metrics;
    assert_eq!(m["content_length_status"], 413);
    assert_eq!(m["chunked_status"], 413);
    assert_eq!(m["body_bytes"], BODY);
    assert_eq!(m["endpoint"], "POST /upload");
    assert_eq!(o.evidence.status_histogram["413"], 2);
    assert_eq!(o.evidence.requests_sent, 2);
    assert_eq!(o.evidence.samples.len(), 2);
}

#[tokio::test]
async fn a_server_that_reads_everything_fails() {
    let received = Arc::new(AtomicU64::new(0));
    let r = Arc::clone(&received);
    let app = Router::new()
        .route(
            "/upload",
            post(move |body: Bytes| {
                let r = Arc::clone(&r);
                async move {
                    r.fetch_add(body.len() as u64, Ordering::Relaxed);
                    StatusCode::CREATED
                }
            }),
        )
        .layer(DefaultBodyLimit::disable());
    let (addr, _s) = serve(app);
    let o = payload_overflow::run(&ctx(addr)).await;
    assert_eq!(o.verdict, Verdict::Failed, "{}", findings(&o));
    assert!(!o.guardrail_triggered);
    assert!(
        findings(&o).contains(&format!(
            "accepted {BODY} bytes > max {MAX} and answered 201"
        )),
        "{}",
        findings(&o)
    );
    assert_eq!(received.load(Ordering::Relaxed), 2 * BODY);
    assert_eq!(o.evidence.metrics["content_length_bytes_written"], BODY);
}

#[tokio::test]
async fn a_500_after_reading_the_body_fails() {
    let app = Router::new()
        .route(
            "/upload",
            post(|_b: Bytes| async { StatusCode::INTERNAL_SERVER_ERROR }),
        )
        .layer(DefaultBodyLimit::disable());
    let (addr, _s) = serve(app);
    let o = payload_overflow::run(&ctx(addr)).await;
    assert_eq!(o.verdict, Verdict::Failed, "{}", findings(&o));
    assert_eq!(o.evidence.status_histogram["500"], 2);
}

/// Checks `Content-Length` only: a chunked body of any size gets through.
async fn length_only(req: Request) -> axum::response::Response {
    let declared = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX) {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    match axum::body::to_bytes(req.into_body(), usize::MAX).await {
        Ok(b) => format!("got {}", b.len()).into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

#[tokio::test]
async fn a_limit_that_forgets_chunked_bodies_fails() {
    let app = Router::new()
        .route("/upload", post(length_only))
        .layer(DefaultBodyLimit::disable());
    let (addr, _s) = serve(app);
    let o = payload_overflow::run(&ctx(addr)).await;
    assert_eq!(o.verdict, Verdict::Failed, "{}", findings(&o));
    assert!(
        o.guardrail_triggered,
        "the Content-Length probe was refused"
    );
    assert_eq!(o.evidence.metrics["content_length_status"], 413);
    assert_eq!(o.evidence.metrics["chunked_status"], 200);
    assert!(
        findings(&o).contains("chunked body bypasses"),
        "{}",
        findings(&o)
    );
}

#[tokio::test]
async fn refusing_chunked_bodies_with_411_passes() {
    async fn strict(req: Request) -> axum::response::Response {
        if !req.headers().contains_key("content-length") {
            return StatusCode::LENGTH_REQUIRED.into_response();
        }
        length_only(req).await
    }
    let (addr, _s) = serve(Router::new().route("/upload", post(strict)));
    let o = payload_overflow::run(&ctx(addr)).await;
    assert_eq!(o.verdict, Verdict::Passed, "{}", findings(&o));
    assert_eq!(o.evidence.metrics["chunked_status"], 411);
}

/// A raw server: reads the head and up to `read_limit` body bytes, sends `answer` if any,
/// then hangs up (or, with `hang`, keeps the connection open and reads nothing more).
/// Records what each request head said.
async fn raw_server(
    read_limit: usize,
    hang: bool,
    answer: Option<&'static str>,
) -> (SocketAddr, Server, Arc<std::sync::Mutex<Vec<String>>>) {
    let (listener, addr) = listen();
    let heads = Arc::new(std::sync::Mutex::new(Vec::new()));
    let h = Arc::clone(&heads);
    let server = Server::spawn(async move {
        let mut held = Vec::new();
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let mut buf = vec![0u8; read_limit];
            let mut got = 0;
            while got < read_limit {
                match s.read(&mut buf[got..]).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got += n,
                }
            }
            let text = String::from_utf8_lossy(&buf[..got]);
            if let Some(end) = text.find("\r\n\r\n") {
                h.lock().unwrap().push(text[..end].to_string());
            }
            if let Some(answer) = answer {
                let _ = s.write_all(answer.as_bytes()).await;
            }
            if hang {
                held.push(s);
            } else {
                // Closing with unread data makes the kernel send a reset.
                let _ = s.shutdown().await;
                drop(s);
            }
        }
    });
    (addr, server, heads)
}

#[tokio::test]
async fn hanging_up_before_the_body_is_read_passes() {
    let (addr, _s, heads) = raw_server(16 * 1024, false, None).await;
    let o = payload_overflow::run(&ctx(addr)).await;
    assert_eq!(o.verdict, Verdict::Passed, "{}", findings(&o));
    assert_eq!(o.evidence.status_histogram["closed"], 2);
    assert!(
        findings(&o).contains("connection closed before a response"),
        "{}",
        findings(&o)
    );
    // The request heads were what we meant to send: framing, auth and endpoint headers.
    let heads = heads.lock().unwrap().clone();
    assert_eq!(heads.len(), 2);
    assert!(
        heads[0].starts_with("POST /upload HTTP/1.1\r\n"),
        "{}",
        heads[0]
    );
    assert!(heads[0].contains(&format!("Content-Length: {BODY}")));
    assert!(heads[0].contains("Authorization: Bearer secret"));
    assert!(heads[0].contains("X-Client: shakedown-test"));
    assert!(heads[1].contains("Transfer-Encoding: chunked"));
    assert!(!heads[1].contains("Content-Length"));
}

#[tokio::test]
async fn a_server_that_never_answers_is_inconclusive() {
    let (addr, _s, _heads) = raw_server(1024, true, None).await;
    let t = Instant::now();
    let o = payload_overflow::run(&ctx(addr)).await;
    assert_eq!(o.verdict, Verdict::Inconclusive, "{}", findings(&o));
    assert_eq!(o.evidence.status_histogram["timeout"], 2);
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
}

#[tokio::test]
async fn without_endpoints_it_posts_to_the_root_and_unreachable_is_inconclusive() {
    let app = Router::new()
        .route(
            "/",
            post(|_b: Bytes| async { "ok" }).get(|| async { "root" }),
        )
        .layer(DefaultBodyLimit::max(MAX as usize));
    let (addr, _s) = serve(app);
    let mut c = ctx(addr);
    c.component.endpoints.clear();
    let o = payload_overflow::run(&c).await;
    assert_eq!(o.evidence.metrics["endpoint"], "POST /");
    assert_eq!(o.verdict, Verdict::Passed, "{}", findings(&o));

    let closed = closed_port();
    let o = payload_overflow::run(&ctx(closed)).await;
    assert_eq!(o.verdict, Verdict::Inconclusive, "{}", findings(&o));
    assert_eq!(o.evidence.status_histogram["connect_error"], 2);
}

#[tokio::test]
async fn halt_stops_the_attack() {
    let (addr, _s, _heads) = raw_server(1024, true, None).await;
    let c = ctx(addr);
    let h = c.halt.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        h.cancel();
    });
    let o = payload_overflow::run(&c).await;
    assert_eq!(o.verdict, Verdict::Inconclusive);
    assert!(o.summary.contains("halted"));
}

#[tokio::test]
async fn an_answer_before_the_body_is_read_is_inconclusive() {
    // Like nginx's `return 200`: answers at once and never reads the body. The body (12MB)
    // is larger than the socket buffers, so the answer arrives while we are still writing.
    let (addr, _s, _heads) = raw_server(
        1024,
        true,
        Some("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
    )
    .await;
    let mut c = ctx(addr);
    c.component.guardrails.max_payload = Some(ByteSize(8 * 1024 * 1024));
    let o = payload_overflow::run(&c).await;
    assert_eq!(o.verdict, Verdict::Inconclusive, "{}", findings(&o));
    assert_eq!(o.evidence.status_histogram["200"], 2);
    assert!(
        findings(&o).contains("without reading the body"),
        "{}",
        findings(&o)
    );
    let written = o.evidence.metrics["content_length_bytes_written"]
        .as_u64()
        .unwrap();
    assert!(written < 12 * 1024 * 1024, "{written}");
}
