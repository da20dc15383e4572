//! `GET /api/openapi.json`: the OpenAPI 3.1 document, built from the route catalog. Schemas
//! come from the request and answer types (JSON Schema 2020-12, OpenAPI 3.1's own dialect).

use axum::Extension;
use axum::Json;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};
use shakedown_govern::Permission;

use super::{RouteDoc, catalog};
use crate::error::ApiResult;
use crate::guard::auth::Caller;
use crate::model::ErrorBody;

pub async fn document(Extension(caller): Extension<Caller>) -> ApiResult<Json<Value>> {
    caller.require_somewhere(Permission::Read)?;
    Ok(Json(build(&catalog())))
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    })
}

/// The document for `routes`.
pub fn build(routes: &[RouteDoc]) -> Value {
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = "/components/schemas".into();
    let mut generator = settings.into_generator();
    generator.subschema_for::<ErrorBody>();
    let mut paths: Map<String, Value> = Map::new();
    for route in routes {
        let mut op = Map::new();
        op.insert("summary".into(), json!(route.summary));
        op.insert(
            "operationId".into(),
            json!(format!(
                "{}_{}",
                route.method.to_ascii_lowercase(),
                route
                    .path
                    .trim_start_matches('/')
                    .replace(['/', '.'], "_")
                    .replace(['{', '}'], "")
            )),
        );
        let perm = route.permission.map_or("none", Permission::as_str);
        op.insert(
            "description".into(),
            json!(format!("Permission: `{perm}` ({}).", route.scope)),
        );
        op.insert("x-permission".into(), json!(perm));
        if route.permission.is_none() {
            op.insert("security".into(), json!([]));
        }
        let mut params: Vec<Value> = route
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        params.extend(route.query.iter().map(|(name, desc)| {
            json!({"name": name, "in": "query", "required": false, "description": desc, "schema": {"type": "string"}})
        }));
        if !params.is_empty() {
            op.insert("parameters".into(), Value::Array(params));
        }
        if let Some(req) = route.request {
            let schema = req(&mut generator);
            op.insert(
                "requestBody".into(),
                json!({
                    "required": route.path == "/api/chaos/run",
                    "content": {"application/json": {"schema": schema}}
                }),
            );
        }
        let success_schema = route
            .response
            .map(|f| f(&mut generator).to_value())
            .unwrap_or_else(|| match route.media {
                "application/json" => json!({"type": "object"}),
                _ => json!({"type": "string"}),
            });
        let mut responses = Map::new();
        responses.insert(
            route.success.to_string(),
            json!({"description": "success", "content": {route.media: {"schema": success_schema}}}),
        );
        if route.permission.is_some() {
            responses.insert(
                "401".into(),
                error_response("no token, or an unknown, revoked or expired one"),
            );
            responses.insert(
                "403".into(),
                error_response("the token's roles do not grant the permission in this scope"),
            );
            responses.insert("429".into(), error_response("rate limit (Retry-After), or an exhausted error budget (X-Gate-Enforced: BudgetExhausted)"));
        }
        if route.request.is_some() {
            responses.insert("400".into(), error_response("the body is not valid JSON"));
            responses.insert("413".into(), error_response("the body is over 1 MB"));
            responses.insert(
                "422".into(),
                error_response("the body or the system file is not valid (every problem located)"),
            );
        }
        responses.insert(
            "503".into(),
            error_response("overloaded (Retry-After) or the ledger / store is unusable"),
        );
        op.insert("responses".into(), Value::Object(responses));
        let entry = paths
            .entry(route.path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = entry {
            m.insert(route.method.to_ascii_lowercase(), Value::Object(op));
        }
    }
    let schemas = generator.take_definitions(true);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Shakedown control plane API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Governed chaos: campaigns, approvals, the halt lever, the signed ledger, error budgets, live events. Every route but /api/health needs `Authorization: Bearer <token>` (`shakedown token create`). Errors are `{\"error\": {\"code\", \"message\"}}`.",
        },
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    })
}
