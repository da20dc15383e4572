//! What can go wrong while serving one call, and the JSON answer the client gets for it.
//! Errors the proxy itself produces are always JSON (`{"error":{"message","type"}}`) so an
//! SDK shows a readable message rather than an HTML page.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use serde_json::json;

use super::body::{self, ProxyBody};

/// Why the proxy answered a call by itself (not as a fault).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The request body is larger than `max_request_body`.
    #[error(
        "request body is larger than the proxy's limit of {limit} bytes (raise proxy.max_request_body)"
    )]
    TooLarge { limit: u64 },
    /// The client stopped sending its body, or sent it too slowly.
    #[error("could not read the request body: {0}")]
    BadBody(String),
    /// The call would leave the allowed scope.
    #[error("{0}")]
    OutOfScope(String),
    /// No route matches an origin-form request.
    #[error(
        "no route matches {path}: add a route whose prefix matches it, or use the proxy as HTTP_PROXY"
    )]
    NoRoute { path: String },
    /// A request the proxy does not handle (forward proxying disabled, bad CONNECT target…).
    #[error("{0}")]
    Unsupported(String),
    /// The upstream could not be reached (connect, DNS or TLS failure).
    #[error("{0}")]
    Unreachable(String),
    /// The upstream broke the HTTP exchange after the connection was made.
    #[error("upstream failed: {0}")]
    Upstream(String),
    /// The proxy is shutting down.
    #[error("the fault proxy is shutting down")]
    ShuttingDown,
}

impl ServeError {
    /// The status and the `type` field of the JSON answer.
    pub fn status_and_type(&self) -> (StatusCode, &'static str) {
        match self {
            ServeError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "request_too_large"),
            ServeError::BadBody(_) => (StatusCode::BAD_REQUEST, "bad_request_body"),
            ServeError::OutOfScope(_) => (StatusCode::FORBIDDEN, "out_of_scope"),
            ServeError::NoRoute { .. } => (StatusCode::NOT_FOUND, "no_route"),
            ServeError::Unsupported(_) => (StatusCode::BAD_REQUEST, "unsupported_request"),
            ServeError::Unreachable(_) => (StatusCode::BAD_GATEWAY, "upstream_unreachable"),
            ServeError::Upstream(_) => (StatusCode::BAD_GATEWAY, "upstream_error"),
            ServeError::ShuttingDown => (StatusCode::SERVICE_UNAVAILABLE, "proxy_shutting_down"),
        }
    }

    /// The JSON answer for this error.
    pub fn into_response(self) -> Response<ProxyBody> {
        let (status, kind) = self.status_and_type();
        let text = json!({"error": {"message": self.to_string(), "type": kind}}).to_string();
        let mut resp = Response::new(body::full(Bytes::from(text)));
        *resp.status_mut() = status;
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        // Marks the proxy's own errors, so tests and operators can tell them from upstream
        // answers and from injected faults.
        resp.headers_mut()
            .insert(PROXY_ERROR_HEADER, HeaderValue::from_static(kind));
        resp
    }
}

/// Header carried by answers the proxy gives for its own errors (value: the error type).
pub const PROXY_ERROR_HEADER: &str = "x-shakedown-proxy-error";
