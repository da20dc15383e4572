//! The REST API against a real server on 127.0.0.1:0: authentication and the permission
//! matrix on every route, bad input on every route with nothing half-written, the approval
//! flow (including a plan that changed), halt and resume, the guards (rate limit, shedding,
//! timeouts, budgets), what the global reads show to each scope, and the OpenAPI, metrics and
//! event stream.

mod approvals;
mod auth;
mod bad_input;
mod blast_radius;
mod budget_reservation;
mod guards;
mod halt;
mod observe;
mod schedule;
mod scopes;
mod startup;
mod support;
