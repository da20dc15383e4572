//! Typed JSON bodies for the guarded flavour: every way a body can be wrong maps to a 4xx,
//! never a 5xx. Wrong content type → 415; too large → 413; stalled → 408; not JSON, bad
//! UTF-8, truncated, or nested deeper than serde_json's recursion limit (128) → 400; valid
//! JSON of the wrong shape (types, nulls, missing or unknown fields) → 422. The content type
//! check and the 400 / 422 split are [`shakedown_httpguard::json`]'s; the wording is ours.

use std::time::Duration;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use serde::de::DeserializeOwned;
use shakedown_httpguard::json::{has_json_content_type, parse_json};

use super::body_limit::{read_body, refusal};
use crate::reply;

/// Reads and deserialises the request body as `T`, or the 4xx response explaining why not.
pub async fn read_json<T: DeserializeOwned>(
    req: Request,
    max: usize,
    idle: Duration,
) -> Result<T, Response> {
    if !has_json_content_type(req.headers()) {
        // Read (and drop) the body first: closing with unread bytes in the socket turns the
        // close into a reset, which can destroy the answer before the client reads it.
        let _ = read_body(req.into_body(), max, idle).await;
        return Err(reply::error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected Content-Type: application/json",
        ));
    }
    let bytes = read_body(req.into_body(), max, idle)
        .await
        .map_err(|e| refusal(&e))?;
    parse_json(&bytes).map_err(|e| reply::error(e.status(), format!("invalid JSON body: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::header;

    async fn answer(ct: Option<&str>, body: &'static [u8]) -> (StatusCode, String) {
        let mut b = Request::builder().method("POST").uri("/");
        if let Some(ct) = ct {
            b = b.header(header::CONTENT_TYPE, ct);
        }
        let req = b.body(Body::from(body)).unwrap();
        match read_json::<Vec<i64>>(req, 16, Duration::from_secs(1)).await {
            Ok(_) => (StatusCode::OK, String::new()),
            Err(r) => {
                let status = r.status();
                let bytes = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
                let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                (status, v["error"].as_str().unwrap().to_string())
            }
        }
    }

    #[tokio::test]
    async fn every_bad_body_is_a_4xx() {
        let json = Some("application/json; charset=utf-8");
        assert_eq!(answer(json, b"[1]").await.0, StatusCode::OK);
        assert_eq!(
            answer(Some("application/vnd.x+json"), b"[1]").await.0,
            StatusCode::OK
        );
        for ct in [None, Some("text/plain")] {
            assert_eq!(
                answer(ct, b"[1]").await,
                (
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "expected Content-Type: application/json".to_string()
                )
            );
        }
        let (status, message) = answer(json, b"[1, ").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(message.starts_with("invalid JSON body: "), "{message}");
        let (status, message) = answer(json, br#"{"n": 1}"#).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(message.starts_with("invalid JSON body: "), "{message}");
        assert_eq!(
            answer(json, b"[1, 2, 3, 4, 5, 6, 7, 8]").await,
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body larger than 16 bytes".to_string()
            )
        );
    }
}
