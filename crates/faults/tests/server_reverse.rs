//! The fault proxy as a reverse proxy in front of a real upstream on 127.0.0.1: routing,
//! byte-exact and streaming passthrough, synthetic answers, delays, aborts, shaping, events,
//! the proxy's own errors.

mod server_support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use server_support::*;
use shakedown_faults::server::PROXY_ERROR_HEADER;
use shakedown_faults::{CallPlan, Fault, ResponseShaper, Step, StreamFault, Synthetic};

#[tokio::test]
async fn routes_strip_the_prefix_and_pass_bytes_through_unchanged() {
    let up = TestUpstream::start().await;
    let other = TestUpstream::start().await;
    let mut settings = routed("/tools", &format!("{}/base", up.url()));
    settings.routes.push(shakedown_faults::server::Route {
        prefix: "/tools/special".into(),
        upstream: other.url(),
        tool: Some("special".into()),
    });
    let p = start_proxy(settings, ScriptedDecider::none(), passthrough()).await;
    // 1 MiB of every byte value: nothing may be re-encoded on the way.
    let payload: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    let mut req = request("POST", "/tools/search?q=1", payload.clone());
    req.headers_mut().insert(
        "connection",
        HeaderValue::from_static("keep-alive, x-private"),
    );
    req.headers_mut()
        .insert("x-private", HeaderValue::from_static("hop"));
    req.headers_mut()
        .insert("authorization", HeaderValue::from_static("Bearer k"));
    let resp = send(p.handle.addr(), req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["x-upstream-path"], "/base/search?q=1");
    assert!(
        resp.headers().get("x-hop").is_none(),
        "hop-by-hop response header crossed"
    );
    let body = read_body(resp).await.unwrap();
    assert_eq!(body.len(), payload.len());
    assert!(body == payload, "body changed in passthrough");
    let seen = up.last();
    assert_eq!(seen.headers["host"], up.addr.to_string());
    assert_eq!(seen.headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen.headers["authorization"], "Bearer k");
    assert!(seen.headers.get("x-private").is_none());
    assert!(seen.body == payload);
    // The longer prefix wins.
    let resp = send(p.handle.addr(), request("GET", "/tools/special/x", ""))
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-upstream-path"], "/x");
    assert_eq!((up.hits(), other.hits()), (1, 1));
    // No route: a JSON 404 from the proxy itself.
    let resp = send(p.handle.addr(), request("GET", "/nowhere", ""))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(resp.headers()[PROXY_ERROR_HEADER], "no_route");
    p.handle.shutdown().await;
}

#[tokio::test]
async fn sse_streams_through_chunk_by_chunk() {
    let up = TestUpstream::start().await;
    let p = start_proxy(
        routed("/llm", &up.url()),
        ScriptedDecider::none(),
        passthrough(),
    )
    .await;
    let started = Instant::now();
    let resp = send(p.handle.addr(), request("POST", "/llm/v1/sse", "{}"))
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut body = resp.into_body();
    let mut arrivals = Vec::new();
    let mut text = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            arrivals.push(started.elapsed());
            text.extend_from_slice(&data);
        }
    }
    let total = started.elapsed();
    let upstream_duration = SSE_GAP * SSE_EVENTS as u32;
    assert!(total >= upstream_duration, "stream ended early: {total:?}");
    // The first event must reach the client while the upstream is still producing.
    assert!(
        arrivals[0] + SSE_GAP * 3 < total,
        "first chunk at {:?}, stream ended at {total:?}: the proxy buffered",
        arrivals[0]
    );
    assert!(
        arrivals.len() >= SSE_EVENTS,
        "chunks were merged: {arrivals:?}"
    );
    let text = String::from_utf8(text).unwrap();
    assert!(text.starts_with("data: {\"i\":0}\n\n") && text.ends_with("data: [DONE]\n\n"));
    p.handle.shutdown().await;
}

fn error_answer(status: u16, message: &str) -> Synthetic {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    Synthetic {
        status: StatusCode::from_u16(status).unwrap(),
        headers,
        body: vec![Step::Data(Bytes::from(format!(
            "{{\"error\":{{\"message\":\"{message}\"}}}}"
        )))],
    }
}

/// Plans the test faults: `error` answers by itself, `slow` delays, `stream_cut` sends one
/// event and drops the connection, `malformed` shapes the answer.
fn test_planner() -> shakedown_faults::Planner {
    planner(|_call, fired| {
        let mut plan = CallPlan::passthrough();
        for f in fired {
            match &f.fault {
                Fault::Error { status, message } => {
                    plan.respond = Some(error_answer(*status, message))
                }
                Fault::Slow { delay } => plan.pre_delay += *delay,
                Fault::Stream(StreamFault::Cut { .. }) => {
                    plan.respond = Some(Synthetic {
                        status: StatusCode::OK,
                        headers: HeaderMap::new(),
                        body: vec![
                            Step::Data(Bytes::from_static(b"data: {\"i\":0}\n\n")),
                            Step::Sleep(Duration::from_millis(50)),
                            Step::Abort,
                            Step::Data(Bytes::from_static(b"data: never\n\n")),
                        ],
                    })
                }
                Fault::Malformed => plan.shaper = Some(Box::new(Upper)),
                _ => {}
            }
        }
        plan
    })
}

/// Upper-cases every chunk as it streams through, and marks the head.
struct Upper;

impl ResponseShaper for Upper {
    fn head(&mut self, _status: &mut StatusCode, headers: &mut HeaderMap) {
        headers.insert("x-shaped", HeaderValue::from_static("upper"));
    }
    fn chunk(&mut self, data: Bytes, out: &mut Vec<Step>) {
        out.push(Step::Data(Bytes::from(data.to_ascii_uppercase())));
    }
    fn end(&mut self, out: &mut Vec<Step>) {
        out.push(Step::Data(Bytes::from_static(b"<END>")));
    }
}

/// Fires by path: `/error`, `/slow`, `/cut`, `/shape` anywhere in the path.
fn by_path() -> std::sync::Arc<ScriptedDecider> {
    ScriptedDecider::new(|call| {
        if call.path.contains("/error") {
            Some(Fault::Error {
                status: 503,
                message: "injected".into(),
            })
        } else if call.path.contains("/slow") {
            Some(Fault::Slow {
                delay: Duration::from_millis(400),
            })
        } else if call.path.contains("/cut") {
            Some(Fault::Stream(StreamFault::Cut { after_events: 1 }))
        } else if call.path.contains("/shape") {
            Some(Fault::Malformed)
        } else {
            None
        }
    })
}

#[tokio::test]
async fn a_synthetic_answer_never_reaches_the_upstream_and_emits_an_event() {
    let up = TestUpstream::start().await;
    let mut p = start_proxy(routed("/t", &up.url()), by_path(), test_planner()).await;
    let resp = send(
        p.handle.addr(),
        request("POST", "/t/tools/lookup/error", "{}"),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        read_body(resp).await.unwrap(),
        r#"{"error":{"message":"injected"}}"#
    );
    assert_eq!(up.hits(), 0, "a short-circuited call reached the upstream");
    let ev = next_event(&mut p.events).await;
    assert_eq!(ev.event_type, "fault_injected");
    assert_eq!(ev.data["rule"], "test_rule");
    assert_eq!(ev.data["fault"], "error");
    assert_eq!(ev.data["family"], "tool_fault");
    assert_eq!(ev.data["call_number"], 1);
    assert_eq!(ev.data["tool"], "lookup");
    assert_eq!(ev.data["url"], format!("{}/tools/lookup/error", up.url()));
    assert_eq!(ev.data["detail"]["status"], 503);
    // A call on which nothing fires passes and emits nothing.
    let resp = send(p.handle.addr(), request("GET", "/t/ok", ""))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(up.hits(), 1);
    assert!(p.events.try_recv().is_err(), "an event without a fault");
    p.handle.shutdown().await;
}

#[tokio::test]
async fn pre_delay_really_delays_before_forwarding() {
    let up = TestUpstream::start().await;
    let p = start_proxy(routed("/t", &up.url()), by_path(), test_planner()).await;
    let t = Instant::now();
    let resp = send(p.handle.addr(), request("GET", "/t/fast", ""))
        .await
        .unwrap();
    read_body(resp).await.unwrap();
    let fast = t.elapsed();
    let t = Instant::now();
    let resp = send(p.handle.addr(), request("GET", "/t/slow", ""))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    read_body(resp).await.unwrap();
    let slow = t.elapsed();
    assert!(
        slow >= Duration::from_millis(400),
        "slow call took only {slow:?}"
    );
    assert!(
        fast < Duration::from_millis(300),
        "plain call took {fast:?}"
    );
    assert_eq!(up.hits(), 2);
    p.handle.shutdown().await;
}

#[tokio::test]
async fn abort_drops_the_connection_mid_body() {
    let up = TestUpstream::start().await;
    let p = start_proxy(routed("/t", &up.url()), by_path(), test_planner()).await;
    let resp = send(p.handle.addr(), request("POST", "/t/v1/cut", "{}"))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(first, "data: {\"i\":0}\n\n");
    let rest = tokio::time::timeout(Duration::from_secs(2), body.collect())
        .await
        .expect("the abort ends the body promptly");
    let err = rest.expect_err("an aborted body must not complete");
    // The connection closed inside the chunked body: the terminating chunk never came.
    assert!(format!("{err:?}").contains("UnexpectedEof"), "{err:?}");
    assert_eq!(up.hits(), 0);
    p.handle.shutdown().await;
}

#[tokio::test]
async fn a_shaper_rewrites_the_upstream_stream_as_it_arrives() {
    let up = TestUpstream::start().await;
    let p = start_proxy(routed("/t", &up.url()), by_path(), test_planner()).await;
    let started = Instant::now();
    let resp = send(p.handle.addr(), request("POST", "/t/shape/sse", "{}"))
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-shaped"], "upper");
    assert!(resp.headers().get("content-length").is_none());
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    let first_at = started.elapsed();
    assert_eq!(first, "DATA: {\"I\":0}\n\n");
    let rest = body.collect().await.unwrap().to_bytes();
    let total = started.elapsed();
    assert!(first_at + SSE_GAP * 3 < total, "shaped stream was buffered");
    assert!(rest.ends_with(b"DATA: [DONE]\n\n<END>"));
    // A whole body goes through the shaper too.
    let resp = send(p.handle.addr(), request("POST", "/t/shape/echo", "abc"))
        .await
        .unwrap();
    assert_eq!(read_body(resp).await.unwrap(), "ABC<END>");
    p.handle.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_json_502() {
    let port = dead_port().await;
    let p = start_proxy(
        routed("/", &format!("http://127.0.0.1:{port}")),
        ScriptedDecider::none(),
        passthrough(),
    )
    .await;
    let resp = send(p.handle.addr(), request("GET", "/x", ""))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    let v: serde_json::Value = serde_json::from_slice(&read_body(resp).await.unwrap()).unwrap();
    assert_eq!(v["error"]["type"], "upstream_unreachable");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&port.to_string())
    );
    p.handle.shutdown().await;
}

#[tokio::test]
async fn bodies_over_the_cap_are_refused_with_413() {
    let up = TestUpstream::start().await;
    let mut settings = routed("/", &up.url());
    settings.max_request_body = Some(shakedown_core::ByteSize(1024));
    let p = start_proxy(settings, ScriptedDecider::none(), passthrough()).await;
    let resp = send(p.handle.addr(), request("POST", "/x", vec![b'a'; 1024]))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = send(p.handle.addr(), request("POST", "/x", vec![b'a'; 1025]))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(resp.headers()[PROXY_ERROR_HEADER], "request_too_large");
    // Chunked bodies (no length up front) are capped while reading.
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    tokio::spawn(async move {
        for _ in 0..4 {
            if tx.send(Bytes::from(vec![b'b'; 512])).await.is_err() {
                return;
            }
        }
    });
    let tcp = tokio::net::TcpStream::connect(p.handle.addr())
        .await
        .unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = http::Request::post("/x")
        .header("host", "proxy.test")
        .body(Chunks(rx))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(up.hits(), 1);
    p.handle.shutdown().await;
}

/// A request body of unknown length.
struct Chunks(tokio::sync::mpsc::Receiver<Bytes>);

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|b| b.map(|b| Ok(hyper::body::Frame::data(b))))
    }
}

#[tokio::test]
async fn a_client_that_leaves_during_the_delay_cancels_the_call() {
    let up = TestUpstream::start().await;
    let decider = ScriptedDecider::new(|_| {
        Some(Fault::Slow {
            delay: Duration::from_millis(600),
        })
    });
    let p = start_proxy(routed("/", &up.url()), decider, test_planner()).await;
    let addr = p.handle.addr();
    let call = tokio::spawn(async move { send(addr, request("GET", "/x", "")).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    call.abort();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(up.hits(), 0, "the call went upstream after its client left");
    p.handle.shutdown().await;
}
