//! `CONNECT`: with interception, the proxy answers 200, terminates TLS with a leaf minted for
//! the host, and serves the requests inside like forward-proxy requests to
//! `https://host:port`; without it, bytes are tunnelled untouched.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio_rustls::TlsAcceptor;

use super::body::{self, ProxyBody};
use super::error::ServeError;
use super::listener;
use super::route::{Scheme, Target};
use super::service::Origin;
use super::shared::Shared;
use super::tls;

/// Bound on the agent's TLS handshake inside the tunnel.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Answers a `CONNECT` and starts the tunnel task.
pub async fn handle(
    shared: Arc<Shared>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    match start(shared, peer, req).await {
        Ok(()) => {
            let mut resp = Response::new(body::empty());
            *resp.status_mut() = StatusCode::OK;
            resp
        }
        Err(e) => e.into_response(),
    }
}

async fn start(
    shared: Arc<Shared>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<(), ServeError> {
    if !shared.forward {
        return Err(ServeError::OutOfScope(
            "CONNECT is disabled (proxy.forward: false)".into(),
        ));
    }
    let authority = req
        .uri()
        .authority()
        .ok_or_else(|| ServeError::Unsupported("CONNECT needs a host:port target".into()))?;
    let target = Target {
        scheme: Scheme::Https,
        host: authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        port: authority.port_u16().unwrap_or(443),
    };
    if !shared.upstream.scope.admits_name(&target.host) {
        return Err(ServeError::OutOfScope(format!(
            "{} is outside the fault proxy's scope: CONNECT targets must be loopback; add it to proxy.allow_hosts",
            target.host
        )));
    }
    let tracker = shared.upstream.tracker.clone();
    match shared.ca.clone() {
        Some(ca) => {
            let config =
                tls::intercept_server_config(Arc::clone(&shared.provider), ca, target.host.clone())
                    .map_err(|e| ServeError::Unsupported(e.to_string()))?;
            tracker.spawn(intercept(
                shared,
                peer,
                req,
                target,
                TlsAcceptor::from(config),
            ));
        }
        None => {
            // Connect first, so an unreachable target is a 502 rather than a dead tunnel.
            let upstream = shared.upstream.connect(&target, false).await?;
            tracker.spawn(tunnel(shared, req, upstream));
        }
    }
    Ok(())
}

/// Terminates the agent's TLS and serves the requests inside.
async fn intercept(
    shared: Arc<Shared>,
    peer: SocketAddr,
    req: Request<Incoming>,
    target: Target,
    acceptor: TlsAcceptor,
) {
    let halt = shared.upstream.halt.clone();
    let upgraded = tokio::select! {
        u = hyper::upgrade::on(req) => match u {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!(error = %e, "CONNECT upgrade failed");
                return;
            }
        },
        _ = halt.cancelled() => return,
    };
    let handshake =
        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(TokioIo::new(upgraded)));
    let tls = tokio::select! {
        r = handshake => match r {
            Ok(Ok(tls)) => tls,
            // A client that does not trust the CA ends here (it aborts the handshake).
            Ok(Err(e)) => {
                tracing::debug!(host = %target.host, error = %e, "intercepted TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(host = %target.host, "intercepted TLS handshake timed out");
                return;
            }
        },
        _ = halt.cancelled() => return,
    };
    serve_inner(
        TokioIo::new(tls),
        shared,
        Origin::Tunnel(Arc::new(target)),
        peer,
    )
    .await;
}

/// Serves the requests inside the tunnel. Boxed as a `dyn Future + Send`: serving a request
/// can start another tunnel, and the explicit type breaks that cycle for the compiler.
fn serve_inner(
    io: TokioIo<tokio_rustls::server::TlsStream<TokioIo<hyper::upgrade::Upgraded>>>,
    shared: Arc<Shared>,
    origin: Origin,
    peer: SocketAddr,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(listener::serve_http(io, shared, origin, peer))
}

/// Copies bytes both ways until either side closes or the proxy halts.
async fn tunnel(shared: Arc<Shared>, req: Request<Incoming>, mut upstream: tokio::net::TcpStream) {
    let halt = shared.upstream.halt.clone();
    let upgraded = tokio::select! {
        u = hyper::upgrade::on(req) => match u {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!(error = %e, "CONNECT upgrade failed");
                return;
            }
        },
        _ = halt.cancelled() => return,
    };
    let mut client = TokioIo::new(upgraded);
    tokio::select! {
        r = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "tunnel ended with an error");
            }
        }
        _ = halt.cancelled() => {}
    }
}
