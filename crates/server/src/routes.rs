//! The routes of the API and their catalog. The catalog is the single description of every
//! route (method, path, permission, request and answer schema): `/api/openapi.json` is built
//! from it and the tests walk it, so a route cannot exist undocumented.

pub mod approvals;
pub mod campaigns;
pub mod chaos;
pub mod control;
pub mod events;
pub mod health;
pub mod ledger;
pub mod metrics;
pub mod openapi;
pub mod runs;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use shakedown_govern::Permission;

use crate::error::ApiError;
use crate::state::AppState;

/// Builds a schema for the OpenAPI document.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// The schema of `T`, as a reference into `components/schemas`.
pub fn schema_of<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

/// One route as documented.
#[derive(Clone, Copy)]
pub struct RouteDoc {
    pub method: &'static str,
    /// axum's path syntax, which is also OpenAPI's (`/api/runs/{id}`).
    pub path: &'static str,
    pub summary: &'static str,
    /// The permission checked, `None` for the one public route.
    pub permission: Option<Permission>,
    /// How the permission's scope is chosen, for the docs.
    pub scope: &'static str,
    pub request: Option<SchemaFn>,
    /// The success status.
    pub success: u16,
    /// The success body's media type and schema (`None`: free-form JSON object).
    pub media: &'static str,
    pub response: Option<SchemaFn>,
    /// Query parameters: (name, description).
    pub query: &'static [(&'static str, &'static str)],
}

impl RouteDoc {
    pub const fn new(method: &'static str, path: &'static str, summary: &'static str) -> RouteDoc {
        RouteDoc {
            method,
            path,
            summary,
            permission: Some(Permission::Read),
            scope: "any environment",
            request: None,
            success: 200,
            media: "application/json",
            response: None,
            query: &[],
        }
    }
}

const fn r(method: &'static str, path: &'static str, summary: &'static str) -> RouteDoc {
    RouteDoc::new(method, path, summary)
}

/// Every route of the campaign, approval, ledger and operations API (the run API is in
/// [`runs::ROUTES`]).
pub const ROUTES: &[RouteDoc] = &[
    RouteDoc {
        permission: None,
        scope: "public",
        ..r(
            "GET",
            "/api/health",
            "Liveness; the only route without a token",
        )
    },
    RouteDoc {
        permission: Some(Permission::Execute),
        scope: "the system file's environment, every planned component",
        request: Some(schema_of::<crate::model::RunRequest>),
        success: 202,
        response: Some(schema_of::<crate::model::RunAccepted>),
        ..r(
            "POST",
            "/api/chaos/run",
            "Start a campaign, or file it for approval when its risk needs a human",
        )
    },
    RouteDoc {
        scope: "each campaign's environment (others are left out)",
        query: &[(
            "limit",
            "most campaigns, newest first (1..1000, default 50)",
        )],
        ..r("GET", "/api/chaos/campaigns", "Campaigns, newest first")
    },
    RouteDoc {
        scope: "the campaign's environment",
        ..r(
            "GET",
            "/api/chaos/campaigns/{id}",
            "One campaign with every result",
        )
    },
    RouteDoc {
        scope: "every environment the component was scored in (others are left out)",
        ..r(
            "GET",
            "/api/chaos/resilience",
            "Resilience ranking, weakest first",
        )
    },
    RouteDoc {
        scope: "every environment the component was scored in (others are left out)",
        ..r(
            "GET",
            "/api/chaos/components",
            "Every component ever tested, with its score history",
        )
    },
    RouteDoc {
        scope: "campaigns, runs and budgets of readable environments (others are left out)",
        ..r(
            "GET",
            "/api/chaos/status",
            "Halt latch, campaigns running here, budgets, ledger health",
        )
    },
    RouteDoc {
        permission: Some(Permission::Halt),
        scope: "any environment (stopping is always allowed to those who may stop something)",
        request: Some(schema_of::<crate::model::HaltRequest>),
        ..r(
            "POST",
            "/api/chaos/halt",
            "Stop every campaign and run now and block new ones",
        )
    },
    RouteDoc {
        permission: Some(Permission::Halt),
        scope: "every environment (lifting a halt may re-open production)",
        ..r("POST", "/api/chaos/resume", "Lift the halt")
    },
    RouteDoc {
        scope: "each request's environment (others are left out)",
        query: &[
            ("status", "pending, approved, denied or expired"),
            (
                "limit",
                "most requests, newest first (1..1000, default 100)",
            ),
        ],
        ..r("GET", "/api/approvals", "Approval requests")
    },
    RouteDoc {
        permission: Some(Permission::Approve),
        scope: "the request's environment, every planned component; never the requester",
        request: Some(schema_of::<crate::model::DecisionRequest>),
        success: 202,
        response: Some(schema_of::<crate::model::RunAccepted>),
        ..r(
            "POST",
            "/api/approvals/{id}/approve",
            "Approve a pending request: its frozen plan starts",
        )
    },
    RouteDoc {
        permission: Some(Permission::Approve),
        scope: "the request's environment, every planned component",
        request: Some(schema_of::<crate::model::DecisionRequest>),
        ..r("POST", "/api/approvals/{id}/deny", "Deny a pending request")
    },
    RouteDoc {
        query: &[
            ("after", "only entries with a greater seq (default 0)"),
            ("limit", "most entries (1..1000, default 100)"),
        ],
        ..r("GET", "/api/ledger", "Signed ledger entries, oldest first")
    },
    r(
        "GET",
        "/api/ledger/verify",
        "Verify the whole ledger; names the first problem",
    ),
    RouteDoc {
        scope: "each budget's environment (others are left out)",
        response: Some(schema_of::<Vec<crate::budgets::BudgetView>>),
        ..r("GET", "/api/budgets", "Error budgets per environment")
    },
    RouteDoc {
        media: "text/event-stream",
        query: &[("campaign_id", "only this campaign's events")],
        ..r(
            "GET",
            "/api/events",
            "Live events of the data directory (server-sent events; resumable with Last-Event-ID)",
        )
    },
    r("GET", "/api/openapi.json", "This document"),
    RouteDoc {
        media: "text/plain",
        ..r("GET", "/metrics", "Prometheus metrics")
    },
];

/// The whole catalog: these routes and the run API's.
pub fn catalog() -> Vec<RouteDoc> {
    ROUTES.iter().chain(runs::ROUTES).copied().collect()
}

async fn not_found() -> Response {
    ApiError::not_found("no such route; GET /api/openapi.json lists every route").into_response()
}

async fn method_not_allowed() -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method; GET /api/openapi.json lists every route",
    )
    .into_response()
}

/// The whole API with its guards, ready to serve.
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .route("/api/health", get(health::health))
        .route("/api/chaos/run", post(chaos::run))
        .route("/api/chaos/campaigns", get(campaigns::list))
        .route("/api/chaos/campaigns/{id}", get(campaigns::one))
        .route("/api/chaos/resilience", get(campaigns::resilience))
        .route("/api/chaos/components", get(campaigns::components))
        .route("/api/chaos/status", get(control::status))
        .route("/api/chaos/halt", post(control::halt))
        .route("/api/chaos/resume", post(control::resume))
        .route("/api/approvals", get(approvals::list))
        .route("/api/approvals/{id}/approve", post(approvals::approve))
        .route("/api/approvals/{id}/deny", post(approvals::deny))
        .route("/api/ledger", get(ledger::entries))
        .route("/api/ledger/verify", get(ledger::verify))
        .route("/api/budgets", get(control::budgets))
        .route("/api/events", get(events::stream))
        .route("/api/openapi.json", get(openapi::document))
        .route("/metrics", get(metrics::scrape))
        .merge(runs::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    crate::guard::apply(routes, &state).with_state(state)
}

/// Runs store and ledger work (blocking file and SQLite I/O) off the async workers.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("the request's worker failed: {e}")))?
}
