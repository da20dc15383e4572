//! Sends one call to its upstream: resolve (checking scope for untrusted targets), connect
//! over TCP, TLS for HTTPS, one HTTP/1.1 exchange. Calls that pass through untouched reuse
//! keep-alive connections from the [`Pool`]; faulted calls get a connection of their own, so
//! a fault that aborts never poisons a shared connection.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::error::ServeError;
use super::pool::{Pool, PoolKey, Sender};
use super::route::{Scheme, Target};
use super::scope::Scope;

/// Bound on DNS + TCP connect + TLS handshake to an upstream.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the upstream side needs.
pub struct Upstream {
    pub tls: Arc<ClientConfig>,
    pub scope: Scope,
    pub tracker: TaskTracker,
    pub halt: CancellationToken,
    /// Idle keep-alive connections for calls that pass through untouched.
    pub pool: Arc<Pool>,
}

impl Upstream {
    /// Resolves and connects to `target`. `trusted` targets (configured routes) skip the scope
    /// check.
    pub async fn connect(&self, target: &Target, trusted: bool) -> Result<TcpStream, ServeError> {
        if !trusted && !self.scope.admits_name(&target.host) {
            return Err(out_of_scope(&target.host));
        }
        let work = async {
            let addrs: Vec<_> = tokio::net::lookup_host((target.host.as_str(), target.port))
                .await
                .map_err(|e| {
                    ServeError::Unreachable(format!("cannot resolve {}: {e}", target.host))
                })?
                .collect();
            if !trusted && !self.scope.admits_addrs(&target.host, &addrs) {
                return Err(out_of_scope(&target.host));
            }
            let mut last = None;
            for addr in addrs {
                match TcpStream::connect(addr).await {
                    Ok(s) => {
                        let _ = s.set_nodelay(true);
                        return Ok(s);
                    }
                    Err(e) => last = Some(e),
                }
            }
            Err(ServeError::Unreachable(format!(
                "cannot connect to upstream {}: {}",
                target.host_port(),
                last.map_or_else(|| "no address".to_string(), |e| e.to_string())
            )))
        };
        tokio::select! {
            r = tokio::time::timeout(CONNECT_TIMEOUT, work) => r.unwrap_or_else(|_| {
                Err(ServeError::Unreachable(format!(
                    "connecting to upstream {} timed out after {CONNECT_TIMEOUT:?}",
                    target.host_port()
                )))
            }),
            _ = self.halt.cancelled() => Err(ServeError::ShuttingDown),
        }
    }

    /// Sends `req` (origin-form URI, `Host` already set) and returns the response head; the
    /// body streams from the upstream as the caller reads it. With `reuse`, an idle
    /// keep-alive connection to the same upstream is used when there is one, and the
    /// connection goes back to the pool once the body has been read; without it the call gets
    /// a connection of its own, closed after the exchange (faulted calls use these, so a fault
    /// that drops a body never touches a shared connection).
    pub async fn send(
        &self,
        target: &Target,
        trusted: bool,
        req: Request<Full<Bytes>>,
        reuse: bool,
    ) -> Result<Response<Incoming>, ServeError> {
        if !reuse {
            let (_sender, resp) = self.fresh(target, trusted, req).await?;
            return Ok(resp);
        }
        if !trusted && !self.scope.admits_name(&target.host) {
            return Err(out_of_scope(&target.host));
        }
        let key = PoolKey {
            scheme: target.scheme,
            host: target.host.clone(),
            port: target.port,
            trusted,
        };
        let mut req = req;
        if let Some(mut sender) = self.pool.checkout(&key) {
            // A copy in case the upstream closed this idle connection as we wrote to it.
            let copy = clone_request(&req);
            let sent = tokio::select! {
                r = sender.try_send_request(req) => r,
                _ = self.halt.cancelled() => return Err(ServeError::ShuttingDown),
            };
            match sent {
                Ok(resp) => {
                    self.pool.checkin(key, sender);
                    return Ok(resp);
                }
                Err(mut e) => {
                    let err = e.error();
                    // Only a request the upstream cannot have acted on is sent again: not
                    // written at all, or cut off by the connection closing under it.
                    if !(err.is_canceled() || err.is_closed() || err.is_incomplete_message()) {
                        return Err(ServeError::Upstream(e.error().to_string()));
                    }
                    tracing::debug!(error = %err, "pooled upstream connection was closed; retrying on a new one");
                    req = e.take_message().unwrap_or(copy);
                }
            }
        }
        let (sender, resp) = self.fresh(target, trusted, req).await?;
        self.pool.checkin(key, sender);
        Ok(resp)
    }

    /// One exchange on a new connection.
    async fn fresh(
        &self,
        target: &Target,
        trusted: bool,
        req: Request<Full<Bytes>>,
    ) -> Result<(Sender, Response<Incoming>), ServeError> {
        let tcp = self.connect(target, trusted).await?;
        match target.scheme {
            Scheme::Http => self.exchange(TokioIo::new(tcp), req).await,
            Scheme::Https => {
                let name = ServerName::try_from(target.host.clone()).map_err(|e| {
                    ServeError::Unreachable(format!("`{}` is not a TLS name: {e}", target.host))
                })?;
                let connector = tokio_rustls::TlsConnector::from(Arc::clone(&self.tls));
                let tls = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp))
                    .await
                    .map_err(|_| {
                        ServeError::Unreachable(format!(
                            "TLS handshake with upstream {} timed out",
                            target.host_port()
                        ))
                    })?
                    .map_err(|e| {
                        ServeError::Unreachable(format!(
                            "TLS handshake with upstream {} failed: {e} (set proxy.upstream_ca_file to trust a private CA)",
                            target.host_port()
                        ))
                    })?;
                self.exchange(TokioIo::new(tls), req).await
            }
        }
    }

    async fn exchange<IO>(
        &self,
        io: IO,
        req: Request<Full<Bytes>>,
    ) -> Result<(Sender, Response<Incoming>), ServeError>
    where
        IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| ServeError::Upstream(e.to_string()))?;
        let halt = self.halt.clone();
        // Drives the connection until its last sender is dropped and the last response body
        // is read or dropped, or halt.
        self.tracker.spawn(async move {
            tokio::select! {
                r = conn => if let Err(e) = r {
                    tracing::debug!(error = %e, "upstream connection ended with an error");
                },
                _ = halt.cancelled() => {}
            }
        });
        let resp = tokio::select! {
            r = sender.send_request(req) => r.map_err(|e| ServeError::Upstream(e.to_string()))?,
            _ = self.halt.cancelled() => return Err(ServeError::ShuttingDown),
        };
        Ok((sender, resp))
    }
}

/// A copy of a buffered request (the body is reference-counted bytes).
fn clone_request(req: &Request<Full<Bytes>>) -> Request<Full<Bytes>> {
    let mut copy = Request::new(req.body().clone());
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.version_mut() = req.version();
    *copy.headers_mut() = req.headers().clone();
    copy
}

fn out_of_scope(host: &str) -> ServeError {
    ServeError::OutOfScope(format!(
        "{host} is outside the fault proxy's scope: forward-proxy and CONNECT targets must be loopback; add it to proxy.allow_hosts or configure a route for it"
    ))
}
