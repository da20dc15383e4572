//! `GET /search?q=X`: an HTML page saying "Results for X" with the users whose name
//! contains X. The guarded page escapes X and forbids scripts with a CSP; the weak page pastes
//! X raw into the HTML (reflected XSS) and into a `LIKE` pattern (SQL injection).

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::db;
use crate::reply;
use crate::state::AppState;

/// `?q=`
#[derive(Debug, Deserialize)]
pub struct SearchParams {
    q: Option<String>,
}

/// Escapes the five characters that matter in HTML text and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// The page around an already-rendered heading text and list items.
fn page(query_html: &str, items_html: &str) -> String {
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Search</title></head>\n\
         <body><h1>Results for {query_html}</h1>\n<ul>{items_html}</ul></body></html>\n"
    )
}

/// The `q` parameter (empty when absent), or the message both flavours answer a bad query
/// string with (400).
fn search_term(params: Result<Query<SearchParams>, QueryRejection>) -> Result<String, String> {
    match params {
        Ok(Query(p)) => Ok(p.q.unwrap_or_default()),
        Err(e) => Err(format!("invalid query string: {}", e.body_text())),
    }
}

fn html(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp
}

/// The guarded page: escaped, with headers that stop scripts and MIME sniffing even if
/// something slipped through.
pub async fn guarded(
    State(state): State<Arc<AppState>>,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Response {
    let q = match search_term(params) {
        Ok(q) => q,
        Err(message) => return reply::error(StatusCode::BAD_REQUEST, message),
    };
    let needle = q.clone();
    let names = match state
        .db
        .call(move |c| db::names_containing(c, &needle))
        .await
    {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "search query failed");
            return reply::error(StatusCode::SERVICE_UNAVAILABLE, "database unavailable");
        }
    };
    let items: String = names
        .iter()
        .map(|n| format!("<li>{}</li>", escape_html(n)))
        .collect();
    let mut resp = html(StatusCode::OK, page(&escape_html(&q), &items));
    let h = resp.headers_mut();
    h.insert(
        HeaderName::from_static("content-security-policy"),
        HeaderValue::from_static("default-src 'none'"),
    );
    h.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// The weak page: `q` pasted into the SQL and into the HTML, and SQLite's error shown on
/// the page when the pasted SQL breaks.
pub async fn weak(
    State(state): State<Arc<AppState>>,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Response {
    let q = match search_term(params) {
        Ok(q) => q,
        Err(message) => return reply::error(StatusCode::BAD_REQUEST, message),
    };
    let sql = format!("SELECT name FROM users WHERE name LIKE '%{q}%'");
    let query = sql.clone();
    match state.db.call(move |c| db::raw_rows(c, &query)).await {
        Ok(rows) => {
            let items: String = rows
                .iter()
                .filter_map(|r| r.values().next())
                .map(|v| {
                    format!(
                        "<li>{}</li>",
                        v.as_str().map_or_else(|| v.to_string(), String::from)
                    )
                })
                .collect();
            html(StatusCode::OK, page(&q, &items))
        }
        Err(e) => html(
            StatusCode::INTERNAL_SERVER_ERROR,
            page(
                &q,
                &format!("<li class=\"error\">database error: {e} in {sql}</li>"),
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_neutralises_markup() {
        assert_eq!(
            escape_html(r#"<script>alert("x" + 'y')</script>&"#),
            "&lt;script&gt;alert(&quot;x&quot; + &#x27;y&#x27;)&lt;/script&gt;&amp;"
        );
        assert_eq!(escape_html("plain"), "plain");
    }
}
