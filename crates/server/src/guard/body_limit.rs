//! Request body limits. A declared `Content-Length` above the limit is refused with 413
//! before a byte of the body is read; a body of unknown length (chunked) is read here, up to
//! the limit, before any handler sees it, and refused with 413 the moment it exceeds it. A
//! body that stalls longer than the header deadline between chunks gets 408.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Body as _;

use crate::error::ApiError;
use crate::state::AppState;

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error(
        "request body larger than {0} bytes; send less (a system file over 1 MB belongs on the server's disk: use system_file)"
    )]
    TooLarge(usize),
    #[error("request body stalled for more than {0:?}; send it in one go")]
    Stalled(Duration),
    #[error("request body could not be read: {0}")]
    Broken(String),
}

impl BodyError {
    /// The answer. The rest of the body is never read, so the connection closes.
    pub fn response(&self) -> Response {
        let (status, code) = match self {
            BodyError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            BodyError::Stalled(_) => (StatusCode::REQUEST_TIMEOUT, "body_stalled"),
            BodyError::Broken(_) => (StatusCode::BAD_REQUEST, "bad_body"),
        };
        let mut resp = ApiError::new(status, code, self.to_string()).into_response();
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        resp
    }
}

/// Reads `body`: at most `max` bytes, at most `idle` between chunks.
pub async fn read_body(body: Body, max: usize, idle: Duration) -> Result<Bytes, BodyError> {
    let mut body = body;
    let mut buf = BytesMut::new();
    loop {
        let frame = match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => return Err(BodyError::Stalled(idle)),
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                // axum's own limit surfaces as an error of the body; keep its meaning.
                let text = e.to_string();
                return Err(if text.contains("length limit") {
                    BodyError::TooLarge(max)
                } else {
                    BodyError::Broken(text)
                });
            }
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > max {
                return Err(BodyError::TooLarge(max));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

/// 413 for a declared length above the limit, without reading the body; 400 for a
/// `Content-Length` that is not a number.
pub async fn refuse_declared_oversize(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .map(|v| v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()));
    match declared {
        Some(Some(len)) if len > state.config.max_body as u64 => {
            BodyError::TooLarge(state.config.max_body).response()
        }
        Some(None) => ApiError::bad_request("Content-Length is not a number").into_response(),
        _ => next.run(req).await,
    }
}

/// A body without a declared length is read here, within the limit, so no handler (even one
/// that ignores bodies) lets an oversized chunked body through.
pub async fn buffer_unknown_length(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    if req.body().size_hint().exact().is_some() {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    match read_body(body, state.config.max_body, state.config.header_timeout).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(e) => e.response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn read_body_enforces_the_limit() {
        let ok = read_body(Body::from("12345"), 5, Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(&ok[..], b"12345");
        let err = read_body(Body::from("123456"), 5, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert_eq!(err, BodyError::TooLarge(5));
        assert_eq!(err.response().status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
}
