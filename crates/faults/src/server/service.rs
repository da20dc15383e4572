//! Per-request dispatch: `CONNECT`, forward-proxy (absolute-form) requests, requests inside
//! an intercepted tunnel, and reverse-proxy (origin-form) requests each find their upstream
//! here; then the call pipeline runs.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Method, Request, Response};
use hyper::body::Incoming;

use super::body::ProxyBody;
use super::error::ServeError;
use super::route::Target;
use super::shared::Shared;
use super::{call, connect};

/// Where a connection's requests come from.
#[derive(Debug, Clone)]
pub enum Origin {
    /// The proxy's listening socket: reverse and forward requests.
    Listener,
    /// An intercepted `CONNECT` tunnel to this HTTPS target.
    Tunnel(Arc<Target>),
}

/// Where one call goes.
#[derive(Debug, Clone)]
pub struct Destination {
    pub target: Target,
    /// Path and query sent upstream.
    pub upstream_path: String,
    /// Tool named by the route.
    pub route_tool: Option<String>,
    /// Configured routes are trusted and skip the scope check.
    pub trusted: bool,
}

/// Answers one request; errors become JSON answers.
pub async fn handle(
    shared: Arc<Shared>,
    origin: Origin,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    if req.method() == Method::CONNECT {
        return match origin {
            Origin::Listener => connect::handle(shared, peer, req).await,
            Origin::Tunnel(_) => ServeError::Unsupported(
                "CONNECT inside an intercepted tunnel is not supported".into(),
            )
            .into_response(),
        };
    }
    let dest = match destination(&shared, &origin, &req) {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    call::run(shared, dest, peer, req)
        .await
        .unwrap_or_else(ServeError::into_response)
}

fn destination(
    shared: &Shared,
    origin: &Origin,
    req: &Request<Incoming>,
) -> Result<Destination, ServeError> {
    let path_and_query = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    match origin {
        Origin::Tunnel(target) => Ok(Destination {
            target: (**target).clone(),
            upstream_path: path_and_query,
            route_tool: None,
            trusted: false,
        }),
        // An agent with both HTTP_PROXY and its base URL pointing at the proxy sends
        // absolute-form requests for the proxy's own address: route them (one hop, one call
        // counted), never forward them back to ourselves.
        Origin::Listener if req.uri().scheme().is_some() && !is_self(shared, req.uri()) => {
            if !shared.forward {
                return Err(ServeError::OutOfScope(
                    "forward proxying is disabled (proxy.forward: false); call a route instead"
                        .into(),
                ));
            }
            let target = Target::from_uri(req.uri()).map_err(ServeError::Unsupported)?;
            Ok(Destination {
                target,
                upstream_path: path_and_query,
                route_tool: None,
                trusted: false,
            })
        }
        Origin::Listener => {
            let m = shared
                .routes
                .resolve(&path_and_query)
                .ok_or_else(|| ServeError::NoRoute {
                    path: req.uri().path().to_string(),
                })?;
            Ok(Destination {
                target: m.target.clone(),
                upstream_path: m.upstream_path,
                route_tool: m.tool.map(str::to_string),
                trusted: true,
            })
        }
    }
}

/// Whether an absolute URI names the proxy's own listening address.
fn is_self(shared: &Shared, uri: &http::Uri) -> bool {
    let Ok(target) = Target::from_uri(uri) else {
        return false;
    };
    let local = shared.local_addr;
    target.port == local.port()
        && (local.ip().is_loopback() || local.ip().is_unspecified())
        && super::scope::is_loopback_name(&target.host)
}
