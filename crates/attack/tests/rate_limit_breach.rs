//! `rate_limit_breach` against in-process axum servers on 127.0.0.1:0 with a real fixed-window
//! limiter (or none), answering 429 with or without `Retry-After`, or 503.

#[path = "support/context.rs"]
mod context;
#[path = "support/server.rs"]
mod server;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use shakedown_attack::owasp::rate_limit_breach;
use shakedown_attack::{AttackContext, Limits};
use shakedown_core::guardrail::RateLimit;
use shakedown_core::{Guardrails, HumanDuration, Verdict};

use server::{Server, closed_port, serve};

/// How the server limits.
#[derive(Clone, Copy)]
struct Policy {
    /// Requests allowed per window; `None` = no limiter.
    limit: Option<u64>,
    window: Duration,
    status: StatusCode,
    retry_after: bool,
    /// Delay before every answer.
    delay: Duration,
}

impl Policy {
    fn limit(limit: u64) -> Policy {
        Policy {
            limit: Some(limit),
            window: Duration::from_secs(10),
            status: StatusCode::TOO_MANY_REQUESTS,
            retry_after: true,
            delay: Duration::ZERO,
        }
    }
    fn none() -> Policy {
        Policy {
            limit: None,
            ..Policy::limit(0)
        }
    }
}

struct Limiter {
    policy: Policy,
    /// Start of the current window (set by the first request) and requests seen in it.
    window: Mutex<(Option<Instant>, u64)>,
    served: AtomicU64,
}

async fn items(State(l): State<Arc<Limiter>>) -> Response {
    if !l.policy.delay.is_zero() {
        tokio::time::sleep(l.policy.delay).await;
    }
    let over = {
        let mut w = l.window.lock().unwrap();
        let now = Instant::now();
        if w.0.is_none_or(|start| now - start >= l.policy.window) {
            *w = (Some(now), 0);
        }
        w.1 += 1;
        l.policy.limit.is_some_and(|limit| w.1 > limit)
    };
    if over {
        let mut resp = (l.policy.status, "slow down").into_response();
        if l.policy.retry_after {
            resp.headers_mut()
                .insert("retry-after", "10".parse().unwrap());
        }
        return resp;
    }
    l.served.fetch_add(1, Ordering::Relaxed);
    "[]".into_response()
}

async fn server(policy: Policy) -> (SocketAddr, Arc<Limiter>, Server) {
    let limiter = Arc::new(Limiter {
        policy,
        window: Mutex::new((None, 0)),
        served: AtomicU64::new(0),
    });
    let app = Router::new()
        .route("/items", get(items))
        .route("/health", get(|| async { "ok" }))
        .with_state(Arc::clone(&limiter));
    let (addr, server) = serve(app);
    (addr, limiter, server)
}

fn ctx(addr: SocketAddr, rate_limit: Option<RateLimit>) -> AttackContext {
    context::ctx(addr)
        // The `{input}` endpoint comes first: the attack must skip it for `/items`.
        .get("/items/{input}")
        .get("/items")
        .guardrails(Guardrails {
            rate_limit,
            ..Guardrails::default()
        })
        .limits(Limits {
            request_timeout: Duration::from_secs(2),
            max_attack_duration: Duration::from_secs(8),
            ..Limits::default()
        })
        .build()
}

fn per(requests: u32, window: Duration) -> Option<RateLimit> {
    Some(RateLimit {
        requests,
        per: HumanDuration(window),
    })
}

fn findings(o: &shakedown_core::AttackOutcome) -> String {
    o.evidence.findings.join("\n")
}

#[tokio::test]
async fn a_limiter_at_the_claimed_limit_passes_with_the_exact_first_429() {
    let (addr, limiter, _server) = server(Policy::limit(20)).await;
    let o = rate_limit_breach::run(&ctx(addr, per(20, Duration::from_secs(10)))).await;
    assert_eq!(o.verdict, Verdict::Passed, "{}", findings(&o));
    assert!(o.guardrail_triggered);
    let m = &o.evidence.metrics;
    assert_eq!(m["first_429_at"], 21);
    assert_eq!(m["allowed_until"], 20);
    assert_eq!(m["limit"], 20);
    assert_eq!(m["allowed"], 22);
    assert_eq!(m["retry_after"], "10");
    assert_eq!(m["endpoint"], "GET /items");
    assert_eq!(o.evidence.requests_sent, 30);
    assert_eq!(o.evidence.status_histogram["200"], 20);
    assert_eq!(o.evidence.status_histogram["429"], 10);
    assert_eq!(limiter.served.load(Ordering::Relaxed), 20);
    assert!(o.evidence.samples.iter().any(|s| s.status == Some(429)));
    assert!(o.evidence.latency.is_some());
}

#[tokio::test]
async fn a_429_without_retry_after_still_passes_with_a_note() {
    let (addr, _l, _server) = server(Policy {
        retry_after: false,
        ..Policy::limit(10)
    })
    .await;
    let o = rate_limit_breach::run(&ctx(addr, per(10, Duration::from_secs(10)))).await;
    assert_eq!(o.verdict, Verdict::Passed, "{}", findings(&o));
    assert_eq!(o.evidence.metrics["retry_after"], serde_json::Value::Null);
    assert!(findings(&o).contains("no Retry-After"), "{}", findings(&o));
}

#[tokio::test]
async fn no_limiter_fails_with_the_count_and_the_claim() {
    let (addr, limiter, _server) = server(Policy::none()).await;
    let o = rate_limit_breach::run(&ctx(addr, per(20, Duration::from_secs(10)))).await;
    assert_eq!(o.verdict, Verdict::Failed);
    assert!(!o.guardrail_triggered);
    assert!(
        findings(&o).contains("no 429 after 30 requests, limit 20 per 10s"),
        "{}",
        findings(&o)
    );
    assert_eq!(o.evidence.metrics["first_429_at"], serde_json::Value::Null);
    assert_eq!(o.evidence.status_histogram["200"], 30);
    assert_eq!(limiter.served.load(Ordering::Relaxed), 30);
}

#[tokio::test]
async fn a_limiter_that_kicks_in_too_late_fails() {
    // Claimed 20, enforced at 26: the first 429 is request 27, past 20 + 10% = 22.
    let (addr, _l, _server) = server(Policy::limit(26)).await;
    let o = rate_limit_breach::run(&ctx(addr, per(20, Duration::from_secs(10)))).await;
    assert_eq!(o.verdict, Verdict::Failed, "{}", findings(&o));
    assert_eq!(o.evidence.metrics["first_429_at"], 27);
    assert!(findings(&o).contains("429 too late"), "{}", findings(&o));
}

#[tokio::test]
async fn a_503_instead_of_429_fails_with_the_nginx_hint() {
    let policy = Policy {
        status: StatusCode::SERVICE_UNAVAILABLE,
        ..Policy::limit(20)
    };
    let (addr, _l, _server) = server(policy).await;
    let o = rate_limit_breach::run(&ctx(addr, per(20, Duration::from_secs(10)))).await;
    assert_eq!(o.verdict, Verdict::Failed);
    assert_eq!(o.evidence.metrics["first_503_at"], 21);
    assert!(
        findings(&o).contains("limit_req_status 429"),
        "{}",
        findings(&o)
    );
    assert!(o.summary.contains("503 instead of 429"), "{}", o.summary);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn high_claimed_rates_are_sent_concurrently_and_still_judged() {
    // 1800 requests in a 2 s window is above the sequential rate: eight in flight.
    let policy = Policy {
        window: Duration::from_secs(2),
        ..Policy::limit(1200)
    };
    let (addr, limiter, _server) = server(policy).await;
    let o = rate_limit_breach::run(&ctx(addr, per(1200, Duration::from_secs(2)))).await;
    assert_eq!(o.verdict, Verdict::Passed, "{}", findings(&o));
    let m = &o.evidence.metrics;
    assert_eq!(m["in_flight"], 8);
    let first = m["first_429_at"].as_u64().unwrap();
    // With eight in flight the server sees requests out of order (a stalled worker holds its
    // index while the others go on), but exactly 1200 get through, so one of the first 1201
    // indexes must be refused.
    assert!(first <= 1201, "first 429 at {first}");
    assert_eq!(m["allowed_until"], 1200);
    assert_eq!(limiter.served.load(Ordering::Relaxed), 1200);
    assert_eq!(o.evidence.requests_sent, 1800);
}

#[tokio::test]
async fn a_window_too_short_for_the_server_is_inconclusive_not_failed() {
    // 30 requests, 50 ms per answer, a 50 ms window: nothing can be judged inside it.
    let policy = Policy {
        delay: Duration::from_millis(50),
        ..Policy::none()
    };
    let (addr, _l, _server) = server(policy).await;
    let t = Instant::now();
    let o = rate_limit_breach::run(&ctx(addr, per(20, Duration::from_millis(50)))).await;
    assert_eq!(o.verdict, Verdict::Inconclusive, "{}", findings(&o));
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn no_claim_or_no_server_is_inconclusive() {
    let (addr, _l, _server) = server(Policy::none()).await;
    let o = rate_limit_breach::run(&ctx(addr, None)).await;
    assert_eq!(o.verdict, Verdict::Inconclusive);
    assert!(o.summary.contains("guardrails.rate_limit"), "{}", o.summary);
    assert_eq!(o.evidence.requests_sent, 0);

    let closed = closed_port();
    let o = rate_limit_breach::run(&ctx(closed, per(20, Duration::from_secs(10)))).await;
    assert_eq!(o.verdict, Verdict::Inconclusive, "{}", findings(&o));
    assert_eq!(o.evidence.status_histogram["connect_error"], 30);
}

#[tokio::test]
async fn halt_stops_the_attack() {
    let policy = Policy {
        delay: Duration::from_millis(100),
        ..Policy::none()
    };
    let (addr, _l, _server) = server(policy).await;
    let c = ctx(addr, per(100, Duration::from_secs(60)));
    let h = c.halt.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(250)).await;
        h.cancel();
    });
    let t = Instant::now();
    let o = rate_limit_breach::run(&c).await;
    assert_eq!(o.verdict, Verdict::Inconclusive);
    assert!(o.summary.contains("halted"), "{}", o.summary);
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
}

#[tokio::test]
async fn a_budget_spent_by_earlier_traffic_is_waited_out_before_counting() {
    // A 1 s window, with its whole budget spent just before the attack (as earlier attacks
    // in a campaign do): the attack waits one window, so the first 429 comes at 21, not 1.
    let policy = Policy {
        window: Duration::from_secs(1),
        ..Policy::limit(20)
    };
    let (addr, _limiter, _server) = server(policy).await;
    let target = context::target(addr);
    for _ in 0..25 {
        let _ = shakedown_attack::http::send(
            &target,
            &shakedown_attack::http::HttpRequest::get("/items"),
            Duration::from_secs(1),
        )
        .await;
    }
    let o = rate_limit_breach::run(&ctx(addr, per(20, Duration::from_secs(1)))).await;
    assert_eq!(o.verdict, Verdict::Passed, "{}", findings(&o));
    assert_eq!(o.evidence.metrics["settled_ms"], 1000);
    assert_eq!(o.evidence.metrics["first_429_at"], 21);
}
