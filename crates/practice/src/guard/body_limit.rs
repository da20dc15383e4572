//! Request body limits. A declared `Content-Length` above the limit is refused with 413
//! before a byte of the body is read; a body of unknown length (chunked) is read up to the
//! limit before the request reaches a handler, and refused with 413 the moment it exceeds
//! it. A body that stalls longer than the idle deadline between chunks gets 408.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Body as _;

use crate::reply;
use crate::state::Stats;

/// The limit and the pause allowed between body chunks.
pub struct BodyLimit {
    pub max: usize,
    pub idle: Duration,
    pub stats: Arc<Stats>,
}

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("request body larger than {0} bytes")]
    TooLarge(usize),
    #[error("request body stalled for more than {0:?}")]
    Stalled(Duration),
    #[error("request body could not be read: {0}")]
    Broken(String),
}

impl BodyError {
    /// The response for this error. 413 and 408 close the connection: the rest of the body
    /// is never read, so the connection cannot carry another request.
    pub fn response(&self) -> Response {
        let status = match self {
            BodyError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Stalled(_) => StatusCode::REQUEST_TIMEOUT,
            BodyError::Broken(_) => StatusCode::BAD_REQUEST,
        };
        let mut resp = reply::error(status, self.to_string());
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        resp
    }
}

/// Reads `body` into memory: at most `max` bytes, with at most `idle` between chunks.
pub async fn read_body(body: Body, max: usize, idle: Duration) -> Result<Bytes, BodyError> {
    let mut body = body;
    let mut buf = BytesMut::new();
    loop {
        let frame = match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => return Err(BodyError::Stalled(idle)),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(BodyError::Broken(e.to_string())),
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

fn declared_length(req: &Request) -> Option<Result<u64, ()>> {
    req.headers().get(header::CONTENT_LENGTH).map(|v| {
        v.to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .ok_or(())
    })
}

/// Middleware: 413 for a declared length above the limit, without reading the body.
pub async fn refuse_declared_oversize(
    State(limit): State<Arc<BodyLimit>>,
    req: Request,
    next: Next,
) -> Response {
    match declared_length(&req) {
        Some(Ok(len)) if len > limit.max as u64 => {
            Stats::bump(&limit.stats.payload_too_large);
            BodyError::TooLarge(limit.max).response()
        }
        Some(Err(())) => reply::error(StatusCode::BAD_REQUEST, "invalid Content-Length"),
        _ => next.run(req).await,
    }
}

/// Middleware: a body without a declared length is read here, within the limit, so no
/// handler (even one that ignores bodies) lets an oversized chunked body through.
pub async fn buffer_unknown_length(
    State(limit): State<Arc<BodyLimit>>,
    req: Request,
    next: Next,
) -> Response {
    if req.body().size_hint().exact().is_some() {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    match read_body(body, limit.max, limit.idle).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(e) => {
            if matches!(e, BodyError::TooLarge(_)) {
                Stats::bump(&limit.stats.payload_too_large);
            }
            e.response()
        }
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
