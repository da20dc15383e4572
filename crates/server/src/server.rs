//! Starting and stopping the server. On start: the store is opened and campaigns a dead
//! server left `running` are marked `interrupted` (and recorded in the ledger); the ledger is
//! opened (fail closed: no ledger, no server); the halt latch is watched so a
//! `shakedown halt` from any process cancels this server's campaigns. Then an accept loop with
//! a connection cap serves each connection with a deadline for its request head.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioTimer;
use serde_json::json;
use shakedown_control::governance::CAMPAIGN_CATEGORY;
use shakedown_control::{EventBus, Governance};
use shakedown_httpguard::accept::{next_connection, serve_http1};
use shakedown_httpguard::reject::Rejector;
use shakedown_ledger::LedgerError;
use shakedown_store::{SqliteStore, Store, StoreError};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::config::ServerConfig;
use crate::state::{AppState, Campaigns, Shared};

/// How long open connections get to finish their exchange on shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);
/// How long shutdown waits for halted campaigns to store their end.
const CAMPAIGN_GRACE: Duration = Duration::from_secs(10);
/// hyper's read buffer cap: a request head larger than this is refused (431).
const MAX_HEAD: usize = 64 * 1024;
/// The actor of what the server does on its own.
pub const SERVER_ACTOR: &str = "shakedown";

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("invalid server configuration: {0}")]
    Config(String),
    #[error("cannot open the store: {0}")]
    Store(#[from] StoreError),
    #[error("refusing to serve: the signed ledger is not usable: {0}")]
    Ledger(#[from] LedgerError),
    #[error("cannot listen on {addr}: {source}; pick another port (e.g. --listen 127.0.0.1:0)")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("cannot use NATS: {0}")]
    Nats(#[from] shakedown_control::nats::NatsError),
}

/// A running server. Dropping it stops accepting without waiting.
pub struct RunningServer {
    addr: SocketAddr,
    state: AppState,
    connections: TaskTracker,
    /// The `guardian.halt_chaos` listener (`--nats`).
    guardian: Option<shakedown_control::nats::ListenerHandle>,
    /// Campaigns marked interrupted at start.
    pub interrupted: Vec<String>,
}

impl RunningServer {
    /// The bound address (the real port when started on port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state (tests look at the metrics and the registry).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Stops accepting, halts this server's campaigns (stored as halted), lets open
    /// exchanges finish briefly, and waits (bounded) for everything to end.
    pub async fn shutdown(mut self) {
        if let Some(g) = self.guardian.take() {
            g.shutdown().await;
        }
        self.state.shutdown.cancel();
        self.connections.close();
        self.state.tasks.close();
        let _ = tokio::time::timeout(CAMPAIGN_GRACE, self.state.tasks.wait()).await;
        let _ = tokio::time::timeout(SHUTDOWN_GRACE * 2, self.connections.wait()).await;
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.state.shutdown.cancel();
    }
}

/// Opens the data directory and starts serving `config.listen` in the background.
pub async fn start(config: ServerConfig) -> Result<RunningServer, ServerError> {
    config.validate().map_err(ServerError::Config)?;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_dir(&config.data_dir)?);
    // Fail closed before anything is marked: what the server does must be recordable.
    let governance = Governance::open(&config.data_dir, SERVER_ACTOR)?;
    let interrupted = store.mark_interrupted()?;
    for id in &interrupted {
        let env = store
            .campaign(id)?
            .map(|c| c.environment)
            .unwrap_or_default();
        governance.record(
            CAMPAIGN_CATEGORY,
            env,
            "interrupted",
            id,
            json!({"reason": "the process running it died; marked at server start"}),
        )?;
    }
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: config.listen,
        source,
    })?;
    let streams = Arc::new(Semaphore::new(config.max_event_streams));
    // NATS first, before anything listens: a bad URL or a dead server refuses the start, so
    // an operator never believes a bus halt is wired when it is not.
    let mut bus = EventBus::new(Arc::clone(&store));
    let guardian = match &config.nats {
        Some(url) => {
            bus = bus.with_nats(shakedown_control::nats::EventPublisher::connect_lazy(url)?);
            Some(shakedown_control::nats::HaltListener::spawn(url, config.data_dir.clone()).await?)
        }
        None => None,
    };
    let state: AppState = Arc::new(Shared {
        bus,
        store,
        governance,
        metrics: crate::metrics::Metrics::default(),
        campaigns: Campaigns::default(),
        runs: Default::default(),
        streams,
        streams_by_token: Default::default(),
        shutdown: CancellationToken::new(),
        tasks: TaskTracker::new(),
        config,
    });
    watch_latch(&state);
    crate::schedule::start(&state, state.config.schedules.clone());
    let router = crate::routes::router(Arc::clone(&state));
    let connections = TaskTracker::new();
    let cap = Arc::new(Semaphore::new(
        state.config.max_connections.min(Semaphore::MAX_PERMITS),
    ));
    connections.spawn(accept_loop(
        listener,
        router,
        Arc::clone(&state),
        cap,
        connections.clone(),
    ));
    tracing::info!(%addr, "shakedown API listening");
    Ok(RunningServer {
        addr,
        state,
        connections,
        guardian,
        interrupted,
    })
}

/// Cancels this server's campaigns whenever the latch is set, by whichever process.
fn watch_latch(state: &AppState) {
    let mut rx =
        shakedown_control::halt_latch::watch(&state.config.data_dir, state.config.halt_poll);
    let state = Arc::clone(state);
    tokio::spawn(async move {
        loop {
            if rx.borrow_and_update().is_some() {
                let ids = state.campaigns.cancel_all();
                if !ids.is_empty() {
                    tracing::warn!(?ids, "halt latch set: campaigns cancelled");
                }
            }
            tokio::select! {
                () = state.shutdown.cancelled() => break,
                r = rx.changed() => if r.is_err() { break },
            }
        }
    });
}

async fn accept_loop(
    listener: TcpListener,
    router: Router,
    state: AppState,
    cap: Arc<Semaphore>,
    tracker: TaskTracker,
) {
    let rejector = Rejector::new(crate::reject::response());
    while let Some((stream, peer)) = next_connection(&listener, &state.shutdown).await {
        let Ok(permit) = Arc::clone(&cap).try_acquire_owned() else {
            rejector.refuse(stream, &tracker);
            continue;
        };
        tracker.spawn(serve(
            stream,
            peer,
            router.clone(),
            Arc::clone(&state),
            permit,
        ));
    }
}

/// Serves one connection until the client leaves, a deadline passes or shutdown.
async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    state: AppState,
    permit: OwnedSemaphorePermit,
) {
    let service = service_fn(move |req: hyper::Request<Incoming>| router.clone().oneshot(req));
    let mut builder = http1::Builder::new();
    // The deadline starts when hyper waits for a head and is not reset by partial reads, so
    // a byte-at-a-time trickle is cut off too; it also bounds keep-alive idling.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(state.config.header_timeout)
        .max_buf_size(MAX_HEAD);
    serve_http1(
        stream,
        peer,
        &builder,
        service,
        &state.shutdown,
        SHUTDOWN_GRACE,
    )
    .await;
    drop(permit);
}
