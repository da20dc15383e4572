//! The HTTP routes, the same paths for both flavours: `/health`, `/users`, `/users/{id}`,
//! `/search`, `/admin/stats`. Each route family has a guarded and a weak handler; the
//! guarded router is then wrapped in the guards of [`crate::guard`].

pub mod admin;
pub mod health;
pub mod search;
pub mod users;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use axum::routing::get;

use crate::config::{Flavor, PracticeConfig};
use crate::state::{AppState, Stats};
use crate::{guard, reply};

/// The complete router for `config.flavor`.
pub fn router(state: Arc<AppState>, config: &PracticeConfig) -> Router {
    let stats = Arc::clone(&state.stats);
    let routes = match config.flavor {
        Flavor::Guarded => Router::new()
            .route(
                "/users",
                get(users::guarded_list).post(users::guarded_create),
            )
            .route("/users/{id}", get(users::guarded_one))
            .route("/search", get(search::guarded)),
        Flavor::Weak => Router::new()
            .route("/users", get(users::weak_list).post(users::weak_create))
            .route("/users/{id}", get(users::weak_one))
            .route("/search", get(search::weak)),
    };
    let routes = routes
        .route(guard::EXEMPT_PATH, get(health::health))
        .route("/admin/stats", get(admin::stats))
        .fallback(reply::not_found)
        .with_state(state);
    let routes = match config.flavor {
        Flavor::Guarded => guard::apply(routes, config, &stats),
        Flavor::Weak => routes,
    };
    routes.layer(from_fn_with_state(stats, count))
}

/// Counts every request, whatever the guards decide.
async fn count(State(stats): State<Arc<Stats>>, req: Request, next: Next) -> Response {
    Stats::bump(&stats.requests);
    next.run(req).await
}
