//! `shakedown serve`: the control plane's REST API. Campaigns (start, list, show, rankings),
//! approvals, the halt lever, the signed ledger, error budgets, live events (SSE), an OpenAPI
//! 3.1 document and Prometheus metrics — every route but health behind a bearer token and a
//! permission check, and the server's own guardrails (body limit, JSON validation, per-token
//! rate limit, timeouts, load shedding, connection cap) in front of all of it.

pub mod budgets;
pub mod config;
pub mod error;
pub mod files;
pub mod guard;
pub mod json;
pub mod metrics;
pub mod model;
pub mod query;
mod reject;
pub mod routes;
pub mod schedule;
pub mod server;
pub mod spawn;
pub mod state;

pub use config::ServerConfig;
pub use error::{ApiError, ApiResult};
pub use server::{RunningServer, ServerError, start};
