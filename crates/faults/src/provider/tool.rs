//! Tool errors: plain HTTP errors with a small JSON body (`{"error": message, "status": n}`),
//! or, when the request was JSON-RPC (MCP included), a JSON-RPC 2.0 error object
//! (`{"jsonrpc":"2.0","id":…,"error":{"code":-32000,"message",…}}`) under the same status.

use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::RateLimitKind;
use crate::provider::{ErrorAnswer, ErrorKind, put, retry_after_secs, seeded_id};

/// JSON-RPC's "server error" code (implementation-defined range -32000..-32099).
pub const RPC_SERVER_ERROR: i64 = -32000;

/// `x-request-id` for tool answers.
pub fn request_id(seed: u64) -> String {
    format!("tool-{}", seeded_id(seed, 0x0a3, 16))
}

/// The status and message of a tool error.
pub fn status_and_message(kind: &ErrorKind) -> (StatusCode, String) {
    match kind {
        ErrorKind::RateLimit(RateLimitKind::Retryable { .. }) => (
            StatusCode::TOO_MANY_REQUESTS,
            "Too Many Requests: rate limit exceeded, retry later".into(),
        ),
        ErrorKind::RateLimit(RateLimitKind::Quota) => (
            StatusCode::TOO_MANY_REQUESTS,
            "Too Many Requests: quota exhausted".into(),
        ),
        ErrorKind::Overloaded => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Service Unavailable: the service is overloaded".into(),
        ),
        ErrorKind::Timeout => (
            StatusCode::GATEWAY_TIMEOUT,
            "Gateway Timeout: the tool did not answer in time".into(),
        ),
        ErrorKind::MidStream => (
            StatusCode::OK,
            "Internal error while producing the result".into(),
        ),
        ErrorKind::Status { status, message } => (
            StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            message.clone(),
        ),
    }
}

/// The body: JSON-RPC error object when `rpc_id` is set, `{"error","status"}` otherwise.
pub fn body(kind: &ErrorKind, rpc_id: Option<&Value>) -> Value {
    let (status, message) = status_and_message(kind);
    match rpc_id {
        Some(id) => json!({
            "jsonrpc": "2.0",
            "id": id,
            "error": {
                "code": RPC_SERVER_ERROR,
                "message": message,
                "data": {"http_status": status.as_u16()},
            },
        }),
        None => json!({"error": message, "status": status.as_u16()}),
    }
}

/// The whole error answer.
pub fn error(kind: &ErrorKind, seed: u64, rpc_id: Option<&Value>) -> ErrorAnswer {
    let (status, _) = status_and_message(kind);
    let mut h = HeaderMap::new();
    put(&mut h, "x-request-id", &request_id(seed));
    match kind {
        ErrorKind::RateLimit(RateLimitKind::Retryable { retry_after }) => {
            put(
                &mut h,
                "retry-after",
                &retry_after_secs(*retry_after).to_string(),
            );
        }
        ErrorKind::Overloaded => put(&mut h, "retry-after", "1"),
        _ => {}
    }
    ErrorAnswer::json(status, h, &body(kind, rpc_id))
}
