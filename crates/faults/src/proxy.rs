//! The library API: start a fault proxy in-process (the CLI's `fault-proxy` and agent runs use
//! it), get its address and CA path, and shut it down.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use shakedown_core::Event;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::server::ca::{CaError, CertificateAuthority};
use crate::server::pool::Pool;
use crate::server::route::RouteTable;
use crate::server::scope::Scope;
use crate::server::settings::ProxySettings;
use crate::server::shared::Shared;
use crate::server::tls::{self, TlsError};
use crate::server::upstream::Upstream;
use crate::{CallInfo, CallPlan, Decider, FiredFault};

/// Turns the faults fired on a call into the plan the server executes (normally
/// [`crate::plan::plan_for_request`]). The third argument is the buffered request body, so
/// a JSON-RPC / MCP tool error can carry the request's id.
pub type Planner = Arc<dyn Fn(&CallInfo, &[FiredFault], &[u8]) -> CallPlan + Send + Sync>;

/// Bound on [`FaultProxyHandle::shutdown`]: connections still open after this are dropped.
const SHUTDOWN_BOUND: Duration = Duration::from_secs(3);

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("cannot listen on {addr}: {source} (pick another --listen address)")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("invalid proxy routes: {0}")]
    Routes(String),
    #[error("interception CA: {0}")]
    Ca(#[from] CaError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("preparing the proxy failed: {0}")]
    Task(String),
}

/// How to start a proxy.
pub struct FaultProxyOptions {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// The `proxy:` block.
    pub settings: ProxySettings,
    /// Decides which faults fire on each call.
    pub decider: Arc<dyn Decider>,
    /// Turns fired faults into a plan.
    pub planner: Planner,
    /// Where `fault_injected` events go.
    pub events: Option<mpsc::Sender<Event>>,
    /// Cancelling this stops the proxy (the run's halt).
    pub halt: CancellationToken,
}

/// The fault proxy.
pub struct FaultProxy;

impl FaultProxy {
    /// Binds, prepares the CA (when forward proxying with interception) and starts serving.
    pub async fn start(opts: FaultProxyOptions) -> Result<FaultProxyHandle, ProxyError> {
        let FaultProxyOptions {
            listen,
            settings,
            decider,
            planner,
            events,
            halt,
        } = opts;
        let routes = RouteTable::new(&settings.routes).map_err(ProxyError::Routes)?;
        let provider = tls::provider();
        let upstream_tls = tls::upstream_client_config(
            Arc::clone(&provider),
            settings.upstream_ca_file.as_deref(),
        )?;
        let ca = if settings.forward && settings.intercept_tls {
            let dir = settings
                .ca_dir
                .as_ref()
                .map_or_else(default_ca_dir, PathBuf::from);
            let provider = Arc::clone(&provider);
            // Key generation and file writes are blocking work.
            let ca = tokio::task::spawn_blocking(move || {
                CertificateAuthority::load_or_create(&dir, provider)
            })
            .await
            .map_err(|e| ProxyError::Task(e.to_string()))??;
            Some(Arc::new(ca))
        } else {
            None
        };
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| ProxyError::Bind {
                addr: listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| ProxyError::Bind {
            addr: listen,
            source,
        })?;
        let stop = halt.child_token();
        let tracker = TaskTracker::new();
        let shared = Arc::new(Shared {
            local_addr: addr,
            routes,
            forward: settings.forward,
            ca: ca.clone(),
            max_body: settings.max_request_body_bytes(),
            decider,
            planner,
            events,
            upstream: Upstream {
                tls: upstream_tls,
                scope: Scope::new(&settings.allow_hosts),
                tracker: tracker.clone(),
                halt: stop.clone(),
                pool: Pool::new(tracker.clone(), stop.clone()),
            },
            provider,
        });
        tracker.spawn(crate::server::accept_loop(listener, shared));
        tracing::info!(%addr, "fault proxy listening");
        Ok(FaultProxyHandle {
            addr,
            ca_cert: ca.map(|c| c.cert_path().to_path_buf()),
            stop,
            tracker,
        })
    }
}

/// Where the CA lives when the config names no `ca_dir`: the user's data directory (never a
/// shared temp directory, where another user could plant a key).
fn default_ca_dir() -> PathBuf {
    dirs::data_local_dir()
        .map(|d| d.join("shakedown").join("fault-proxy-ca"))
        .unwrap_or_else(|| PathBuf::from(".shakedown/fault-proxy-ca"))
}

/// A running proxy. Dropping it stops the proxy without waiting.
#[derive(Debug)]
pub struct FaultProxyHandle {
    addr: SocketAddr,
    ca_cert: Option<PathBuf>,
    stop: CancellationToken,
    tracker: TaskTracker,
}

impl FaultProxyHandle {
    /// The address the proxy listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The CA certificate agents must trust for intercepted HTTPS (`None` when interception
    /// is off).
    pub fn ca_cert_path(&self) -> Option<&Path> {
        self.ca_cert.as_deref()
    }

    /// Resolves when the proxy stops (halt or shutdown).
    pub async fn stopped(&self) {
        self.stop.cancelled().await;
    }

    /// Stops accepting, ends open connections (after a short grace for exchanges in flight)
    /// and waits for every task, at most a few seconds.
    pub async fn shutdown(self) {
        self.stop.cancel();
        self.tracker.close();
        if tokio::time::timeout(SHUTDOWN_BOUND, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                tasks = self.tracker.len(),
                "fault proxy tasks still running after shutdown bound"
            );
        }
    }
}

impl Drop for FaultProxyHandle {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
