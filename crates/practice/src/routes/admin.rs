//! `GET /admin/stats`: what the server has seen and refused. The guarded flavour serves it
//! only with the bearer token (like every route but `/health`); the weak one to anyone.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::db;
use crate::reply;
use crate::state::{AppState, Stats};

/// Counters, table sizes and uptime.
pub async fn stats(State(state): State<Arc<AppState>>) -> Response {
    let (users, secrets) = match state.db.call(db::counts).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "stats query failed");
            return reply::error(StatusCode::SERVICE_UNAVAILABLE, "database unavailable");
        }
    };
    let s = &state.stats;
    Json(json!({
        "flavor": state.flavor.as_str(),
        "uptime_secs": state.started.elapsed().as_secs(),
        "users": users,
        "secrets": secrets,
        "requests": Stats::read(&s.requests),
        "unauthorized": Stats::read(&s.unauthorized),
        "rate_limited": Stats::read(&s.rate_limited),
        "payload_too_large": Stats::read(&s.payload_too_large),
        "shed": Stats::read(&s.shed),
        "connections_open": Stats::read(&s.connections_open),
        "connections_refused": Stats::read(&s.connections_refused),
    }))
    .into_response()
}
