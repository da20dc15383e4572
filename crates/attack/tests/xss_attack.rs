//! `xss_attack` against real in-process axum servers: raw reflection into HTML fails (text
//! and attribute contexts, and stored), escaped reflection passes, JSON and plain-text
//! reflections pass, and an unreachable target is not passed.

#[path = "support/context.rs"]
mod context;
#[path = "support/server.rs"]
mod server;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{Html, IntoResponse, Json};
use axum::routing::get;
use serde_json::{Value, json};
use shakedown_attack::{AttackContext, Limits};
use shakedown_core::Verdict;
use shakedown_core::result::AttackOutcome;

use context::from_system;
use server::{closed_port, hang_up, serve};

async fn context(addr: SocketAddr, endpoints_yaml: &str) -> AttackContext {
    from_system(addr, &format!("    endpoints: {endpoints_yaml}\n"))
        .await
        .limits(Limits {
            request_timeout: Duration::from_secs(3),
            max_attack_duration: Duration::from_secs(20),
            ..Limits::default()
        })
        .build()
}

const SEARCH: &str = r#"[{method: GET, path: /search, query: {q: "{input}"}}]"#;

fn escape_all(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
}

/// A search page showing the query in the text and in the input's value, through `escape`.
fn search_page(escape: fn(&str) -> String) -> Router {
    Router::new().route(
        "/search",
        get(move |Query(q): Query<HashMap<String, String>>| async move {
            let q = escape(q.get("q").map(String::as_str).unwrap_or(""));
            Html(format!(
                "<!doctype html><html><head><title>Search</title></head><body><h1>Results for {q}</h1>\
                 <form><input name=\"q\" value=\"{q}\"></form><p>No results.</p></body></html>"
            ))
        }),
    )
}

async fn attack(app: Router, endpoints: &str) -> AttackOutcome {
    let (addr, _server) = serve(app);
    let ctx = context(addr, endpoints).await;
    shakedown_attack::owasp::xss_attack::run(&ctx).await
}

#[tokio::test]
async fn raw_reflection_into_html_fails_with_the_payload_as_evidence() {
    let o = attack(search_page(str::to_string), SEARCH).await;
    assert_eq!(o.verdict, Verdict::Failed, "{o:#?}");
    let f = o.evidence.findings.join("\n");
    assert!(f.contains("reflected unescaped in a 200 text/html"), "{f}");
    assert!(f.contains("GET /search?q={input}"), "{f}");
    let canary = o.evidence.metrics["canary"].as_str().unwrap().to_string();
    let sample = &o.evidence.samples[0];
    assert!(
        sample.excerpt.contains(&format!("<script>alert('{canary}")),
        "{sample:?}"
    );
    assert!(sample.request.starts_with("GET /search?q="));
    assert!(o.evidence.requests_sent >= 12);
}

#[tokio::test]
async fn escaped_reflection_passes() {
    let o = attack(search_page(escape_all), SEARCH).await;
    assert_eq!(o.verdict, Verdict::Passed, "{o:#?}");
    assert!(o.evidence.metrics["escaped"].as_u64().unwrap() >= 12);
    assert!(
        o.evidence
            .samples
            .iter()
            .any(|s| s.excerpt.contains("&lt;script&gt;")),
        "{:#?}",
        o.evidence.samples
    );
}

#[tokio::test]
async fn escaping_tags_but_not_quotes_fails_on_attribute_breaking() {
    fn tags_only(s: &str) -> String {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    }
    let o = attack(search_page(tags_only), SEARCH).await;
    assert_eq!(o.verdict, Verdict::Failed, "{o:#?}");
    let f = o.evidence.findings.join("\n");
    assert!(f.contains("onmouseover"), "{f}");
    assert!(!f.contains("<script>alert("), "tags were escaped: {f}");
}

#[tokio::test]
async fn a_filter_refusing_markup_passes_as_blocked() {
    let app = Router::new().route(
        "/search",
        get(|Query(q): Query<HashMap<String, String>>| async move {
            let q = q.get("q").cloned().unwrap_or_default();
            if q.contains(['<', '>', '"', '\'']) || q.to_lowercase().contains("javascript:") {
                return (axum::http::StatusCode::BAD_REQUEST, "bad query").into_response();
            }
            Html(format!("<p>Results for {q}</p>")).into_response()
        }),
    );
    let o = attack(app, SEARCH).await;
    assert_eq!(o.verdict, Verdict::Passed, "{o:#?}");
    assert!(o.guardrail_triggered);
    assert!(o.evidence.metrics["blocked"].as_u64().unwrap() >= 12);
}

#[tokio::test]
async fn json_and_plain_text_reflections_are_not_xss() {
    let app = Router::new()
        .route(
            "/search",
            get(|Query(q): Query<HashMap<String, String>>| async move {
                Json(json!({"query": q.get("q"), "results": []}))
            }),
        )
        .route(
            "/echo",
            get(|Query(q): Query<HashMap<String, String>>| async move {
                (
                    [(CONTENT_TYPE, "text/plain; charset=utf-8")],
                    q.get("q").cloned().unwrap_or_default(),
                )
            }),
        );
    let endpoints = r#"[{method: GET, path: /search, query: {q: "{input}"}}, {method: GET, path: /echo, query: {q: "{input}"}}]"#;
    let o = attack(app, endpoints).await;
    assert_eq!(o.verdict, Verdict::Passed, "{o:#?}");
    assert!(o.evidence.metrics["non_html_reflections"].as_u64().unwrap() >= 24);
    assert!(o.evidence.findings.iter().any(|f| f.contains("non-HTML")));
}

#[tokio::test]
async fn stored_comments_rendered_raw_fail() {
    type Comments = Arc<Mutex<Vec<String>>>;
    let app = Router::new()
        .route(
            "/comments",
            get(|State(c): State<Comments>| async move {
                let items: String = c
                    .lock()
                    .unwrap()
                    .iter()
                    .map(|t| format!("<li>{t}</li>"))
                    .collect();
                Html(format!("<html><body><ul>{items}</ul></body></html>"))
            })
            .post(
                |State(c): State<Comments>, Json(v): Json<Value>| async move {
                    c.lock()
                        .unwrap()
                        .push(v["text"].as_str().unwrap_or("").to_string());
                    Json(json!({"ok": true})).into_response()
                },
            ),
        )
        .with_state(Comments::default());
    let endpoints = r#"[{method: POST, path: /comments, body: {text: "{input}"}}, {method: GET, path: /comments}]"#;
    let o = attack(app, endpoints).await;
    assert_eq!(o.verdict, Verdict::Failed, "{o:#?}");
    let f = o.evidence.findings.join("\n");
    assert!(
        f.contains("stored and served unescaped in a 200 text/html answer of GET /comments"),
        "{f}"
    );
}

#[tokio::test]
async fn an_unreachable_target_is_inconclusive() {
    let addr = closed_port();
    let ctx = context(addr, SEARCH).await;
    let o = shakedown_attack::owasp::xss_attack::run(&ctx).await;
    assert_eq!(o.verdict, Verdict::Inconclusive, "{o:#?}");
    assert!(o.evidence.status_histogram["connect_error"] >= 12);
}

#[tokio::test]
async fn no_input_endpoint_is_inconclusive_without_traffic() {
    let o = attack(
        search_page(str::to_string),
        "[{method: GET, path: /search}]",
    )
    .await;
    assert_eq!(o.verdict, Verdict::Inconclusive);
    assert_eq!(o.evidence.requests_sent, 0);
}

#[tokio::test]
async fn a_server_closing_every_connection_is_inconclusive() {
    let (addr, server) = hang_up();
    let ctx = context(addr, SEARCH).await;
    let o = shakedown_attack::owasp::xss_attack::run(&ctx).await;
    drop(server);
    assert_eq!(o.verdict, Verdict::Inconclusive, "{o:#?}");
    assert!(
        o.evidence.status_histogram["closed"] >= 12,
        "{:?}",
        o.evidence.status_histogram
    );
}
