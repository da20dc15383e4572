//! The HTTP server: routes, request parsing with provider-shaped 400s, and SSE bodies.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::rules::Rules;
use crate::wire::{self, Request};
use crate::{anthropic, chat, responses};

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot read the listening address: {0}")]
    Addr(std::io::Error),
    #[error("the server failed: {0}")]
    Serve(std::io::Error),
}

#[derive(Clone, Copy)]
enum Api {
    Chat,
    Responses,
    Anthropic,
}

/// The router with every endpoint, answering from `rules`.
pub fn router(rules: Rules) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/responses", post(responses_api))
        .route("/v1/messages", post(messages))
        .route("/v1/models", get(models))
        .with_state(Arc::new(rules))
}

/// Serves on `listener` until `shutdown` completes (bind port 0 and read [`local_addr`] to
/// learn the port).
pub async fn serve(
    listener: TcpListener,
    rules: Rules,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    axum::serve(listener, router(rules))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServeError::Serve)
}

/// The address a listener is bound to.
pub fn local_addr(listener: &TcpListener) -> Result<SocketAddr, ServeError> {
    listener.local_addr().map_err(ServeError::Addr)
}

async fn chat_completions(State(rules): State<Arc<Rules>>, body: Bytes) -> Response {
    handle(Api::Chat, &rules, body)
}

async fn responses_api(State(rules): State<Arc<Rules>>, body: Bytes) -> Response {
    handle(Api::Responses, &rules, body)
}

async fn messages(State(rules): State<Arc<Rules>>, body: Bytes) -> Response {
    handle(Api::Anthropic, &rules, body)
}

/// Both providers' list shapes at once: OpenAI reads `object`/`created`/`owned_by`,
/// Anthropic reads `type`/`display_name`/`created_at` and the paging fields.
async fn models(State(rules): State<Arc<Rules>>) -> Response {
    let data: Vec<Value> = rules
        .models
        .iter()
        .map(|m| {
            json!({
                "id": m,
                "object": "model",
                "created": wire::CREATED,
                "owned_by": "shakedown",
                "type": "model",
                "display_name": m,
                "created_at": "2023-11-14T22:13:20Z",
            })
        })
        .collect();
    let body = json!({
        "object": "list",
        "first_id": rules.models.first(),
        "last_id": rules.models.last(),
        "has_more": false,
        "data": data,
    });
    json_response(StatusCode::OK, &body)
}

fn handle(api: Api, rules: &Rules, raw: Bytes) -> Response {
    let body: Value = match serde_json::from_slice(&raw) {
        Ok(v) => v,
        Err(e) => return bad_request(api, &format!("the request body is not valid JSON: {e}")),
    };
    let parsed = match api {
        Api::Chat => chat::read(&body),
        Api::Responses => responses::read(&body),
        Api::Anthropic => anthropic::read(&body),
    };
    let req: Request = match parsed {
        Ok(r) => r,
        Err(msg) => return bad_request(api, &msg),
    };
    let (reply, rule) = rules.answer(&req.model, req.turn.as_ref());
    tracing::debug!(model = %req.model, rule = rule.unwrap_or("default"), "mock-llm reply");
    if req.stream {
        let frames = match api {
            Api::Chat => chat::stream(reply, &req, &raw, &body),
            Api::Responses => responses::stream(reply, &req, &raw),
            Api::Anthropic => anthropic::stream(reply, &req, &raw),
        };
        let stream = futures_util::stream::iter(frames.into_iter().map(Ok::<_, std::io::Error>));
        Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/event-stream; charset=utf-8")
            .header(header::CACHE_CONTROL, "no-cache")
            .header("x-request-id", wire::id("req_", &raw, "request"))
            .body(Body::from_stream(stream))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
    } else {
        let value = match api {
            Api::Chat => chat::complete(reply, &req, &raw),
            Api::Responses => responses::complete(reply, &req, &raw),
            Api::Anthropic => anthropic::complete(reply, &req, &raw),
        };
        let mut resp = json_response(StatusCode::OK, &value);
        if let Ok(v) = wire::id("req_", &raw, "request").parse() {
            resp.headers_mut().insert("x-request-id", v);
        }
        resp
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// A 400 in the provider's error shape, so SDKs raise their `BadRequestError`.
fn bad_request(api: Api, message: &str) -> Response {
    let body = match api {
        Api::Anthropic => json!({
            "type": "error",
            "error": {"type": "invalid_request_error", "message": message},
        }),
        Api::Chat | Api::Responses => json!({
            "error": {"message": message, "type": "invalid_request_error", "param": null,
                      "code": null},
        }),
    };
    json_response(StatusCode::BAD_REQUEST, &body)
}
