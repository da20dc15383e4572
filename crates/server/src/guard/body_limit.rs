//! Request body limits. A declared `Content-Length` above the limit is refused with 413
//! before a byte of the body is read; a body of unknown length (chunked) is read here, up to
//! the limit, before any handler sees it, and refused with 413 the moment it exceeds it. A
//! body that stalls longer than the header deadline between chunks gets 408. Reading is
//! [`shakedown_httpguard::body`]'s; the wording and the error shape are the API's.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use shakedown_httpguard::body::{self, declared_length};

use crate::error::ApiError;
use crate::state::AppState;

pub use shakedown_httpguard::body::{BodyError, read_body};

/// The API's message for `e`: what went wrong and what to do about it.
pub fn message(e: &BodyError) -> String {
    match e {
        BodyError::TooLarge(_) => format!(
            "{e}; send less (a system file over 1 MB belongs on the server's disk: use system_file)"
        ),
        BodyError::Stalled(_) => format!("{e}; send it in one go"),
        BodyError::Broken(_) => e.to_string(),
    }
}

/// The answer to `e`. The rest of the body is never read, so the connection closes.
pub fn refusal(e: &BodyError) -> Response {
    let code = match e {
        BodyError::TooLarge(_) => "payload_too_large",
        BodyError::Stalled(_) => "body_stalled",
        BodyError::Broken(_) => "bad_body",
    };
    let mut resp = ApiError::new(e.status(), code, message(e)).into_response();
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// 413 for a declared length above the limit, without reading the body; 400 for a
/// `Content-Length` that is not a number.
pub async fn refuse_declared_oversize(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    match declared_length(req.headers()) {
        Ok(Some(len)) if len > state.config.max_body as u64 => {
            refusal(&BodyError::TooLarge(state.config.max_body))
        }
        Err(_) => ApiError::bad_request("Content-Length is not a number").into_response(),
        Ok(_) => next.run(req).await,
    }
}

/// A body without a declared length is read here, within the limit, so no handler (even one
/// that ignores bodies) lets an oversized chunked body through.
pub async fn buffer_unknown_length(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    match body::buffer_unknown_length(req, state.config.max_body, state.config.header_timeout).await
    {
        Ok(req) => next.run(req).await,
        Err(e) => refusal(&e),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::http::StatusCode;

    use super::*;

    async fn answer(e: BodyError) -> (StatusCode, Option<HeaderValue>, serde_json::Value) {
        let resp = refusal(&e);
        let status = resp.status();
        let connection = resp.headers().get(header::CONNECTION).cloned();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, connection, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn refusals_close_the_connection_and_say_what_to_do() {
        let (status, connection, body) = answer(BodyError::TooLarge(5)).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(connection.unwrap(), "close");
        assert_eq!(body["error"]["code"], "payload_too_large");
        assert_eq!(
            body["error"]["message"],
            "request body larger than 5 bytes; send less (a system file over 1 MB belongs on the server's disk: use system_file)"
        );
        let (status, _, body) = answer(BodyError::Stalled(Duration::from_secs(2))).await;
        assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
        assert_eq!(body["error"]["code"], "body_stalled");
        assert_eq!(
            body["error"]["message"],
            "request body stalled for more than 2s; send it in one go"
        );
        let (status, _, body) = answer(BodyError::Broken("reset".into())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], "bad_body");
        assert_eq!(
            body["error"]["message"],
            "request body could not be read: reset"
        );
    }
}
