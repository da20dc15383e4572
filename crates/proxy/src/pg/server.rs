//! [`PgProxy`]: the listener. One task per client session, a semaphore bounding how many run
//! at once, a shared cancel registry, and shutdown through a `CancellationToken` +
//! `TaskTracker` (mini-redis style). A bad session never takes the listener down.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::cancel::CancelRegistry;
use super::codec::FrameLimits;
use super::error::ProxyError;
use super::events::{EventSink, ProxyEvent};
use super::interceptor::InterceptorFactory;
use super::messages::{ErrorResponse, Message};
use super::session::{self, Shared};
use super::sqlstate;

/// How long `accept` errors (e.g. out of file descriptors) pause the loop.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// Default [`PgProxyConfig::max_holdback`]: 8 MiB.
pub const DEFAULT_MAX_HOLDBACK: usize = 8 << 20;

/// Proxy settings.
#[derive(Debug, Clone)]
pub struct PgProxyConfig {
    /// Where clients connect (port 0 picks a free one).
    pub listen: SocketAddr,
    /// The PostgreSQL server behind the proxy.
    pub upstream: SocketAddr,
    /// Message and statement size limits.
    pub limits: FrameLimits,
    /// Bound on connecting to the upstream.
    pub connect_timeout: Duration,
    /// Bound on startup + authentication (PostgreSQL's `authentication_timeout` is 60 s).
    pub startup_timeout: Duration,
    /// Sessions served at once; further clients get FATAL 53300.
    pub max_sessions: usize,
    /// Bytes of a row-checked statement's results held back at most while its row count is
    /// unknown (per session); a statement with larger results fails closed (undone and
    /// refused). See [`Verdict::RowCheck`](super::Verdict::RowCheck).
    pub max_holdback: usize,
    /// Where observations go, if anywhere.
    pub events: Option<mpsc::Sender<ProxyEvent>>,
    /// An outside halt: cancelling it stops the proxy like [`PgProxy::shutdown`].
    pub halt: Option<CancellationToken>,
}

impl PgProxyConfig {
    /// Defaults for `listen` → `upstream`.
    pub fn new(listen: SocketAddr, upstream: SocketAddr) -> Self {
        Self {
            listen,
            upstream,
            limits: FrameLimits::default(),
            connect_timeout: Duration::from_secs(5),
            startup_timeout: Duration::from_secs(60),
            max_sessions: 1024,
            max_holdback: DEFAULT_MAX_HOLDBACK,
            events: None,
            halt: None,
        }
    }

    /// Send observations to `tx`.
    pub fn with_events(mut self, tx: mpsc::Sender<ProxyEvent>) -> Self {
        self.events = Some(tx);
        self
    }

    /// Stop when `halt` is cancelled.
    pub fn with_halt(mut self, halt: CancellationToken) -> Self {
        self.halt = Some(halt);
        self
    }

    /// Use these size limits.
    pub fn with_limits(mut self, limits: FrameLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Hold back at most `bytes` of a row-checked statement's results.
    pub fn with_max_holdback(mut self, bytes: usize) -> Self {
        self.max_holdback = bytes;
        self
    }
}

/// A running proxy. Dropping it stops accepting and ends every session; [`shutdown`]
/// additionally waits until they are gone.
///
/// [`shutdown`]: PgProxy::shutdown
#[derive(Debug)]
pub struct PgProxy {
    local_addr: SocketAddr,
    token: CancellationToken,
    tracker: TaskTracker,
    registry: Arc<CancelRegistry>,
    semaphore: Arc<Semaphore>,
    max_sessions: usize,
}

impl PgProxy {
    /// Listen on `listen`, forward to `upstream`, with default settings.
    pub async fn bind<F: InterceptorFactory>(
        listen: SocketAddr,
        upstream: SocketAddr,
        factory: F,
    ) -> Result<Self, ProxyError> {
        Self::bind_with(PgProxyConfig::new(listen, upstream), factory).await
    }

    /// Listen with explicit settings.
    pub async fn bind_with<F: InterceptorFactory>(
        config: PgProxyConfig,
        factory: F,
    ) -> Result<Self, ProxyError> {
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| ProxyError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let local_addr = listener.local_addr().map_err(|source| ProxyError::Bind {
            addr: config.listen,
            source,
        })?;
        let token = match &config.halt {
            Some(halt) => halt.child_token(),
            None => CancellationToken::new(),
        };
        let tracker = TaskTracker::new();
        let registry = Arc::new(CancelRegistry::default());
        let max_sessions = config.max_sessions.max(1);
        let semaphore = Arc::new(Semaphore::new(max_sessions));
        let shared = Arc::new(Shared {
            upstream: config.upstream,
            limits: config.limits,
            connect_timeout: config.connect_timeout,
            startup_timeout: config.startup_timeout,
            max_holdback: config.max_holdback,
            registry: Arc::clone(&registry),
            events: config.events.map(EventSink::new).unwrap_or_default(),
            factory,
            token: token.clone(),
        });
        tracing::info!(%local_addr, upstream = %config.upstream, "pg proxy listening");
        tracker.spawn(accept_loop(
            listener,
            shared,
            tracker.clone(),
            Arc::clone(&semaphore),
        ));
        Ok(Self {
            local_addr,
            token,
            tracker,
            registry,
            semaphore,
            max_sessions,
        })
    }

    /// The address clients connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Sessions being served right now (including ones still starting up).
    pub fn active_sessions(&self) -> usize {
        self.max_sessions - self.semaphore.available_permits()
    }

    /// Sessions whose cancel key is registered (authenticated and live).
    pub fn cancellable_sessions(&self) -> usize {
        self.registry.len()
    }

    /// The token that stops this proxy; cancel it to halt from elsewhere.
    pub fn halt_token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// Stop accepting, end every session (clients get FATAL 57P01 between messages), and wait
    /// for all tasks to finish.
    pub async fn shutdown(self) {
        self.token.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

impl Drop for PgProxy {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

async fn accept_loop<F: InterceptorFactory>(
    listener: TcpListener,
    shared: Arc<Shared<F>>,
    tracker: TaskTracker,
    semaphore: Arc<Semaphore>,
) {
    let next_id = AtomicU64::new(1);
    loop {
        let accepted = tokio::select! {
            _ = shared.token.cancelled() => break,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed; backing off");
                tokio::select! {
                    _ = shared.token.cancelled() => break,
                    _ = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                }
            }
        };
        let Ok(permit) = Arc::clone(&semaphore).try_acquire_owned() else {
            tracker.spawn(refuse(stream));
            continue;
        };
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        tracker.spawn(serve(Arc::clone(&shared), id, stream, peer, permit));
    }
    tracing::debug!("pg proxy stopped accepting");
}

async fn serve<F: InterceptorFactory>(
    shared: Arc<Shared<F>>,
    id: u64,
    stream: TcpStream,
    peer: SocketAddr,
    _permit: OwnedSemaphorePermit,
) {
    session::serve(shared, id, stream, peer).await;
}

/// Over capacity: answer like PostgreSQL does and close.
async fn refuse(mut stream: TcpStream) {
    let fatal = ErrorResponse::fatal(
        sqlstate::TOO_MANY_CONNECTIONS,
        "sorry, too many clients already (shakedown proxy session limit)",
    );
    let _ = tokio::time::timeout(
        Duration::from_secs(1),
        stream.write_all(fatal.to_frame().as_bytes()),
    )
    .await;
}
