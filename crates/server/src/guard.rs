//! The server's own guardrails as axum middleware. Order (outermost first): response
//! headers and metrics (so every answer, refusals included, is counted and carries the
//! security headers), the request timeout, load shedding, the declared-length check (before
//! anything reads the body), authentication, buffering of bodies of unknown length, then the
//! per-token rate limiter — which only counts authenticated requests, so an unauthenticated
//! flood sees 401 and never eats a real client's budget. Connection-level guards (connection
//! cap, request-head deadline) live in [`crate::server`].

pub mod auth;
pub mod body_limit;
pub mod headers;
pub mod rate_limit;
pub mod shed;
pub mod timeout;

use axum::Router;
use axum::middleware::from_fn_with_state;

use crate::state::AppState;

/// The one path that needs no token: liveness for load balancers and recovery probes.
pub const HEALTH_PATH: &str = "/api/health";

/// Wraps `routes` (every route and the fallbacks) in the guards.
pub fn apply(routes: Router<AppState>, state: &AppState) -> Router<AppState> {
    let limiter = std::sync::Arc::new(rate_limit::RateLimiter::new(
        state.config.rate_limit,
        state.config.rate_window,
    ));
    let shed = std::sync::Arc::new(shed::Shed::new(state.config.max_in_flight));
    routes
        .layer(from_fn_with_state(limiter, rate_limit::enforce))
        .layer(from_fn_with_state(
            state.clone(),
            body_limit::buffer_unknown_length,
        ))
        .layer(from_fn_with_state(state.clone(), auth::authenticate))
        .layer(from_fn_with_state(
            state.clone(),
            body_limit::refuse_declared_oversize,
        ))
        .layer(from_fn_with_state(shed, shed::enforce))
        .layer(from_fn_with_state(state.clone(), timeout::enforce))
        .layer(from_fn_with_state(state.clone(), headers::finish))
}
