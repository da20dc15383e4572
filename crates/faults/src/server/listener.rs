//! Accepting connections and serving HTTP/1.1 on them (on the listening socket and inside
//! intercepted tunnels), with graceful, bounded shutdown.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use super::service::{self, Origin};
use super::shared::Shared;

/// How long open connections get to finish their current exchange at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);
/// Bound on a client sending a request head (slow-loris guard).
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause after a failed accept (out of file descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Accepts connections until halt.
pub async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let halt = shared.upstream.halt.clone();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = halt.cancelled() => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let shared = Arc::clone(&shared);
                shared.upstream.tracker.clone().spawn(serve_http(
                    TokioIo::new(stream),
                    shared,
                    Origin::Listener,
                    peer,
                ));
            }
            Err(e) => {
                tracing::debug!(error = %e, "accept failed");
                tokio::select! {
                    _ = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                    _ = halt.cancelled() => break,
                }
            }
        }
    }
}

/// Serves HTTP/1.1 on one connection until the client leaves or the proxy halts.
pub async fn serve_http<IO>(io: IO, shared: Arc<Shared>, origin: Origin, peer: SocketAddr)
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let halt = shared.upstream.halt.clone();
    let svc = service_fn(move |req: Request<Incoming>| {
        let shared = Arc::clone(&shared);
        let origin = origin.clone();
        async move { Ok::<_, Infallible>(service::handle(shared, origin, peer, req).await) }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    let conn = builder.serve_connection(io, svc).with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => if let Err(e) = r {
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        },
        _ = halt.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, conn).await;
        }
    }
}
