//! `burst_traffic` with N = 200 (via `Limits.burst_concurrency`) against in-process servers on
//! 127.0.0.1:0: one that serves everything, one that sheds above a concurrency cap with 503,
//! one that never answers, one that answers 500, one that hangs up.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use shakedown_attack::load::burst_traffic;
use shakedown_attack::{AttackContext, Limits, Target};
use shakedown_core::system::{Endpoint, HttpMethod};
use shakedown_core::{AttackOutcome, Component, ComponentKind, Guardrails, HumanDuration, Verdict};
use tokio::net::{TcpListener, TcpSocket};
use tokio_util::sync::CancellationToken;

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

/// A listener whose backlog holds the whole burst (tokio's default of 128 would drop SYNs
/// and stall the overflow for a 1 s retransmit).
fn listener() -> TcpListener {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    socket.listen(1024).unwrap()
}

async fn server(mode: Mode) -> (SocketAddr, Arc<App>, tokio::task::JoinHandle<()>) {
    let app = Arc::new(App {
        mode,
        seen: Seen::default(),
    });
    let router = Router::new()
        .route("/work", get(work))
        .route("/health", get(|| async { "ok" }))
        .with_state(Arc::clone(&app));
    let listener = listener();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (addr, app, task)
}

fn ctx(addr: SocketAddr) -> AttackContext {
    let ep = |path: &str| Endpoint {
        method: HttpMethod::Get,
        path: path.into(),
        query: BTreeMap::new(),
        body: None,
        headers: BTreeMap::new(),
    };
    AttackContext {
        component: Component {
            id: "api".into(),
            name: None,
            kind: ComponentKind::ApiEndpoint,
            target: Some(format!("http://{addr}")),
            health: Some("/health".into()),
            endpoints: vec![ep("/work/{input}"), ep("/work")],
            auth: None,
            guardrails: Guardrails {
                request_timeout: Some(HumanDuration::from_millis(800)),
                ..Guardrails::default()
            },
            patterns: None,
            severity: BTreeMap::new(),
        },
        target: Target {
            addr,
            authority: addr.to_string(),
            base_path: String::new(),
        },
        auth: None,
        halt: CancellationToken::new(),
        limits: Limits {
            request_timeout: Duration::from_secs(3),
            max_attack_duration: Duration::from_secs(8),
            burst_concurrency: Some(N),
            ..Limits::default()
        },
    }
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
    let _s = tokio::spawn(async move {
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
    let listener = listener();
    let addr = listener.local_addr().unwrap();
    let _s = tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            drop(s);
        }
    });
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
