//! The data attacks (malformed_data, null_injection, type_confusion) against in-process axum
//! servers on 127.0.0.1:0: a well-behaved typed JSON API passes all three; fragile handlers
//! (panicking `unwrap`s, 500 on bad input, 500 on null, an `i64` unwrap, a service that stops)
//! fail with evidence naming the probe; no input endpoint or refused credentials is
//! inconclusive, never passed.

#[path = "support/context.rs"]
mod context;
#[path = "support/server.rs"]
mod server;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Json, Path, Query};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use shakedown_attack::data::{malformed_data, null_injection, type_confusion};
use shakedown_attack::{AttackContext, Limits, execute};
use shakedown_core::Pattern;
use shakedown_core::result::{AttackOutcome, Verdict};
use tokio_util::sync::CancellationToken;

use server::{closed_port, serve, serve_until};

fn ctx(addr: SocketAddr, endpoints: Value) -> AttackContext {
    context::ctx(addr)
        .endpoints_json(endpoints)
        .auth("Authorization", "Bearer let-me-in")
        .limits(Limits {
            request_timeout: Duration::from_secs(2),
            max_attack_duration: Duration::from_secs(8),
            recovery_window: Duration::from_secs(2),
            ..Limits::default()
        })
        .build()
}

fn health() -> Router {
    Router::new().route("/health", get(|| async { "ok" }))
}

/// The failing findings, for assertion messages.
fn findings(o: &AttackOutcome) -> String {
    o.evidence.findings.join("\n")
}

fn has_finding(o: &AttackOutcome, all: &[&str]) -> bool {
    o.evidence
        .findings
        .iter()
        .any(|f| all.iter().all(|s| f.contains(s)))
}

// ---- the well-behaved API: typed extractors reject with 400/415/422 ----

#[derive(Deserialize)]
struct NewUser {
    name: String,
    age: u32,
}

#[derive(Deserialize)]
struct Search {
    q: String,
}

fn well_behaved() -> Router {
    health()
        .route(
            "/users",
            post(|Json(u): Json<NewUser>| async move {
                (
                    StatusCode::CREATED,
                    Json(json!({"name_len": u.name.len(), "age": u.age})),
                )
            }),
        )
        .route(
            "/users/{id}",
            get(|Path(id): Path<String>| async move {
                if id == "1" {
                    (StatusCode::OK, "alice")
                } else {
                    (StatusCode::NOT_FOUND, "no such user")
                }
            }),
        )
        .route(
            "/search",
            get(|Query(s): Query<Search>| async move { Json(json!({"q_len": s.q.len()})) }),
        )
}

fn well_behaved_endpoints() -> Value {
    json!([
        {"method": "POST", "path": "/users", "body": {"name": "{input}", "age": 30}},
        {"path": "/users/{input}"},
        {"path": "/search", "query": {"q": "{input}"}},
    ])
}

#[tokio::test]
async fn well_behaved_api_passes_all_three() {
    let (addr, _server) = serve(well_behaved());
    let ctx = ctx(addr, well_behaved_endpoints());

    let malformed = malformed_data::run(&ctx).await;
    assert_eq!(
        malformed.verdict,
        Verdict::Passed,
        "{}",
        findings(&malformed)
    );
    assert!(malformed.guardrail_triggered);
    let ev = &malformed.evidence;
    assert!(ev.requests_sent >= 25, "{}", ev.requests_sent);
    assert!(
        ev.status_histogram
            .keys()
            .all(|k| ["400", "415", "422", "201"].contains(&k.as_str())),
        "{:?}",
        ev.status_histogram
    );
    assert!(
        ev.status_histogram.get("415").copied().unwrap_or(0) >= 3,
        "{:?}",
        ev.status_histogram
    );
    assert!(ev.latency.is_some() && !ev.samples.is_empty());
    // The 1 MB string is valid JSON the typed API stores: handled, and said so.
    assert!(
        has_finding(&malformed, &["handled", "huge_string=201"]),
        "{}",
        findings(&malformed)
    );

    let nulls = null_injection::run(&ctx).await;
    assert_eq!(nulls.verdict, Verdict::Passed, "{}", findings(&nulls));
    assert!(nulls.evidence.status_histogram.contains_key("422"));

    let types = type_confusion::run(&ctx).await;
    assert_eq!(types.verdict, Verdict::Passed, "{}", findings(&types));
    assert!(types.evidence.requests_sent >= 60);

    // Through the engine too: health before, the attack, recovery after.
    let result = execute(Pattern::TypeConfusion, &ctx).await;
    assert_eq!(result.verdict, Verdict::Passed, "{}", result.summary);
    assert!(result.health_before.healthy);
    assert!(result.recovery.is_some_and(|r| r.recovered));
}

#[tokio::test]
async fn malformed_data_falls_back_to_url_inputs_without_a_body_endpoint() {
    let (addr, _server) = serve(well_behaved());
    let ctx = ctx(
        addr,
        json!([{"path": "/users/{input}"}, {"path": "/search", "query": {"q": "{input}"}}]),
    );
    let out = malformed_data::run(&ctx).await;
    assert_eq!(out.verdict, Verdict::Passed, "{}", findings(&out));
    assert!(
        out.evidence.requests_sent >= 30,
        "{}",
        out.evidence.requests_sent
    );
    // Unknown users are 404: refused, but not the way the guardrail promises, so noted.
    assert!(
        has_finding(&out, &["not with 400/415/422", "truncated_json=404"]),
        "{}",
        findings(&out)
    );
}

// ---- fragile APIs ----

#[tokio::test]
async fn unwrapping_parser_fails_malformed_data_with_the_probe_named() {
    // Parses by hand and unwraps: broken JSON panics the handler, the connection drops; any
    // content type is taken as JSON.
    let app = health().route(
        "/users",
        post(|body: Bytes| async move {
            let v: Value = serde_json::from_slice(&body).unwrap();
            let name = v["name"].as_str().unwrap_or("").to_string();
            (StatusCode::CREATED, name)
        }),
    );
    let (addr, _server) = serve(app);
    let ctx = ctx(
        addr,
        json!([{"method": "POST", "path": "/users", "body": {"name": "{input}"}}]),
    );
    let out = malformed_data::run(&ctx).await;
    assert_eq!(out.verdict, Verdict::Failed, "{}", findings(&out));
    assert!(
        has_finding(
            &out,
            &["`truncated_json` on POST /users", "connection dropped"]
        ),
        "{}",
        findings(&out)
    );
    assert!(
        has_finding(
            &out,
            &[
                "`content_type_text_plain`",
                "accepted malformed body with 201"
            ]
        ),
        "{}",
        findings(&out)
    );
    assert!(
        out.evidence
            .status_histogram
            .get("closed")
            .copied()
            .unwrap_or(0)
            >= 5
    );
    assert_eq!(out.evidence.samples[0].outcome, "connection closed");
    assert!(
        out.evidence.samples[0]
            .request
            .starts_with("truncated_json: POST /users")
    );
    assert!(
        out.summary.contains("dropped connection"),
        "{}",
        out.summary
    );
}

#[tokio::test]
async fn server_error_on_bad_input_fails_malformed_data() {
    let app = health().route(
        "/users",
        post(|body: Bytes| async move {
            match serde_json::from_slice::<NewUser>(&body) {
                Ok(u) => (StatusCode::CREATED, u.name),
                Err(e) => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("internal error: {e}"),
                ),
            }
        }),
    );
    let (addr, _server) = serve(app);
    let ctx = ctx(
        addr,
        json!([{"method": "POST", "path": "/users", "body": {"name": "{input}", "age": 1}}]),
    );
    let out = malformed_data::run(&ctx).await;
    assert_eq!(out.verdict, Verdict::Failed, "{}", findings(&out));
    assert!(
        has_finding(
            &out,
            &[
                "`truncated_json` on POST /users",
                "answered 500",
                "internal error"
            ]
        ),
        "{}",
        findings(&out)
    );
    assert!(
        has_finding(
            &out,
            &["`raw_control_bytes`", "answered 500", r"\u{1}\u{8}\n"]
        ),
        "{}",
        findings(&out)
    );
    // Findings are capped; the rest are counted, not lost.
    assert!(
        has_finding(&out, &["more failing probes"]),
        "{}",
        findings(&out)
    );
    assert!(
        out.evidence.metrics["server_errors"].as_u64() >= Some(20),
        "{:?}",
        out.evidence.metrics
    );
    assert_eq!(out.evidence.samples[0].status, Some(500));
    assert!(
        out.evidence.status_histogram["500"] >= 10,
        "{:?}",
        out.evidence.status_histogram
    );
}

#[tokio::test]
async fn server_error_on_null_fails_null_injection_only() {
    let app = health().route(
        "/items",
        post(|Json(v): Json<Value>| async move {
            if v.get("name").is_none_or(Value::is_null) {
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "NullPointerException".to_string(),
                );
            }
            (StatusCode::CREATED, v["name"].to_string())
        }),
    );
    let (addr, _server) = serve(app);
    let ctx = ctx(
        addr,
        json!([{"method": "POST", "path": "/items", "body": {"name": "{input}"}}]),
    );
    let nulls = null_injection::run(&ctx).await;
    assert_eq!(nulls.verdict, Verdict::Failed, "{}", findings(&nulls));
    assert!(
        has_finding(
            &nulls,
            &[
                "`json_null` on POST /items",
                "answered 500",
                "NullPointerException"
            ]
        ),
        "{}",
        findings(&nulls)
    );
    assert!(
        has_finding(&nulls, &["`body_null`", "answered 500"]),
        "{}",
        findings(&nulls)
    );
    assert!(nulls.summary.contains("5xx"), "{}", nulls.summary);

    // Swapped types are never null here: refused or handled, so type_confusion passes.
    let types = type_confusion::run(&ctx).await;
    assert_eq!(types.verdict, Verdict::Passed, "{}", findings(&types));
}

#[tokio::test]
async fn i64_unwrap_fails_type_confusion_on_huge_numbers() {
    let app = health().route(
        "/counter",
        post(|Json(v): Json<Value>| async move {
            match &v["count"] {
                Value::Number(n) if n.is_f64() => {
                    (StatusCode::UNPROCESSABLE_ENTITY, "float".to_string())
                }
                Value::Number(n) => (StatusCode::OK, (n.as_i64().unwrap() + 1).to_string()),
                _ => (StatusCode::UNPROCESSABLE_ENTITY, "not a number".to_string()),
            }
        }),
    );
    let (addr, _server) = serve(app);
    let ctx = ctx(
        addr,
        json!([{"method": "POST", "path": "/counter", "body": {"count": "{input}"}}]),
    );
    let types = type_confusion::run(&ctx).await;
    assert_eq!(types.verdict, Verdict::Failed, "{}", findings(&types));
    assert!(
        has_finding(
            &types,
            &[
                "`u64_max` on POST /counter",
                "connection dropped",
                "18446744073709551615"
            ]
        ),
        "{}",
        findings(&types)
    );
    assert!(
        has_finding(&types, &["`i64_max_plus_1`", "connection dropped"]),
        "{}",
        findings(&types)
    );
    // Only the numbers past i64 break it.
    assert_eq!(
        types.evidence.status_histogram.get("closed").copied(),
        Some(2),
        "{:?}",
        types.evidence.status_histogram
    );

    let nulls = null_injection::run(&ctx).await;
    assert_eq!(nulls.verdict, Verdict::Passed, "{}", findings(&nulls));
}

#[tokio::test]
async fn a_service_that_stops_on_a_nul_byte_fails_null_injection() {
    let stop = CancellationToken::new();
    let on_nul = stop.clone();
    let app = health().route(
        "/notes",
        post(move |Json(v): Json<Value>| async move {
            if v["text"].as_str().is_some_and(|s| s.contains('\0')) {
                on_nul.cancel();
            }
            StatusCode::CREATED
        }),
    );
    let (addr, _server) = serve_until(app, stop);
    let ctx = ctx(
        addr,
        json!([{"method": "POST", "path": "/notes", "body": {"text": "{input}"}}]),
    );
    let out = null_injection::run(&ctx).await;
    assert_eq!(out.verdict, Verdict::Failed, "{}", findings(&out));
    assert!(
        has_finding(
            &out,
            &["service stopped accepting connections after `nul_only` on POST /notes"]
        ),
        "{}",
        findings(&out)
    );
    assert!(
        out.evidence
            .status_histogram
            .get("connect_error")
            .copied()
            .unwrap_or(0)
            >= 1
    );
}

// ---- nothing to attack ----

#[tokio::test]
async fn no_input_endpoint_is_inconclusive() {
    let (addr, _server) = serve(well_behaved());
    let ctx = ctx(addr, json!([{"path": "/health"}]));
    for out in [
        malformed_data::run(&ctx).await,
        null_injection::run(&ctx).await,
        type_confusion::run(&ctx).await,
    ] {
        assert_eq!(out.verdict, Verdict::Inconclusive, "{}", out.summary);
        assert_eq!(out.evidence.requests_sent, 0);
        assert!(out.summary.contains("no endpoint"), "{}", out.summary);
    }
}

#[tokio::test]
async fn refused_credentials_are_inconclusive_not_passed() {
    let app = health().route(
        "/users",
        post(|| async { (StatusCode::UNAUTHORIZED, "bad token") }),
    );
    let (addr, _server) = serve(app);
    let ctx = ctx(
        addr,
        json!([{"method": "POST", "path": "/users", "body": {"name": "{input}"}}]),
    );
    let out = null_injection::run(&ctx).await;
    assert_eq!(out.verdict, Verdict::Inconclusive, "{}", findings(&out));
    assert_eq!(out.evidence.requests_sent, 1, "only the baseline is sent");
    assert!(out.summary.contains("POST /users=401"), "{}", out.summary);
}

#[tokio::test]
async fn unreachable_target_is_inconclusive() {
    let addr = closed_port();
    let ctx = ctx(
        addr,
        json!([{"method": "POST", "path": "/users", "body": {"name": "{input}"}}]),
    );
    let out = type_confusion::run(&ctx).await;
    assert_eq!(out.verdict, Verdict::Inconclusive, "{}", findings(&out));
    assert!(out.evidence.status_histogram.contains_key("connect_error"));
}

// ---- our own limits: never passed ----

#[tokio::test]
async fn running_out_of_time_is_inconclusive_not_passed() {
    // A careful but slow API: every answer is a proper 422, 40 ms late.
    let app = health().route(
        "/users",
        post(|| async {
            tokio::time::sleep(Duration::from_millis(40)).await;
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid")
        }),
    );
    let (addr, _server) = serve(app);
    let mut ctx = ctx(
        addr,
        json!([{"method": "POST", "path": "/users", "body": {"name": "{input}"}}]),
    );
    ctx.limits.max_attack_duration = Duration::from_millis(250);
    let started = std::time::Instant::now();
    let out = malformed_data::run(&ctx).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(out.verdict, Verdict::Inconclusive, "{}", findings(&out));
    assert!(out.summary.contains("time limit"), "{}", out.summary);
    let run = out.evidence.metrics["probes_run"].as_u64().unwrap_or(0);
    assert!((1..20).contains(&run), "{run}");
}

#[tokio::test]
async fn halt_stops_the_attack() {
    let (addr, _server) = serve(well_behaved());
    let ctx = ctx(addr, well_behaved_endpoints());
    ctx.halt.cancel();
    let out = null_injection::run(&ctx).await;
    assert_eq!(out.verdict, Verdict::Inconclusive, "{}", out.summary);
    assert!(out.summary.contains("halted"), "{}", out.summary);
    assert_eq!(out.evidence.requests_sent, 0);
}
