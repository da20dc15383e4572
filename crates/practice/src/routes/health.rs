//! `GET /health`: always open (no auth, no rate limit), so probes see whether the server is
//! up, not whether the prober is welcome.

use axum::Json;
use serde_json::{Value, json};

/// `{"status": "ok"}`.
pub async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}
