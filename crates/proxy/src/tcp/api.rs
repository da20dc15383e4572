//! The Toxiproxy-compatible HTTP admin API over a [`TcpProxyServer`]: same routes, JSON shapes
//! and status codes (201 on create, 204 on delete/reset, 404/409, and 400 with
//! `{"error", "status"}` on an invalid body, which changes nothing).

mod cutoff;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::model::{ApiError, ProxySpec, ToxicSpec};
use super::registry::{ProxyView, TcpProxyServer};

/// The version `GET /version` reports.
pub const VERSION: &str = concat!("shakedown-", env!("CARGO_PKG_VERSION"));

/// How long requests in progress may still finish after a halt before their connections are
/// cut.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(self)).into_response()
    }
}

type ApiResult = Result<Response, ApiError>;

/// The admin API's routes.
pub fn router(server: TcpProxyServer) -> Router {
    Router::new()
        .route("/version", get(version))
        .route("/reset", post(reset))
        .route("/populate", post(populate))
        .route("/proxies", get(list).post(create))
        .route(
            "/proxies/{proxy}",
            get(show).post(update).patch(update).delete(remove),
        )
        .route("/proxies/{proxy}/toxics", get(toxics).post(add_toxic))
        .route(
            "/proxies/{proxy}/toxics/{toxic}",
            get(show_toxic)
                .post(update_toxic)
                .patch(update_toxic)
                .delete(remove_toxic),
        )
        .with_state(server)
}

/// Serves the admin API on `listener` until `halt` is cancelled. After the halt, requests in
/// progress get [`SHUTDOWN_GRACE`] to finish; then every admin connection still open (e.g. a
/// client that sent half a request and went quiet) is cut, so this returns in bounded time.
pub async fn serve(
    listener: tokio::net::TcpListener,
    server: TcpProxyServer,
    halt: CancellationToken,
) -> std::io::Result<()> {
    let cut = CancellationToken::new();
    let stop = halt.clone();
    let graceful = axum::serve(
        cutoff::CutoffListener::new(listener, cut.clone()),
        router(server),
    )
    .with_graceful_shutdown(async move { stop.cancelled().await })
    .into_future();
    tokio::pin!(graceful);
    tokio::select! {
        r = &mut graceful => return r,
        () = halt.cancelled() => {}
    }
    tokio::select! {
        r = &mut graceful => return r,
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {}
    }
    tracing::debug!("tcp-proxy admin API: cutting connections still open after the grace period");
    cut.cancel();
    graceful.await
}

/// Binds `addr` and returns the listener and its bound address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<(tokio::net::TcpListener, SocketAddr)> {
    let l = tokio::net::TcpListener::bind(addr).await?;
    let a = l.local_addr()?;
    Ok((l, a))
}

fn json(status: StatusCode, v: Value) -> Response {
    (status, axum::Json(v)).into_response()
}

fn parse(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("bad request body: {e}")))
}

async fn version() -> Response {
    json(StatusCode::OK, serde_json::json!({"version": VERSION}))
}

async fn reset(State(s): State<TcpProxyServer>) -> ApiResult {
    s.reset()?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list(State(s): State<TcpProxyServer>) -> Response {
    let map: serde_json::Map<String, Value> = s
        .list()
        .into_iter()
        .map(|p| (p.spec.name.clone(), p.to_json()))
        .collect();
    json(StatusCode::OK, Value::Object(map))
}

fn spec_from(v: Value) -> Result<ProxySpec, ApiError> {
    serde_json::from_value(v).map_err(|e| ApiError::bad_request(format!("bad request body: {e}")))
}

async fn create(State(s): State<TcpProxyServer>, body: Bytes) -> ApiResult {
    let spec = spec_from(parse(&body)?)?;
    let p = s.create(spec)?;
    Ok(json(StatusCode::CREATED, p.to_json()))
}

async fn populate(State(s): State<TcpProxyServer>, body: Bytes) -> ApiResult {
    let v = parse(&body)?;
    // Toxiproxy takes a bare array; accept `{"proxies": [...]}` too.
    let arr = match v {
        Value::Array(a) => a,
        Value::Object(mut o) if o.get("proxies").is_some_and(Value::is_array) => {
            match o.remove("proxies") {
                Some(Value::Array(a)) => a,
                _ => Vec::new(),
            }
        }
        _ => {
            return Err(ApiError::bad_request(
                "bad request body: expected an array of proxies",
            ));
        }
    };
    let specs = arr
        .into_iter()
        .map(spec_from)
        .collect::<Result<Vec<_>, _>>()?;
    let out = s.populate(specs)?;
    Ok(json(
        StatusCode::CREATED,
        serde_json::json!({"proxies": out.iter().map(ProxyView::to_json).collect::<Vec<_>>()}),
    ))
}

async fn show(State(s): State<TcpProxyServer>, Path(proxy): Path<String>) -> ApiResult {
    Ok(json(StatusCode::OK, s.get(&proxy)?.to_json()))
}

async fn update(
    State(s): State<TcpProxyServer>,
    Path(proxy): Path<String>,
    body: Bytes,
) -> ApiResult {
    s.get(&proxy)?;
    let v = parse(&body)?;
    Ok(json(StatusCode::OK, s.update(&proxy, &v)?.to_json()))
}

async fn remove(State(s): State<TcpProxyServer>, Path(proxy): Path<String>) -> ApiResult {
    s.delete(&proxy)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn toxics(State(s): State<TcpProxyServer>, Path(proxy): Path<String>) -> ApiResult {
    let list: Vec<Value> = s.toxics(&proxy)?.iter().map(ToxicSpec::to_json).collect();
    Ok(json(StatusCode::OK, Value::Array(list)))
}

async fn add_toxic(
    State(s): State<TcpProxyServer>,
    Path(proxy): Path<String>,
    body: Bytes,
) -> ApiResult {
    s.get(&proxy)?;
    let v = parse(&body)?;
    Ok(json(StatusCode::OK, s.add_toxic(&proxy, &v)?.to_json()))
}

async fn show_toxic(
    State(s): State<TcpProxyServer>,
    Path((proxy, toxic)): Path<(String, String)>,
) -> ApiResult {
    let t = s
        .toxics(&proxy)?
        .into_iter()
        .find(|t| t.name == toxic)
        .ok_or_else(ApiError::toxic_not_found)?;
    Ok(json(StatusCode::OK, t.to_json()))
}

async fn update_toxic(
    State(s): State<TcpProxyServer>,
    Path((proxy, toxic)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    s.get(&proxy)?;
    let v = parse(&body)?;
    Ok(json(
        StatusCode::OK,
        s.update_toxic(&proxy, &toxic, &v)?.to_json(),
    ))
}

async fn remove_toxic(
    State(s): State<TcpProxyServer>,
    Path((proxy, toxic)): Path<(String, String)>,
) -> ApiResult {
    s.remove_toxic(&proxy, &toxic)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
