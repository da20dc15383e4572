//! The guarded flavour's guardrails, as axum middleware around its routes. Order matters
//! (outermost first): load shedding, the declared-length check (before anything else reads
//! the request, as nginx does with `client_max_body_size`), auth, buffering of bodies of
//! unknown length, then the rate limiter, which only counts authenticated requests so
//! unauthenticated probes always see 401 and never eat a legitimate client's budget.
//! Connection-level guards (connection cap, header deadline) live in `server`.

pub mod auth;
pub mod body_limit;
pub mod json;
pub mod rate_limit;
pub mod shed;

use std::sync::Arc;

use axum::Router;
use axum::middleware::from_fn_with_state;

use crate::config::PracticeConfig;
use crate::state::Stats;

/// Requests to this path skip auth and the rate limiter, so health probes and recovery
/// checks see the server's real state.
pub const EXEMPT_PATH: &str = "/health";

/// Wraps `routes` in every request-level guard of `config`.
pub fn apply(routes: Router, config: &PracticeConfig, stats: &Arc<Stats>) -> Router {
    let body = Arc::new(body_limit::BodyLimit {
        max: config.max_body,
        idle: config.header_timeout,
        stats: Arc::clone(stats),
    });
    let auth = Arc::new(auth::Auth::new(config.token.as_deref(), Arc::clone(stats)));
    let shed = Arc::new(shed::Shed::new(config.max_concurrency, Arc::clone(stats)));
    let mut routes = routes;
    if config.rate_limit > 0 {
        let limiter = Arc::new(rate_limit::RateLimiter::new(
            config.rate_limit,
            config.rate_window,
            Arc::clone(stats),
        ));
        routes = routes.layer(from_fn_with_state(limiter, rate_limit::enforce));
    }
    routes
        .layer(from_fn_with_state(
            Arc::clone(&body),
            body_limit::buffer_unknown_length,
        ))
        .layer(from_fn_with_state(auth, auth::require))
        .layer(from_fn_with_state(
            body,
            body_limit::refuse_declared_oversize,
        ))
        .layer(from_fn_with_state(shed, shed::enforce))
}
