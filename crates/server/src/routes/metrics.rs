//! `GET /metrics`: the Prometheus text exposition (needs `read`, like every route but health).

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use shakedown_govern::Permission;

use crate::error::ApiResult;
use crate::guard::auth::Caller;
use crate::state::AppState;

pub async fn scrape(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Response> {
    caller.require_somewhere(Permission::Read)?;
    let s = state.clone();
    let text = tokio::task::spawn_blocking(move || s.metrics.render(&s.gauges()))
        .await
        .map_err(|e| crate::error::ApiError::internal(e.to_string()))?;
    let mut resp = text.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(resp)
}
