//! `GET /api/health`: liveness, without a token, touching nothing but memory (load balancers
//! and the attack engine's recovery probes call it often).

use axum::Json;
use serde_json::{Value, json};

pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}
