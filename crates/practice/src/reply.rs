//! JSON error replies shared by handlers and guards.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Longest message echoed back in an error body.
const MAX_MESSAGE: usize = 300;

/// `{"error": message}` with `status`.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let mut message = message.into();
    if message.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
    }
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

/// The JSON 404 both flavours answer for unknown paths.
pub async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not found")
}
