//! The load engine against an in-process hyper server on 127.0.0.1:0 that counts the
//! connections it accepts and the requests it answers.

#[path = "support/context.rs"]
mod context;
#[path = "support/server.rs"]
mod server;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use shakedown_attack::Target;
use shakedown_attack::http::HttpRequest;
use shakedown_attack::load::engine::{
    ErrorKind, LoadError, LoadReport, LoadSpec, StopReason, run_load,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use context::target;
use server::{closed_port, listen};

#[derive(Clone, Copy)]
enum Mode {
    /// 200 with a small body.
    Ok,
    /// 200 and 503 in turn.
    Alternate,
    /// 200 with `Connection: close`: every request needs a new connection.
    Close,
    /// Never answers.
    Hang,
}

#[derive(Default)]
struct Counts {
    connections: AtomicU64,
    requests: AtomicU64,
    ok: AtomicU64,
    unavailable: AtomicU64,
}

struct Server {
    target: Target,
    counts: Arc<Counts>,
    _task: server::Server,
}

async fn server(mode: Mode) -> Server {
    let (listener, addr) = listen();
    let counts = Arc::new(Counts::default());
    let c = Arc::clone(&counts);
    let task = server::Server::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            c.connections.fetch_add(1, Ordering::Relaxed);
            let c = Arc::clone(&c);
            let svc = service_fn(move |_req| {
                let c = Arc::clone(&c);
                async move {
                    let n = c.requests.fetch_add(1, Ordering::Relaxed);
                    let mut resp = Response::new(Full::new(Bytes::from_static(b"hello")));
                    match mode {
                        Mode::Ok => {}
                        Mode::Alternate if n % 2 == 1 => {
                            *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                        }
                        Mode::Alternate => {}
                        Mode::Close => {
                            resp.headers_mut()
                                .insert("connection", "close".parse().unwrap());
                        }
                        Mode::Hang => std::future::pending::<()>().await,
                    }
                    if resp.status() == StatusCode::OK {
                        c.ok.fetch_add(1, Ordering::Relaxed);
                    } else {
                        c.unavailable.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok::<_, Infallible>(resp)
                }
            });
            conns.spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Server {
        target: target(addr),
        counts,
        _task: task,
    }
}

fn spec(target: &Target, connections: usize, max: Option<u64>, duration: Duration) -> LoadSpec {
    LoadSpec {
        target: target.clone(),
        request: HttpRequest::get("/bench"),
        connections,
        max_requests: max,
        duration,
        per_request_timeout: Duration::from_secs(5),
    }
}

/// Runs `spec` to its end (no halt); the spec is valid.
async fn run(spec: &LoadSpec) -> LoadReport {
    run_load(spec, &CancellationToken::new()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counted_run_sends_exactly_the_budget_over_kept_alive_connections() {
    let s = server(Mode::Ok).await;
    let spec = spec(&s.target, 8, Some(2000), Duration::from_secs(20));
    let r = run(&spec).await;
    assert_eq!(r.requests, 2000);
    assert_eq!(r.responses, 2000);
    assert_eq!(r.status_histogram.get(&200), Some(&2000));
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.stop, StopReason::Count);
    assert_eq!(r.aborted, 0);
    assert_eq!(r.body_bytes, 2000 * 5);
    assert_eq!(s.counts.requests.load(Ordering::Relaxed), 2000);
    // Keep-alive: one connection per task, never one per request.
    assert_eq!(r.connects, 8);
    assert_eq!(s.counts.connections.load(Ordering::Relaxed), 8);
    assert_eq!(r.latency_histogram.len(), 2000);
    let lat = r.latency.unwrap();
    assert!(lat.min_ms > 0.0 && lat.min_ms <= lat.p50_ms && lat.p50_ms <= lat.max_ms);
    assert!(r.rps > 0.0);
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["requests"], 2000);
    assert_eq!(json["status_histogram"]["200"], 2000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_histogram_matches_what_the_server_sent() {
    let s = server(Mode::Alternate).await;
    let spec = spec(&s.target, 4, Some(1001), Duration::from_secs(20));
    let r = run(&spec).await;
    assert_eq!(r.requests, 1001);
    assert_eq!(
        r.status_histogram.get(&200).copied(),
        Some(s.counts.ok.load(Ordering::Relaxed))
    );
    assert_eq!(
        r.status_histogram.get(&503).copied(),
        Some(s.counts.unavailable.load(Ordering::Relaxed))
    );
    assert_eq!(r.status_histogram[&200], 501);
    assert_eq!(r.status_histogram[&503], 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_connections_are_reopened() {
    let s = server(Mode::Close).await;
    let spec = spec(&s.target, 4, Some(200), Duration::from_secs(20));
    let r = run(&spec).await;
    assert_eq!(r.requests, 200);
    assert_eq!(r.status_histogram.get(&200), Some(&200), "{:?}", r.errors);
    assert_eq!(r.connects, 200);
    assert_eq!(s.counts.connections.load(Ordering::Relaxed), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_bounded_run_stops_in_time() {
    let s = server(Mode::Ok).await;
    let spec = spec(&s.target, 4, None, Duration::from_millis(300));
    let t = Instant::now();
    let r = run(&spec).await;
    let took = t.elapsed();
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    assert!(took >= Duration::from_millis(300), "took {took:?}");
    assert_eq!(r.stop, StopReason::Deadline);
    assert!(r.requests > 100, "only {} requests", r.requests);
    assert!(r.aborted <= 4);
    // Every request the engine counted was answered by the server (the aborted ones may or
    // may not have reached it).
    let served = s.counts.requests.load(Ordering::Relaxed);
    assert!(
        served >= r.requests && served <= r.requests + r.aborted,
        "{served} vs {}",
        r.requests
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn halt_stops_a_long_run_promptly() {
    let s = server(Mode::Ok).await;
    let spec = spec(&s.target, 4, None, Duration::from_secs(30));
    let halt = CancellationToken::new();
    let h = halt.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        h.cancel();
    });
    let t = Instant::now();
    let r = run_load(&spec, &halt).await.unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(r.stop, StopReason::Halt);
    assert!(r.requests > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_servers_produce_timeouts_and_fresh_connections() {
    let s = server(Mode::Hang).await;
    let mut spec = spec(&s.target, 2, Some(6), Duration::from_secs(5));
    spec.per_request_timeout = Duration::from_millis(100);
    let t = Instant::now();
    let r = run(&spec).await;
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(r.requests, 6);
    assert_eq!(r.responses, 0);
    assert_eq!(r.errors.get(&ErrorKind::Timeout), Some(&6));
    // A timed-out connection is never reused.
    assert_eq!(r.connects, 6);
    assert!(r.latency.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_port_is_counted_as_connect_errors_without_spinning() {
    let target = target(closed_port());
    let spec = spec(&target, 2, None, Duration::from_millis(300));
    let r = run(&spec).await;
    assert_eq!(r.responses, 0);
    let connect_errors = r.errors.get(&ErrorKind::Connect).copied().unwrap_or(0);
    assert!(connect_errors > 0);
    // Backoff up to 100 ms: a handful of attempts per connection, not thousands.
    assert!(connect_errors < 100, "{connect_errors} connect attempts");
}

#[tokio::test]
async fn invalid_requests_and_zero_connections_are_refused() {
    let target = target("127.0.0.1:9".parse().unwrap());
    let mut bad = spec(&target, 1, Some(1), Duration::from_secs(1));
    bad.request = HttpRequest::get("/").header("bad name", "x");
    let err = run_load(&bad, &CancellationToken::new()).await.unwrap_err();
    assert!(matches!(err, LoadError::Request(_)));
    assert!(err.to_string().contains("bad name"), "{err}");
    let none = spec(&target, 0, Some(1), Duration::from_secs(1));
    assert!(matches!(
        run_load(&none, &CancellationToken::new()).await,
        Err(LoadError::NoConnections)
    ));
}

/// A raw HTTP/1.1 server that answers every request head with `pieces`, written one by one
/// with a pause between them (so the client sees them in separate reads), and closes the
/// connection after each answer when `close` is set.
async fn raw_server(
    pieces: &'static [&'static str],
    close: bool,
) -> (Target, Arc<Counts>, server::Server) {
    let (listener, addr) = listen();
    let counts = Arc::new(Counts::default());
    let c = Arc::clone(&counts);
    let server = server::Server::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            c.connections.fetch_add(1, Ordering::Relaxed);
            let c = Arc::clone(&c);
            tokio::spawn(async move {
                let _ = s.set_nodelay(true);
                let mut buf = Vec::new();
                let mut tmp = [0u8; 1024];
                loop {
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        c.requests.fetch_add(1, Ordering::Relaxed);
                        for p in pieces {
                            if s.write_all(p.as_bytes()).await.is_err() {
                                return;
                            }
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                        if close {
                            return;
                        }
                    }
                    match s.read(&mut tmp).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&tmp[..n]),
                    }
                }
            });
        }
    });
    (target(addr), counts, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_bodies_split_across_reads_are_skipped_exactly() {
    static PIECES: &[&str] = &[
        "HTTP/1.1 200 OK\r\nTransfer-Enc",
        "oding: chunked\r\n\r\n5;ext=\"x\"\r\nhel",
        "lo\r\n6\r",
        "\n world\r\n0\r\nX-Trailer: t\r\n",
        "\r\n",
    ];
    let (target, counts, _server) = raw_server(PIECES, false).await;
    let r = run(&spec(&target, 2, Some(20), Duration::from_secs(10))).await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.status_histogram.get(&200), Some(&20));
    assert_eq!(r.body_bytes, 20 * 11);
    assert_eq!(r.connects, 2, "chunked responses keep the connection");
    assert_eq!(counts.requests.load(Ordering::Relaxed), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interim_responses_and_empty_statuses_are_handled() {
    static PIECES: &[&str] = &[
        "HTTP/1.1 100 Continue\r\n\r\n",
        "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
    ];
    let (target, _counts, _server) = raw_server(PIECES, false).await;
    let r = run(&spec(&target, 2, Some(10), Duration::from_secs(10))).await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.status_histogram.get(&204), Some(&10));
    assert_eq!(r.body_bytes, 0);
    assert_eq!(r.connects, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_delimited_by_close_are_read_to_the_end() {
    static PIECES: &[&str] = &[
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n",
        "0123456789",
        "abcdef",
    ];
    let (target, counts, _server) = raw_server(PIECES, true).await;
    let r = run(&spec(&target, 2, Some(10), Duration::from_secs(10))).await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.status_histogram.get(&200), Some(&10));
    assert_eq!(r.body_bytes, 10 * 16);
    assert_eq!(r.connects, 10);
    assert_eq!(counts.connections.load(Ordering::Relaxed), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_requests_expect_no_body_and_garbage_is_a_protocol_error() {
    static HEAD: &[&str] = &["HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"];
    let (target, _counts, _server) = raw_server(HEAD, false).await;
    let mut s = spec(&target, 1, Some(5), Duration::from_secs(10));
    s.request.method = http::Method::HEAD;
    let r = run(&s).await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.status_histogram.get(&200), Some(&5));
    assert_eq!((r.body_bytes, r.connects), (0, 1));

    static GARBAGE: &[&str] = &["SSH-2.0-OpenSSH_9.2\r\n\r\n"];
    let (target, _counts, _server) = raw_server(GARBAGE, false).await;
    let r = run(&spec(&target, 1, Some(3), Duration::from_secs(10))).await;
    assert_eq!(r.errors.get(&ErrorKind::Protocol), Some(&3));
    assert_eq!(
        r.connects, 3,
        "a connection that spoke garbage is not reused"
    );
}
