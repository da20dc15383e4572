//! The API's one error shape: `{"error": {"code", "message"}}` with the right status and, where
//! the client should wait, `Retry-After`. Every refusal of every route goes through here, so a
//! client never has to parse an HTML page or an empty body.

use axum::Json;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use shakedown_ledger::LedgerError;
use shakedown_store::StoreError;

/// Longest message echoed back (messages may quote client input).
const MAX_MESSAGE: usize = 2000;

/// An error answer: status, a stable machine-readable code and a message saying what to do.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    /// Adds a response header (e.g. `WWW-Authenticate`, `X-Gate-Enforced`).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> ApiError {
        self.headers.push((name, value));
        self
    }

    /// Adds `Retry-After: secs` (at least 1: 0 invites an immediate retry that fails again).
    pub fn retry_after(self, secs: u64) -> ApiError {
        self.with_header(header::RETRY_AFTER, HeaderValue::from(secs.max(1)))
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn unprocessable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, code, message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut message = self.message;
        if message.len() > MAX_MESSAGE {
            let mut cut = MAX_MESSAGE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let body = serde_json::json!({"error": {"code": self.code, "message": message}});
        let mut resp = (self.status, Json(body)).into_response();
        for (name, value) in self.headers {
            resp.headers_mut().insert(name, value);
        }
        resp
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        tracing::error!(error = %e, "store error");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            format!("the store refused the operation: {e}"),
        )
        .retry_after(1)
    }
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> ApiError {
        tracing::error!(error = %e, "ledger error");
        // Fail closed: nothing that needs recording happens without the ledger.
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ledger_unusable",
            format!("the signed ledger cannot record this, so it was not done: {e}"),
        )
    }
}

/// The result type of handlers.
pub type ApiResult<T> = Result<T, ApiError>;
