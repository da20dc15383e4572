//! `connection_exhaustion` against in-process servers: axum (many idle connections are
//! cheap: passes), a server that stops accepting after K connections until one ends (the
//! probe hangs: fails, but recovers after release), one that stops accepting for good (no
//! recovery), one that answers 503 above a cap (clean refusal: passes), and an unreachable port.

#[path = "support/context.rs"]
mod context;
#[path = "support/server.rs"]
mod server;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use shakedown_attack::load::connection_exhaustion;
use shakedown_attack::{AttackContext, Limits};
use shakedown_core::{AttackOutcome, Verdict};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use server::{Server, closed_port, listen, serve};

const CONNECTIONS: usize = 100;

fn ctx(addr: SocketAddr) -> AttackContext {
    context::ctx(addr)
        .limits(Limits {
            request_timeout: Duration::from_secs(1),
            max_attack_duration: Duration::from_secs(3),
            recovery_window: Duration::from_secs(2),
            exhaustion_connections: CONNECTIONS,
            ..Limits::default()
        })
        .build()
}

fn metric(o: &AttackOutcome, key: &str) -> f64 {
    let v = o
        .evidence
        .metrics
        .get(key)
        .unwrap_or_else(|| panic!("metric {key} missing"));
    v.as_f64()
        .or_else(|| v.as_bool().map(|b| b as u8 as f64))
        .unwrap()
}

fn has_finding(o: &AttackOutcome, text: &str) -> bool {
    o.evidence.findings.iter().any(|f| f.contains(text))
}

async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"ok"))))
}

/// Serves one connection with hyper, no timeouts: an idle connection is held forever.
async fn serve_conn(stream: TcpStream) {
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service_fn(hello))
        .await;
}

fn axum_server() -> (SocketAddr, Server) {
    serve(axum::Router::new().route("/health", axum::routing::get(|| async { "ok" })))
}

/// Accepts only while fewer than `cap` connections are being served; the rest wait in the
/// listen backlog until one ends.
fn capped_accept_server(cap: usize) -> (SocketAddr, Server) {
    let (listener, addr) = listen();
    let slots = Arc::new(Semaphore::new(cap));
    let server = Server::spawn(async move {
        loop {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                serve_conn(stream).await;
                drop(permit);
            });
        }
    });
    (addr, server)
}

/// Accepts `count` connections, then never again while keeping the listener open.
fn stuck_server(count: usize) -> (SocketAddr, Server) {
    let (listener, addr) = listen();
    let server = Server::spawn(async move {
        for _ in 0..count {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(serve_conn(stream));
        }
        std::future::pending::<()>().await;
        drop(listener);
    });
    (addr, server)
}

/// Serves up to `cap` connections; above that, answers 503 at once and closes. A served
/// request is answered with `connection: close` and frees its slot before the answer leaves,
/// so our baseline probe never holds a slot the held connections could have taken.
fn shedding_server(cap: usize) -> (SocketAddr, Server) {
    let (listener, addr) = listen();
    let active = Arc::new(AtomicUsize::new(0));
    let server = Server::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            if active.load(Ordering::SeqCst) >= cap {
                tokio::spawn(reject(stream));
                continue;
            }
            active.fetch_add(1, Ordering::SeqCst);
            let slot = Arc::new(Slot {
                active: active.clone(),
                freed: AtomicBool::new(false),
            });
            tokio::spawn(async move {
                let service_slot = slot.clone();
                let service = service_fn(move |_req: Request<Incoming>| {
                    service_slot.free();
                    async {
                        let resp = Response::builder()
                            .header("connection", "close")
                            .body(Full::new(Bytes::from_static(b"ok")))
                            .unwrap();
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
                slot.free();
            });
        }
    });
    (addr, server)
}

/// One connection's place under the shedding server's cap, freed exactly once.
struct Slot {
    active: Arc<AtomicUsize>,
    freed: AtomicBool,
}

impl Slot {
    fn free(&self) {
        if !self.freed.swap(true, Ordering::SeqCst) {
            self.active.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

async fn reject(mut stream: TcpStream) {
    let mut buf = [0u8; 4096];
    // Read the request if one comes, so closing does not reset the connection under the 503.
    let _ = tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf)).await;
    let _ = stream
        .write_all(
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        )
        .await;
    let _ = stream.shutdown().await;
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        while stream.read(&mut buf).await.is_ok_and(|n| n > 0) {}
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_holds_idle_connections_and_passes() {
    let (addr, _server) = axum_server();
    let started = Instant::now();
    let out = connection_exhaustion::run(&ctx(addr)).await;
    assert_eq!(out.verdict, Verdict::Passed, "{out:#?}");
    assert_eq!(metric(&out, "connections_accepted"), CONNECTIONS as f64);
    assert_eq!(metric(&out, "held_at_end"), CONNECTIONS as f64);
    assert!(metric(&out, "probes_served") >= 1.0);
    assert_eq!(metric(&out, "probes_hung"), 0.0);
    assert_eq!(metric(&out, "recovered"), 1.0);
    assert_eq!(
        out.evidence
            .status_histogram
            .get("held: open_until_release"),
        Some(&(CONNECTIONS as u64))
    );
    assert!(
        out.evidence
            .status_histogram
            .contains_key("under load: 200")
    );
    assert!(
        has_finding(&out, "probe served under load"),
        "{:#?}",
        out.evidence.findings
    );
    assert!(started.elapsed() < Duration::from_secs(6));
    // The hold lasts the whole period (3 s in these limits).
    assert!(metric(&out, "hold_ms") >= 2900.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_that_stops_accepting_fails_with_a_hung_probe() {
    let (addr, _server) = capped_accept_server(20);
    let out = connection_exhaustion::run(&ctx(addr)).await;
    assert_eq!(out.verdict, Verdict::Failed, "{out:#?}");
    assert!(
        has_finding(&out, "probe hung"),
        "{:#?}",
        out.evidence.findings
    );
    assert!(metric(&out, "probes_hung") >= 1.0);
    assert_eq!(metric(&out, "probes_served"), 0.0);
    assert!(
        out.evidence
            .status_histogram
            .contains_key("under load: timeout")
    );
    // Connections beyond the cap still complete in the kernel backlog.
    assert_eq!(metric(&out, "connections_accepted"), CONNECTIONS as f64);
    // Once we let go, the server accepts again: it recovers, but the hang already failed it.
    assert_eq!(metric(&out, "recovered"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_that_never_comes_back_fails() {
    // The baseline probe uses one of the five accepts.
    let (addr, _server) = stuck_server(5);
    let out = connection_exhaustion::run(&ctx(addr)).await;
    assert_eq!(out.verdict, Verdict::Failed, "{out:#?}");
    assert!(
        has_finding(&out, "did not come back"),
        "{:#?}",
        out.evidence.findings
    );
    assert_eq!(metric(&out, "recovered"), 0.0);
    assert!(
        out.evidence
            .status_histogram
            .contains_key("after release: timeout")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_shedding_with_503_passes() {
    let cap = 30;
    let (addr, _server) = shedding_server(cap);
    let out = connection_exhaustion::run(&ctx(addr)).await;
    assert_eq!(out.verdict, Verdict::Passed, "{out:#?}");
    assert!(out.guardrail_triggered);
    assert!(metric(&out, "probes_shed") >= 1.0, "{out:#?}");
    assert_eq!(metric(&out, "probes_hung"), 0.0);
    assert!(
        out.evidence
            .status_histogram
            .contains_key("under load: 503")
    );
    // The idle connections above the cap got the 503 too, and were closed by the server.
    assert!(
        metric(&out, "closed_by_server") >= (CONNECTIONS - cap - 1) as f64,
        "{out:#?}"
    );
    assert!(
        has_finding(&out, "server closed"),
        "{:#?}",
        out.evidence.findings
    );
    assert_eq!(metric(&out, "recovered"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_target_is_not_passed() {
    let addr = closed_port();
    let out = connection_exhaustion::run(&ctx(addr)).await;
    assert_eq!(out.verdict, Verdict::Inconclusive, "{out:#?}");
    assert!(
        out.evidence
            .status_histogram
            .contains_key("baseline: connect_error")
    );
}
