//! The call pipeline: buffer the request body (capped), describe the call, ask the decider,
//! emit one `fault_injected` event per fired fault, get the plan and execute it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use time::OffsetDateTime;

use super::body::ProxyBody;
use super::error::ServeError;
use super::execute;
use super::service::Destination;
use super::shared::Shared;
use crate::{CallInfo, FiredFault, detect, events};

/// Bound on receiving a request body; a client that trickles it is cut off.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs one call.
pub async fn run(
    shared: Arc<Shared>,
    dest: Destination,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, ServeError> {
    let (parts, body) = req.into_parts();
    let body = read_body(&shared, &parts.headers, body).await?;
    let url = format!("{}{}", dest.target.origin(), dest.upstream_path);
    let mut call = detect::describe(
        parts.method.clone(),
        url,
        parts.uri.path().to_string(),
        &dest.upstream_path,
        parts.headers.clone(),
        &body,
        dest.route_tool.as_deref(),
    );
    let fired = shared.decider.decide(&mut call);
    emit(&shared, &call, &fired).await;
    let plan = (shared.planner)(&call, &fired, &body);
    tracing::debug!(url = %call.url, call_number = call.call_number, faults = fired.len(), "call");
    execute::run(&shared, plan, &dest, parts, body, peer).await
}

/// Buffers the body, refusing it past the cap (before reading when `content-length` says so).
async fn read_body(
    shared: &Shared,
    headers: &HeaderMap,
    body: Incoming,
) -> Result<Bytes, ServeError> {
    let limit = shared.max_body;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ServeError::TooLarge { limit });
    }
    let cap = usize::try_from(limit).unwrap_or(usize::MAX);
    let collect = Limited::new(body, cap).collect();
    let collected = tokio::select! {
        r = tokio::time::timeout(BODY_TIMEOUT, collect) => r.map_err(|_| {
            ServeError::BadBody(format!("the body did not arrive within {BODY_TIMEOUT:?}"))
        })?,
        _ = shared.upstream.halt.cancelled() => return Err(ServeError::ShuttingDown),
    };
    match collected {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ServeError::TooLarge { limit }),
        Err(e) => Err(ServeError::BadBody(e.to_string())),
    }
}

/// One `fault_injected` event per fired fault. A full events channel slows the proxy rather
/// than losing events (a run asserts on them); halt ends the wait.
async fn emit(shared: &Shared, call: &CallInfo, fired: &[FiredFault]) {
    let Some(tx) = &shared.events else { return };
    for f in fired {
        let ev = events::fault_injected(call, f, OffsetDateTime::now_utc());
        tokio::select! {
            r = tx.send(ev) => if r.is_err() { return },
            _ = shared.upstream.halt.cancelled() => return,
        }
    }
}
