//! The running server: an accept loop that enforces the connection cap, one hyper HTTP/1.1
//! connection task per client (with a deadline for the request head, which is also the
//! keep-alive idle timeout, in the guarded flavour), and shutdown via a cancellation token
//! and a task tracker, so `shutdown` returns only when every task has ended.

mod reject;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioTimer;
use shakedown_httpguard::accept::{next_connection, serve_http1};
use shakedown_httpguard::reject::Rejector;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::config::{Flavor, PracticeConfig};
use crate::db::Db;
use crate::routes;
use crate::state::{AppState, ClientAddr, Stats};

/// How long open connections get to finish their current exchange on shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);
/// hyper's read buffer cap for the guarded flavour: a request head larger than this is
/// refused with 431 instead of being buffered (hyper's default is ~400 KB).
const GUARDED_MAX_HEAD: usize = 64 * 1024;

/// A running practice server. Dropping it stops it too, without waiting.
pub struct PracticeServer {
    addr: SocketAddr,
    flavor: Flavor,
    stats: Arc<Stats>,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

impl PracticeServer {
    /// The bound address (with the real port when started on port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`, the base URL for a system file.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Which flavour this is.
    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// Requests the server has seen so far (the counter `/admin/stats` reports).
    pub fn requests_seen(&self) -> u64 {
        Stats::read(&self.stats.requests)
    }

    /// Stops accepting, lets open exchanges finish for up to a second, and waits until
    /// every task has ended.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

impl Drop for PracticeServer {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Everything a connection task needs.
struct Shared {
    router: Router,
    flavor: Flavor,
    header_timeout: Duration,
    stats: Arc<Stats>,
    cancel: CancellationToken,
}

/// Binds `listen` (usually `127.0.0.1:0`) and starts serving `config` in the background.
pub async fn start(config: PracticeConfig, listen: SocketAddr) -> io::Result<PracticeServer> {
    config
        .validate()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let db = Db::open_seeded().map_err(io::Error::other)?;
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let stats = Arc::new(Stats::default());
    let state = Arc::new(AppState {
        flavor: config.flavor,
        db,
        stats: Arc::clone(&stats),
        max_body: config.max_body,
        body_idle: config.header_timeout,
        started: Instant::now(),
    });
    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    let shared = Arc::new(Shared {
        router: routes::router(state, &config),
        flavor: config.flavor,
        header_timeout: config.header_timeout,
        stats: Arc::clone(&stats),
        cancel: cancel.clone(),
    });
    let cap = match config.flavor {
        Flavor::Guarded => Some(Arc::new(Semaphore::new(
            config.max_connections.min(Semaphore::MAX_PERMITS),
        ))),
        Flavor::Weak => None,
    };
    tracker.spawn(accept_loop(listener, shared, cap, tracker.clone()));
    tracing::info!(%addr, flavor = %config.flavor, "practice server listening");
    Ok(PracticeServer {
        addr,
        flavor: config.flavor,
        stats,
        cancel,
        tracker,
    })
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    cap: Option<Arc<Semaphore>>,
    tracker: TaskTracker,
) {
    let rejector = Rejector::new(reject::response());
    while let Some((stream, peer)) = next_connection(&listener, &shared.cancel).await {
        let permit = match &cap {
            None => None,
            Some(cap) => match Arc::clone(cap).try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => {
                    Stats::bump(&shared.stats.connections_refused);
                    rejector.refuse(stream, &tracker);
                    continue;
                }
            },
        };
        tracker.spawn(serve(stream, peer, Arc::clone(&shared), permit));
    }
}

/// Serves one connection until the client leaves, a deadline passes or shutdown.
async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    permit: Option<OwnedSemaphorePermit>,
) {
    shared
        .stats
        .connections_open
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let router = shared.router.clone();
    let service = service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ClientAddr(peer));
        router.clone().oneshot(req)
    });
    let mut builder = http1::Builder::new();
    match shared.flavor {
        Flavor::Guarded => {
            // hyper starts this deadline when it begins waiting for a head and does not
            // reset it on partial reads, so a byte-at-a-time trickle is cut off too; it also
            // runs while a keep-alive connection waits for its next request.
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(shared.header_timeout)
                .max_buf_size(GUARDED_MAX_HEAD);
        }
        Flavor::Weak => {
            builder.header_read_timeout(None);
        }
    }
    serve_http1(
        stream,
        peer,
        &builder,
        service,
        &shared.cancel,
        SHUTDOWN_GRACE,
    )
    .await;
    shared
        .stats
        .connections_open
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    drop(permit);
}
