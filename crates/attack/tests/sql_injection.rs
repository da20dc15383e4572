//! `sql_injection` against real in-process axum + SQLite servers: a twin that builds SQL by
//! string concatenation must fail (error-based, boolean-based), its parameterised twin must
//! pass, and echoing, blocking, slow and unreachable servers must not be misjudged.

#[path = "support/context.rs"]
mod context;
#[path = "support/server.rs"]
mod server;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use rusqlite::{Connection, ToSql};
use serde_json::json;
use shakedown_attack::{AttackContext, Limits};
use shakedown_core::Verdict;
use shakedown_core::result::AttackOutcome;

use context::from_system;
use server::{closed_port, serve};

/// A context for `endpoints_yaml` (a YAML list) on `addr`, with short limits.
async fn context(addr: SocketAddr, endpoints_yaml: &str) -> AttackContext {
    from_system(addr, &format!("    endpoints: {endpoints_yaml}\n"))
        .await
        .limits(Limits {
            request_timeout: Duration::from_secs(3),
            max_attack_duration: Duration::from_secs(30),
            sql_sleep: Duration::from_secs(1),
            ..Limits::default()
        })
        .build()
}

const BY_NAME: &str = r#"[{method: GET, path: /users, query: {name: "{input}"}}]"#;
const BY_ID: &str = r#"[{method: GET, path: "/users/{input}"}]"#;
const BOTH: &str = r#"[{method: GET, path: /users, query: {name: "{input}"}}, {method: GET, path: "/users/{input}"}]"#;

type Db = Arc<Mutex<Connection>>;

#[derive(Clone)]
struct App {
    db: Db,
    /// Return the database error text in 500 answers.
    leaky: bool,
}

fn app(leaky: bool) -> App {
    let c = Connection::open_in_memory().unwrap();
    c.execute_batch(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
         INSERT INTO users (name) VALUES ('alice'), ('bob'), ('carol');",
    )
    .unwrap();
    App {
        db: Arc::new(Mutex::new(c)),
        leaky,
    }
}

fn rows(db: &Db, sql: &str, params: &[&dyn ToSql]) -> rusqlite::Result<Vec<serde_json::Value>> {
    let c = db.lock().unwrap();
    let mut stmt = c.prepare(sql)?;
    let mapped = stmt.query_map(params, |r| {
        Ok(json!({"id": r.get::<_, i64>(0)?, "name": r.get::<_, String>(1)?}))
    })?;
    mapped.collect()
}

fn answer(app: &App, result: rusqlite::Result<Vec<serde_json::Value>>, one: bool) -> Response {
    match result {
        Ok(r) if one => match r.into_iter().next() {
            Some(row) => Json(row).into_response(),
            None => (
                StatusCode::NOT_FOUND,
                Json(json!({"error": "no such user"})),
            )
                .into_response(),
        },
        Ok(r) => Json(r).into_response(),
        Err(e) if app.leaky => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("database error: {e}"),
        )
            .into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response(),
    }
}

/// The weak twin: SQL built by string concatenation.
fn concatenating(app: App) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route(
            "/users",
            get(
                |State(a): State<App>, Query(q): Query<HashMap<String, String>>| async move {
                    let name = q.get("name").cloned().unwrap_or_default();
                    let r = rows(
                        &a.db,
                        &format!("SELECT id, name FROM users WHERE name = '{name}'"),
                        &[],
                    );
                    answer(&a, r, false)
                },
            ),
        )
        .route(
            "/users/{id}",
            get(|State(a): State<App>, Path(id): Path<String>| async move {
                let r = rows(
                    &a.db,
                    &format!("SELECT id, name FROM users WHERE id = {id}"),
                    &[],
                );
                answer(&a, r, true)
            }),
        )
        .with_state(app)
}

/// The fixed twin: parameterised queries. `echo` also returns the query it was given.
fn parameterised(app: App, echo: bool) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route(
            "/users",
            get(
                move |State(a): State<App>, Query(q): Query<HashMap<String, String>>| async move {
                    let name = q.get("name").cloned().unwrap_or_default();
                    let r = rows(
                        &a.db,
                        "SELECT id, name FROM users WHERE name = ?1",
                        &[&name],
                    );
                    match r {
                        Ok(users) if echo => {
                            Json(json!({"query": name, "users": users})).into_response()
                        }
                        other => answer(&a, other, false),
                    }
                },
            ),
        )
        .route(
            "/users/{id}",
            get(|State(a): State<App>, Path(id): Path<String>| async move {
                let r = rows(&a.db, "SELECT id, name FROM users WHERE id = ?1", &[&id]);
                answer(&a, r, true)
            }),
        )
        .with_state(app)
}

fn findings(o: &AttackOutcome) -> String {
    o.evidence.findings.join("\n")
}

#[tokio::test]
async fn concatenated_sql_leaking_errors_fails_error_and_boolean_based() {
    let (addr, _server) = serve(concatenating(app(true)));
    let ctx = context(addr, BY_NAME).await;
    let o = shakedown_attack::owasp::sql_injection::run(&ctx).await;
    assert_eq!(o.verdict, Verdict::Failed, "{o:#?}");
    let f = findings(&o);
    assert!(
        f.contains("error-based injection on GET /users?name={input}"),
        "{f}"
    );
    assert!(f.contains("SQLite error"), "{f}");
    assert!(f.contains("boolean-based injection"), "{f}");
    assert!(!f.contains("time-based"), "SQLite cannot sleep: {f}");
    assert!(
        o.evidence
            .samples
            .iter()
            .any(|s| s.status == Some(500)
                && s.excerpt.to_lowercase().contains("unrecognized token")),
        "{:#?}",
        o.evidence.samples
    );
    assert!(
        o.evidence
            .samples
            .iter()
            .any(|s| s.status == Some(200) && s.excerpt.contains("alice"))
    );
    assert!(o.evidence.requests_sent >= 10 && o.evidence.requests_sent <= 60);
    assert!(o.evidence.latency.is_some());
    assert_eq!(
        o.evidence.metrics["techniques"],
        json!(["boolean-based", "error-based"])
    );
}

#[tokio::test]
async fn concatenated_sql_hiding_errors_still_fails_boolean_based() {
    let (addr, _server) = serve(concatenating(app(false)));
    let ctx = context(addr, BY_NAME).await;
    let o = shakedown_attack::owasp::sql_injection::run(&ctx).await;
    assert_eq!(o.verdict, Verdict::Failed, "{o:#?}");
    let f = findings(&o);
    assert!(
        f.contains("boolean-based injection on GET /users?name={input}"),
        "{f}"
    );
    assert!(f.contains("quote balance"), "{f}");
    assert!(!f.contains("SQLite error"), "{f}");
}

#[tokio::test]
async fn concatenated_numeric_id_fails_boolean_based() {
    let (addr, _server) = serve(concatenating(app(false)));
    let ctx = context(addr, BY_ID).await;
    let o = shakedown_attack::owasp::sql_injection::run(&ctx).await;
    assert_eq!(o.verdict, Verdict::Failed, "{o:#?}");
    let f = findings(&o);
    assert!(
        f.contains("boolean-based injection on GET /users/{input}"),
        "{f}"
    );
    assert!(f.contains("OR 1=1"), "{f}");
}

#[tokio::test]
async fn parameterised_twin_passes() {
    let (addr, _server) = serve(parameterised(app(true), false));
    let ctx = context(addr, BOTH).await;
    let o = shakedown_attack::owasp::sql_injection::run(&ctx).await;
    assert_eq!(o.verdict, Verdict::Passed, "{o:#?}");
    assert_eq!(o.evidence.metrics["endpoints_tested"], json!(2));
    assert!(!findings(&o).contains("injection on"), "{}", findings(&o));
    assert!(
        o.evidence.requests_sent >= 40,
        "every technique ran: {}",
        o.evidence.requests_sent
    );
    assert!(o.evidence.status_histogram.contains_key("200"));
}

#[tokio::test]
async fn an_api_echoing_its_input_is_not_mistaken_for_injection() {
    let (addr, _server) = serve(parameterised(app(true), true));
    let ctx = context(addr, BY_NAME).await;
    let o = shakedown_attack::owasp::sql_injection::run(&ctx).await;
    assert_eq!(o.verdict, Verdict::Passed, "{o:#?}");
}

#[tokio::test]
async fn a_filter_refusing_sql_syntax_with_403_passes_as_blocked() {
    let waf = |State(a): State<App>, Query(q): Query<HashMap<String, String>>| async move {
        let name = q.get("name").cloned().unwrap_or_default();
        let lower = name.to_lowercase();
        let bad = name.contains(|c: char| "'\"`;()=\\-%".contains(c))
            || [" or ", " and ", "union", "select", "sleep", "waitfor"]
                .iter()
                .any(|k| lower.contains(k));
        if bad {
            return (StatusCode::FORBIDDEN, "blocked").into_response();
        }
        let r = rows(
            &a.db,
            &format!("SELECT id, name FROM users WHERE name = '{name}'"),
            &[],
        );
        answer(&a, r, false)
    };
    let router = Router::new()
        .route("/users", get(waf))
        .with_state(app(true));
    let (addr, _server) = serve(router);
    let ctx = context(addr, BY_NAME).await;
    let o = shakedown_attack::owasp::sql_injection::run(&ctx).await;
    assert_eq!(o.verdict, Verdict::Passed, "{o:#?}");
    assert!(o.guardrail_triggered);
    assert!(o.evidence.status_histogram.get("403").copied().unwrap_or(0) > 20);
    assert!(
        findings(&o).contains("refused with a 4xx"),
        "{}",
        findings(&o)
    );
}

/// Behaves like a PostgreSQL query built by concatenation for `pg_sleep(n)`: the answer
/// takes n seconds. Everything else answers at once with no rows.
async fn sleeping(Query(q): Query<HashMap<String, String>>) -> Response {
    let name = q.get("name").cloned().unwrap_or_default();
    if let Some(rest) = name.split("pg_sleep(").nth(1) {
        let secs: u64 = rest
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .unwrap_or(0);
        tokio::time::sleep(Duration::from_secs(secs)).await;
    }
    Json(json!([])).into_response()
}

#[tokio::test]
async fn a_delay_that_follows_the_requested_sleep_fails_time_based() {
    let (addr, _server) = serve(Router::new().route("/users", get(sleeping)));
    let ctx = context(addr, BY_NAME).await;
    let o = shakedown_attack::owasp::sql_injection::run(&ctx).await;
    assert_eq!(o.verdict, Verdict::Failed, "{o:#?}");
    let f = findings(&o);
    assert!(
        f.contains("time-based injection on GET /users?name={input}"),
        "{f}"
    );
    assert!(f.contains("pg_sleep(1)"), "{f}");
    let sample = o
        .evidence
        .samples
        .iter()
        .find(|s| s.excerpt.contains("baseline median"))
        .expect("time sample");
    assert!(sample.latency_ms >= 800.0, "{sample:?}");
}

#[tokio::test]
async fn slowness_that_ignores_the_requested_delay_is_not_counted() {
    // Slow for anything mentioning pg_sleep, whatever the delay asked: a tarpit, not a database.
    let tarpit = |Query(q): Query<HashMap<String, String>>| async move {
        if q.get("name").is_some_and(|n| n.contains("pg_sleep")) {
            tokio::time::sleep(Duration::from_millis(850)).await;
        }
        Json(json!([])).into_response()
    };
    let (addr, _server) = serve(Router::new().route("/users", get(tarpit)));
    let ctx = context(addr, BY_NAME).await;
    let o = shakedown_attack::owasp::sql_injection::run(&ctx).await;
    assert_eq!(o.verdict, Verdict::Passed, "{o:#?}");
    assert!(findings(&o).contains("zero delay"), "{}", findings(&o));
}

#[tokio::test]
async fn a_rate_limiter_in_front_is_waited_out_not_taken_for_blocking() {
    // 15 requests per second, then 429 with Retry-After: 1.
    type Window = Arc<Mutex<(tokio::time::Instant, u32)>>;
    async fn limit(
        State(w): State<Window>,
        req: axum::extract::Request,
        next: axum::middleware::Next,
    ) -> Response {
        let over = {
            let mut w = w.lock().unwrap();
            if w.0.elapsed() >= Duration::from_secs(1) {
                *w = (tokio::time::Instant::now(), 0);
            }
            w.1 += 1;
            w.1 > 15
        };
        if over {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "1")],
                "slow down",
            )
                .into_response();
        }
        next.run(req).await
    }
    let window: Window = Arc::new(Mutex::new((tokio::time::Instant::now(), 0)));
    let router =
        concatenating(app(false)).layer(axum::middleware::from_fn_with_state(window, limit));
    let (addr, _server) = serve(router);
    let ctx = context(addr, BY_NAME).await;
    let o = shakedown_attack::owasp::sql_injection::run(&ctx).await;
    assert_eq!(o.verdict, Verdict::Failed, "{o:#?}");
    assert!(
        o.evidence.status_histogram["429"] > 0,
        "{:?}",
        o.evidence.status_histogram
    );
    assert_eq!(
        o.evidence.metrics["blocked"],
        json!(0),
        "a 429 is not a block"
    );
    assert!(
        findings(&o).contains("boolean-based injection"),
        "{}",
        findings(&o)
    );
}

#[tokio::test]
async fn an_unreachable_target_is_inconclusive() {
    let addr = closed_port();
    let ctx = context(addr, BY_NAME).await;
    let o = shakedown_attack::owasp::sql_injection::run(&ctx).await;
    assert_eq!(o.verdict, Verdict::Inconclusive, "{o:#?}");
    assert!(o.evidence.status_histogram.contains_key("connect_error"));
}

#[tokio::test]
async fn no_input_endpoint_is_inconclusive_without_traffic() {
    let (addr, _server) = serve(parameterised(app(true), false));
    let ctx = context(addr, "[{method: GET, path: /health}]").await;
    let o = shakedown_attack::owasp::sql_injection::run(&ctx).await;
    assert_eq!(o.verdict, Verdict::Inconclusive);
    assert_eq!(o.evidence.requests_sent, 0);
    assert!(o.summary.contains("{input}"));
}

#[tokio::test]
async fn a_halt_stops_the_attack() {
    let (addr, _server) = serve(Router::new().route("/users", get(sleeping)));
    let ctx = context(addr, BY_NAME).await;
    ctx.halt.cancel();
    let o = shakedown_attack::owasp::sql_injection::run(&ctx).await;
    assert_eq!(o.verdict, Verdict::Inconclusive);
    assert!(o.summary.contains("halted"));
}
