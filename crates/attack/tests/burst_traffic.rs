//! `burst_traffic` with N = 200 (via `Limits.burst_concurrency`) against in-process servers on
//! 127.0.0.1:0: one that serves everything, one that sheds above a concurrency cap with 503,
//! one that never answers, one that answers 500, one that hangs up.

#[path = "support/context.rs"]
mod context;
#[path = "support/server.rs"]
mod server;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use shakedown_attack::load::burst_traffic;
use shakedown_attack::{AttackContext, Limits};
use shakedown_core::{AttackOutcome, Guardrails, HumanDuration, Verdict};
use tokio::net::TcpListener;

use server::{Server, hang_up, serve};

const N: usize = 200;

#[derive(Clone, Copy)]
enum Mode {
    /// 200 after 100 ms.
    Serve,
    /// 503 when more than 50 requests are in flight, else 200 after 100 ms.
    Shed,
    /// Never answers.
    Hang,
    /// 500 at once.
    Error,
}

#[derive(Default)]
struct Seen {
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    requests: AtomicU64,
}

struct App {
    mode: Mode,
    seen: Seen,
}

async fn work(State(app): State<Arc<App>>) -> (StatusCode, &'static str) {
    let s = &app.seen;
    s.requests.fetch_add(1, Ordering::Relaxed);
    let now = s.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    s.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let answer = match app.mode {
        Mode::Shed if now > 50 => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
        Mode::Serve | Mode::Shed => {
            tokio::time::sleep(Duration::from_millis(100)).await;
            (StatusCode::OK, "done")
        }
        Mode::Hang => std::future::pending().await,
        Mode::Error => (StatusCode::INTERNAL_SERVER_ERROR, "boom"),
    };
    s.in_flight.fetch_sub(1, Ordering::SeqCst);
    answer
}

async fn server(mode: Mode) -> (SocketAddr, Arc<App>, Server) {
    let app = Arc::new(App {
        mode,
        seen: Seen::default(),
    });
    let router = Router::new()
        .route("/work", get(work))
        .route("/health", get(|| async { "ok" }))
        .with_state(Arc::clone(&app));
    // The listen backlog holds the whole burst.
    let (addr, server) = serve(router);
    (addr, app, server)
}

fn ctx(addr: SocketAddr) -> AttackContext {
    context::ctx(addr)
        .get("/work/{input}")
        .get("/work")
        .guardrails(Guardrails {
            request_timeout: Some(HumanDuration::from_millis(800)),
            ..Guardrails::default()
        })
        .limits(Limits {
            request_timeout: Duration::from_secs(3),
            max_attack_duration: Duration::from_secs(8),
            burst_concurrency: Some(N),
            ..Limits::default()
        })
        .build()
}

fn findings(o: &AttackOutcome) -> String {
    o.evidence.findings.join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_serves_the_whole_burst_passes() {
    let (addr, app, _s) = server(Mode::Serve).await;
    let o = burst_traffic::run(&ctx(addr)).await;
    assert_eq!(o.verdict, Verdict::Passed, "{}", findings(&o));
    assert_eq!(o.evidence.requests_sent, N as u64);
    assert_eq!(o.evidence.status_histogram["200"], N as u64);
    assert_eq!(o.evidence.metrics["served"], N as u64);
    assert_eq!(o.evidence.metrics["concurrency"], N as u64);
    assert_eq!(app.seen.requests.load(Ordering::Relaxed), N as u64);
    // Released together: the server had (nearly) the whole burst in flight at once.
    let peak = app.seen.max_in_flight.load(Ordering::SeqCst);
    assert!(
        peak >= 150,
        "peak concurrency at the server was only {peak}"
    );
    let lat = o.evidence.latency.unwrap();
    assert!(lat.p50_ms >= 100.0, "{lat:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_listen_backlog_slows_the_connects_but_not_the_verdict() {
    // tokio's default backlog is 128 and this server starts accepting late, so most of the
    // 200 SYNs beyond the backlog are dropped; the kernel retransmits them after 1 s, beyond
    // the 800 ms request timeout but inside the connect phase's bound.
    let app = Arc::new(App {
        mode: Mode::Serve,
        seen: Seen::default(),
    });
    let router = Router::new()
        .route("/work", get(work))
        .with_state(Arc::clone(&app));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _s = Server::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = axum::serve(listener, router).await;
    });
    let o = burst_traffic::run(&ctx(addr)).await;
    assert_eq!(o.verdict, Verdict::Passed, "{}", findings(&o));
    assert_eq!(o.evidence.metrics["served"], N as u64);
    let phase = o.evidence.metrics["connect_phase_ms"].as_u64().unwrap();
    assert!(
        phase >= 800,
        "connect phase took {phase} ms; the backlog did not overflow"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shedding_above_a_cap_with_503_passes() {
    let (addr, _app, _s) = server(Mode::Shed).await;
    let o = burst_traffic::run(&ctx(addr)).await;
    assert_eq!(o.verdict, Verdict::Passed, "{}", findings(&o));
    assert!(o.guardrail_triggered);
    let shed = o.evidence.metrics["shed"].as_u64().unwrap();
    let served = o.evidence.metrics["served"].as_u64().unwrap();
    assert!(shed > 0 && served >= 50, "served {served}, shed {shed}");
    assert_eq!(shed + served, N as u64);
    assert_eq!(o.evidence.status_histogram["503"], shed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_fails_on_timeouts() {
    let (addr, _app, _s) = server(Mode::Hang).await;
    let t = Instant::now();
    let o = burst_traffic::run(&ctx(addr)).await;
    assert_eq!(o.verdict, Verdict::Failed, "{}", findings(&o));
    assert_eq!(o.evidence.metrics["timeouts"], N as u64);
    // The per-request timeout is the claimed 800 ms (below the engine's 3 s).
    assert_eq!(o.evidence.metrics["timeout_ms"], 800);
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert!(
        findings(&o).contains("connection errors and timeouts dominate"),
        "{}",
        findings(&o)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_500s_fails() {
    let (addr, _app, _s) = server(Mode::Error).await;
    let o = burst_traffic::run(&ctx(addr)).await;
    assert_eq!(o.verdict, Verdict::Failed, "{}", findings(&o));
    assert_eq!(o.evidence.status_histogram["500"], N as u64);
    assert!(
        findings(&o).contains("5xx other than 503"),
        "{}",
        findings(&o)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_hangs_up_fails_on_connection_errors() {
    // Accepts and closes every connection at once.
    let (addr, _s) = hang_up();
    let o = burst_traffic::run(&ctx(addr)).await;
    assert_eq!(o.verdict, Verdict::Failed, "{}", findings(&o));
    assert_eq!(o.evidence.metrics["closed"], N as u64);
}

#[tokio::test]
async fn halt_stops_the_burst() {
    let (addr, _app, _s) = server(Mode::Hang).await;
    let c = ctx(addr);
    let h = c.halt.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        h.cancel();
    });
    let t = Instant::now();
    let o = burst_traffic::run(&c).await;
    assert_eq!(o.verdict, Verdict::Inconclusive);
    assert!(o.summary.contains("halted"));
    assert!(
        t.elapsed() < Duration::from_millis(700),
        "{:?}",
        t.elapsed()
    );
}
