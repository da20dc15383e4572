//! Typed JSON bodies for the guarded flavour: every way a body can be wrong maps to a 4xx,
//! never a 5xx. Wrong content type → 415; too large → 413; stalled → 408; not JSON, bad
//! UTF-8, truncated, or nested deeper than serde_json's recursion limit (128) → 400; valid
//! JSON of the wrong shape (types, nulls, missing or unknown fields) → 422.

use std::time::Duration;

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use super::body_limit::read_body;
use crate::reply;

/// True for `application/json` and `application/*+json`, with any parameters.
pub fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Reads and deserialises the request body as `T`, or the 4xx response explaining why not.
pub async fn read_json<T: DeserializeOwned>(
    req: Request,
    max: usize,
    idle: Duration,
) -> Result<T, Response> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if !content_type.is_some_and(is_json) {
        return Err(reply::error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected Content-Type: application/json",
        ));
    }
    let bytes = read_body(req.into_body(), max, idle)
        .await
        .map_err(|e| e.response())?;
    serde_json::from_slice(&bytes).map_err(|e| {
        let status = match e.classify() {
            Category::Data => StatusCode::UNPROCESSABLE_ENTITY,
            Category::Syntax | Category::Eof | Category::Io => StatusCode::BAD_REQUEST,
        };
        reply::error(status, format!("invalid JSON body: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Thing {
        n: i64,
    }

    async fn status(ct: Option<&str>, body: Vec<u8>) -> StatusCode {
        let mut b = Request::builder().method("POST").uri("/");
        if let Some(ct) = ct {
            b = b.header(header::CONTENT_TYPE, ct);
        }
        let req = b.body(Body::from(body)).unwrap();
        match read_json::<Thing>(req, 1 << 20, Duration::from_secs(1)).await {
            Ok(_) => StatusCode::OK,
            Err(r) => r.status(),
        }
    }

    #[tokio::test]
    async fn every_bad_body_is_a_4xx() {
        let json = Some("application/json; charset=utf-8");
        assert_eq!(status(json, br#"{"n": 1}"#.to_vec()).await, StatusCode::OK);
        assert_eq!(
            status(Some("application/vnd.x+json"), br#"{"n": 1}"#.to_vec()).await,
            StatusCode::OK
        );
        assert_eq!(
            status(None, br#"{"n": 1}"#.to_vec()).await,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert_eq!(
            status(Some("text/plain"), br#"{"n": 1}"#.to_vec()).await,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert_eq!(
            status(json, br#"{"n": "#.to_vec()).await,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(json, b"{\"n\": \xff}".to_vec()).await,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(json, br#"{"n": null}"#.to_vec()).await,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            status(json, br#"{"n": "1"}"#.to_vec()).await,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            status(json, br#"{"n": 1e400}"#.to_vec()).await,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(json, br#"{"n": 99999999999999999999}"#.to_vec()).await,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            status(json, br#"{"n": 1, "__proto__": {}}"#.to_vec()).await,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes();
        assert!(status(json, deep).await.is_client_error());
        let deep_object =
            format!("{}1{}", "{\"n\":".repeat(10_000), "}".repeat(10_000)).into_bytes();
        assert!(status(json, deep_object).await.is_client_error());
    }
}
