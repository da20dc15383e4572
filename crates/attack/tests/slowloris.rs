//! `slowloris` against in-process hyper servers: one with a header deadline (passes), one
//! without (fails with the open connections as evidence), one that serves a single
//! connection at a time (the probe starves), an unreachable port, and a halt.
//!
//! hyper's `header_read_timeout` (hyper 1.12, `proto/h1/conn.rs`, `poll_read_head`) arms one
//! deadline when it starts reading a head and clears it only once a complete head has been
//! parsed; bytes trickling in do not re-arm it. So it is a deadline on the whole head and
//! stops a slowloris: `guarded_server_passes` checks that each connection was dropped about
//! 1 s after it opened although it kept sending bytes, and that hyper reported its header
//! timeout error for it. hyper closes the connection without answering 408 (a reset when a
//! byte we trickled was still unread).

#[path = "support/context.rs"]
mod context;
#[path = "support/server.rs"]
mod server;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use shakedown_attack::load::slowloris;
use shakedown_attack::{AttackContext, Limits};
use shakedown_core::{Guardrails, HumanDuration, Verdict};

use server::{Server, closed_port, listen};

const SLOW_CONNECTIONS: usize = 20;

fn ctx(addr: SocketAddr) -> AttackContext {
    context::ctx(addr)
        .guardrails(Guardrails {
            request_timeout: Some(HumanDuration::from_secs(1)),
            ..Guardrails::default()
        })
        .limits(Limits {
            request_timeout: Duration::from_secs(1),
            max_attack_duration: Duration::from_secs(8),
            recovery_window: Duration::from_secs(2),
            slowloris_grace: Duration::from_secs(1),
            slowloris_connections: SLOW_CONNECTIONS,
            ..Limits::default()
        })
        .build()
}

async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"ok"))))
}

/// What the test server saw.
#[derive(Default)]
struct ServerStats {
    /// Connections being served right now.
    active: AtomicUsize,
    /// Connections hyper ended with its header-timeout error.
    header_timeouts: AtomicUsize,
}

/// A hyper HTTP/1 server. `header_timeout` = hyper's `header_read_timeout` (with a timer);
/// `None` = no timer, so no deadline at all. `serial` serves one connection at a time.
fn server(
    header_timeout: Option<Duration>,
    serial: bool,
) -> (SocketAddr, Arc<ServerStats>, Server) {
    let (listener, addr) = listen();
    let stats = Arc::new(ServerStats::default());
    let shared = stats.clone();
    let server = Server::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let stats = shared.clone();
            let conn = async move {
                stats.active.fetch_add(1, Ordering::SeqCst);
                let mut builder = hyper::server::conn::http1::Builder::new();
                if let Some(t) = header_timeout {
                    builder.timer(TokioTimer::new()).header_read_timeout(t);
                }
                let served = builder
                    .serve_connection(TokioIo::new(stream), service_fn(hello))
                    .await;
                if served.is_err_and(|e| e.is_timeout()) {
                    stats.header_timeouts.fetch_add(1, Ordering::SeqCst);
                }
                stats.active.fetch_sub(1, Ordering::SeqCst);
            };
            if serial {
                conn.await;
            } else {
                tokio::spawn(conn);
            }
        }
    });
    (addr, stats, server)
}

/// Waits (bounded) until the server has no connection left: every socket we opened is closed.
async fn all_closed(stats: &ServerStats) -> bool {
    for _ in 0..40 {
        if stats.active.load(Ordering::SeqCst) == 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn metric(o: &shakedown_core::AttackOutcome, key: &str) -> f64 {
    o.evidence
        .metrics
        .get(key)
        .and_then(|v| v.as_f64())
        .unwrap_or_else(|| panic!("metric {key} missing"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guarded_server_passes() {
    let (addr, stats, _server) = server(Some(Duration::from_secs(1)), false);
    let started = Instant::now();
    let out = slowloris::run(&ctx(addr)).await;
    assert_eq!(out.verdict, Verdict::Passed, "{out:#?}");
    assert!(out.guardrail_triggered);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "ended early once all were dropped"
    );
    assert_eq!(metric(&out, "connections_opened"), SLOW_CONNECTIONS as f64);
    assert_eq!(metric(&out, "dropped"), SLOW_CONNECTIONS as f64);
    assert_eq!(metric(&out, "still_open"), 0.0);
    // Dropped by the 1 s head deadline although bytes kept arriving: about 5–15 bytes each.
    let p50 = metric(&out, "drop_ms_p50");
    assert!((900.0..1800.0).contains(&p50), "p50 drop {p50} ms");
    assert!(
        metric(&out, "bytes_trickled") >= 3.0 * SLOW_CONNECTIONS as f64,
        "{out:#?}"
    );
    assert_eq!(
        stats.header_timeouts.load(Ordering::SeqCst),
        SLOW_CONNECTIONS
    );
    // hyper closes without a 408: a plain close, or a reset when a trickled byte was unread.
    let h = &out.evidence.status_histogram;
    let closed = h.get("slow: closed").unwrap_or(&0) + h.get("slow: reset").unwrap_or(&0);
    assert_eq!(closed, SLOW_CONNECTIONS as u64, "{h:?}");
    // The probe was served while the slow connections were open.
    assert!(metric(&out, "probes_ok_while_open") >= 1.0, "{out:#?}");
    assert!(out.evidence.status_histogram.contains_key("probe: 200"));
    assert!(out.evidence.latency.is_some());
    assert!(all_closed(&stats).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_without_header_timeout_fails() {
    let (addr, stats, _server) = server(None, false);
    let out = slowloris::run(&ctx(addr)).await;
    assert_eq!(out.verdict, Verdict::Failed, "{out:#?}");
    assert!(!out.guardrail_triggered);
    assert_eq!(metric(&out, "still_open"), SLOW_CONNECTIONS as f64);
    assert_eq!(metric(&out, "dropped"), 0.0);
    let finding =
        format!("{SLOW_CONNECTIONS} of {SLOW_CONNECTIONS} slow connections still open after 2s");
    assert!(
        out.evidence.findings.iter().any(|f| f.contains(&finding)),
        "{:#?}",
        out.evidence.findings
    );
    // Probes were served: the failure is the open connections, not starvation.
    assert!(!out.summary.contains("unavailable"), "{}", out.summary);
    assert!(metric(&out, "probes_ok") >= 1.0);
    assert!(
        out.evidence
            .samples
            .iter()
            .any(|s| s.outcome.contains("still open"))
    );
    // Every slow socket was closed when the attack ended.
    assert!(
        all_closed(&stats).await,
        "server still has {} connections",
        stats.active.load(Ordering::SeqCst)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_connection_server_starves_the_probe() {
    let (addr, _stats, _server) = server(None, true);
    let out = slowloris::run(&ctx(addr)).await;
    assert_eq!(out.verdict, Verdict::Failed, "{out:#?}");
    assert!(
        out.evidence
            .findings
            .iter()
            .any(|f| f.contains("server unavailable while under slowloris")),
        "{:#?}",
        out.evidence.findings
    );
    assert_eq!(metric(&out, "probes_ok"), 0.0);
    assert!(out.evidence.status_histogram.contains_key("probe: timeout"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_target_is_inconclusive() {
    let addr = closed_port();
    let out = slowloris::run(&ctx(addr)).await;
    assert_eq!(out.verdict, Verdict::Inconclusive, "{out:#?}");
    assert_eq!(metric(&out, "connections_opened"), 0.0);
    assert_eq!(
        out.evidence.status_histogram.get("slow: connect_error"),
        Some(&(SLOW_CONNECTIONS as u64))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn halt_stops_and_closes_everything() {
    let (addr, stats, _server) = server(None, false);
    let ctx = ctx(addr);
    let halt = ctx.halt.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        halt.cancel();
    });
    let started = Instant::now();
    let out = slowloris::run(&ctx).await;
    assert_eq!(out.verdict, Verdict::Inconclusive);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert!(all_closed(&stats).await);
}
