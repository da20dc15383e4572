//! Request body limits. A declared `Content-Length` above the limit is refused with 413
//! before a byte of the body is read; a body of unknown length (chunked) is read up to the
//! limit before the request reaches a handler, and refused with 413 the moment it exceeds
//! it. A body that stalls longer than the idle deadline between chunks gets 408. Reading is
//! [`shakedown_httpguard::body`]'s; the answers and the counter are ours.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use shakedown_httpguard::body::{self, declared_length};

use crate::reply;
use crate::state::Stats;

pub use shakedown_httpguard::body::{BodyError, read_body};

/// The limit and the pause allowed between body chunks.
pub struct BodyLimit {
    pub max: usize,
    pub idle: Duration,
    pub stats: Arc<Stats>,
}

/// The response for `e`. 413 and 408 close the connection: the rest of the body is never
/// read, so the connection cannot carry another request.
pub fn refusal(e: &BodyError) -> Response {
    let mut resp = reply::error(e.status(), e.to_string());
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// Middleware: 413 for a declared length above the limit, without reading the body.
pub async fn refuse_declared_oversize(
    State(limit): State<Arc<BodyLimit>>,
    req: Request,
    next: Next,
) -> Response {
    match declared_length(req.headers()) {
        Ok(Some(len)) if len > limit.max as u64 => {
            Stats::bump(&limit.stats.payload_too_large);
            refusal(&BodyError::TooLarge(limit.max))
        }
        Err(_) => reply::error(StatusCode::BAD_REQUEST, "invalid Content-Length"),
        Ok(_) => next.run(req).await,
    }
}

/// Middleware: a body without a declared length is read here, within the limit, so no
/// handler (even one that ignores bodies) lets an oversized chunked body through.
pub async fn buffer_unknown_length(
    State(limit): State<Arc<BodyLimit>>,
    req: Request,
    next: Next,
) -> Response {
    match body::buffer_unknown_length(req, limit.max, limit.idle).await {
        Ok(req) => next.run(req).await,
        Err(e) => {
            if matches!(e, BodyError::TooLarge(_)) {
                Stats::bump(&limit.stats.payload_too_large);
            }
            refusal(&e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refusals_close_the_connection_and_name_the_limit() {
        for (e, status, message) in [
            (
                BodyError::TooLarge(5),
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body larger than 5 bytes",
            ),
            (
                BodyError::Stalled(Duration::from_secs(2)),
                StatusCode::REQUEST_TIMEOUT,
                "request body stalled for more than 2s",
            ),
        ] {
            let resp = refusal(&e);
            assert_eq!(resp.status(), status);
            assert_eq!(resp.headers()[header::CONNECTION], "close");
            let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16)
                .await
                .unwrap();
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(v["error"], message);
        }
    }
}
