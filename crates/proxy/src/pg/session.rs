//! One proxied client connection, from the first byte to the last: startup negotiation,
//! upstream connect, authentication relay, then the two relay directions running
//! concurrently (a blocked write one way never stops the other way, so a client pipelining a
//! large batch while the server streams a large result cannot deadlock the pair), and — when
//! the interceptor asks — a blackhole at the end.

mod auth;
mod backend;
mod blackhole;
mod cancel;
mod exchange;
mod frontend;
mod handshake;
mod reject;
mod rowcheck;
mod statements;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use self::auth::AuthOutcome;
use self::exchange::Exchange;
use self::handshake::Opening;
use self::reject::Markers;
use self::rowcheck::Wrapper;
use super::cancel::CancelRegistry;
use super::codec::FrameLimits;
use super::error::{FrameError, ProtocolError, SessionError};
use super::events::{EndReason, EventSink, ProxyEvent};
use super::frame::StartupFrame;
use super::interceptor::{Interceptor, InterceptorFactory};
use super::messages::{ErrorResponse, Message};
use super::session_info::SessionInfo;
use super::sqlstate;

/// Everything sessions share: settings, the cancel registry, the event sink, the factory.
pub(crate) struct Shared<F> {
    pub(crate) upstream: SocketAddr,
    pub(crate) limits: FrameLimits,
    pub(crate) connect_timeout: Duration,
    pub(crate) startup_timeout: Duration,
    pub(crate) max_holdback: usize,
    pub(crate) registry: Arc<CancelRegistry>,
    pub(crate) events: EventSink,
    pub(crate) factory: F,
    pub(crate) token: CancellationToken,
}

/// What both relay directions of one session see.
pub(crate) struct Ctx<'a, I> {
    pub(crate) info: &'a SessionInfo,
    pub(crate) interceptor: &'a I,
    pub(crate) exchange: &'a Exchange,
    pub(crate) markers: &'a Markers,
    pub(crate) wrapper: &'a Wrapper,
    pub(crate) events: &'a EventSink,
    pub(crate) limits: FrameLimits,
    /// Bytes of a row-checked statement's results held back at most.
    pub(crate) max_holdback: usize,
}

/// Serve one accepted connection to completion. Never panics on bad input; every failure
/// ends only this connection.
pub(crate) async fn serve<F: InterceptorFactory>(
    shared: Arc<Shared<F>>,
    id: u64,
    mut client: TcpStream,
    peer: SocketAddr,
) {
    let _ = client.set_nodelay(true);
    let mut cbuf = BytesMut::with_capacity(8 * 1024);
    let opened = tokio::select! {
        _ = shared.token.cancelled() => return,
        r = tokio::time::timeout(
            shared.startup_timeout,
            handshake::open(&mut client, &mut cbuf, &shared.limits),
        ) => r.unwrap_or(Err(SessionError::StartupTimeout { after: shared.startup_timeout })),
    };
    let (startup_frame, startup) = match opened {
        Ok(Opening::Startup(frame, msg)) => (frame, msg),
        Ok(Opening::Cancel(req)) => return cancel::route(&shared, req).await,
        Ok(Opening::Closed) => return,
        Err(e) => {
            if let SessionError::UnsupportedProtocol { .. } = e {
                let fatal = ErrorResponse::fatal(sqlstate::FEATURE_NOT_SUPPORTED, &e.to_string());
                let _ = client.write_all(fatal.to_frame().as_bytes()).await;
            }
            tracing::debug!(%peer, error = %e, "connection rejected during startup");
            shared
                .events
                .emit(ProxyEvent::ConnectionRejected {
                    peer,
                    error: e.to_string(),
                })
                .await;
            return;
        }
    };
    let info = SessionInfo::new(id, peer, startup);
    let interceptor = shared.factory.session(&info);
    let reason = run(&shared, &info, &interceptor, client, cbuf, startup_frame).await;
    if let EndReason::Error { error, .. } = &reason {
        tracing::debug!(session = id, %error, "session ended with an error");
    }
    shared
        .events
        .emit(ProxyEvent::SessionEnded {
            session: id,
            reason,
            duration: info.started().elapsed(),
        })
        .await;
}

fn error_reason(e: &SessionError) -> EndReason {
    EndReason::Error {
        side: e.side(),
        error: e.to_string(),
    }
}

async fn run<F: InterceptorFactory>(
    shared: &Shared<F>,
    info: &SessionInfo,
    interceptor: &F::Interceptor,
    mut client: TcpStream,
    mut cbuf: BytesMut,
    startup: StartupFrame,
) -> EndReason {
    let deadline = Instant::now() + shared.startup_timeout;
    let mut server = match connect(shared).await {
        Ok(s) => s,
        Err(e) => {
            let msg = format!("shakedown proxy: {e}");
            let fatal = ErrorResponse::fatal(sqlstate::CONNECTION_FAILURE, &msg);
            let _ = client.write_all(fatal.to_frame().as_bytes()).await;
            return error_reason(&e);
        }
    };
    if let Err(e) = server.write_all(startup.as_bytes()).await {
        return error_reason(&SessionError::UpstreamIo(e));
    }
    let mut sbuf = BytesMut::with_capacity(16 * 1024);
    let auth = auth::relay(shared, &mut client, &mut cbuf, &mut server, &mut sbuf, info);
    let authed = tokio::select! {
        _ = shared.token.cancelled() => return EndReason::Shutdown,
        r = tokio::time::timeout_at(deadline.into(), auth) => r.unwrap_or(Err(
            SessionError::StartupTimeout { after: shared.startup_timeout },
        )),
    };
    let (status, _cancel_key) = match authed {
        Ok(AuthOutcome::Ready { status, cancel_key }) => (status, cancel_key),
        Ok(AuthOutcome::Failed { sqlstate, message }) => {
            return EndReason::AuthFailed { sqlstate, message };
        }
        Ok(AuthOutcome::ClientClosed) => return EndReason::ClientClosed,
        Ok(AuthOutcome::ServerClosed) => return EndReason::ServerClosed,
        Err(e) => return error_reason(&e),
    };
    info.set_transaction_status(status);
    shared
        .events
        .emit(ProxyEvent::SessionStarted {
            session: info.id(),
            peer: info.peer(),
            user: info.user().map(|u| u.into_owned()),
            database: info.database().map(|d| d.into_owned()),
            backend_pid: info.backend_pid(),
        })
        .await;
    let exchange = Exchange::default();
    let nonce = rand::random();
    let markers = Markers::new(nonce);
    let wrapper = Wrapper::new(nonce);
    let ctx = Ctx {
        info,
        interceptor,
        exchange: &exchange,
        markers: &markers,
        wrapper: &wrapper,
        events: &shared.events,
        limits: shared.limits,
        max_holdback: shared.max_holdback,
    };
    relay(&ctx, client, cbuf, server, sbuf, &shared.token).await
}

async fn connect<F>(shared: &Shared<F>) -> Result<TcpStream, SessionError> {
    let addr = shared.upstream;
    let after = shared.connect_timeout;
    let stream = tokio::time::timeout(after, TcpStream::connect(addr))
        .await
        .map_err(|_| SessionError::ConnectTimeout { addr, after })?
        .map_err(|source| SessionError::Connect { addr, source })?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// How the relay phase ended.
enum Outcome {
    Client(Result<frontend::Stop, SessionError>),
    Server(Result<(), SessionError>),
    Shutdown,
}

async fn relay<I: Interceptor>(
    ctx: &Ctx<'_, I>,
    client: TcpStream,
    mut cbuf: BytesMut,
    server: TcpStream,
    mut sbuf: BytesMut,
    token: &CancellationToken,
) -> EndReason {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let writing = AtomicBool::new(false);
    let outcome = {
        let c2s = frontend::run(ctx, &mut cr, &mut cbuf, &mut sw);
        let s2c = backend::run(ctx, &mut sr, &mut sbuf, &mut cw, &writing);
        tokio::select! {
            r = c2s => Outcome::Client(r),
            r = s2c => Outcome::Server(r),
            _ = token.cancelled() => Outcome::Shutdown,
        }
    };
    // Only append a message of our own if no frame to the client was cut in half.
    let can_write = !writing.load(Ordering::Relaxed);
    let (reason, farewell) = match outcome {
        Outcome::Client(Ok(frontend::Stop::Closed)) => (EndReason::ClientClosed, None),
        Outcome::Client(Ok(frontend::Stop::Disconnect)) => (EndReason::Disconnected, None),
        Outcome::Client(Ok(frontend::Stop::Blackhole(duration))) => {
            tracing::debug!(session = ctx.info.id(), ?duration, "session blackholed");
            // The upstream halves stay open (and unread) until the blackhole ends.
            let reason = match blackhole::hold(&mut cr, duration, token).await {
                blackhole::Ended::Elapsed => EndReason::Blackholed {
                    client_closed: false,
                },
                blackhole::Ended::ClientClosed => EndReason::Blackholed {
                    client_closed: true,
                },
                blackhole::Ended::Shutdown => EndReason::Shutdown,
            };
            drop((sr, sw));
            (reason, None)
        }
        Outcome::Server(Ok(())) => (EndReason::ServerClosed, None),
        Outcome::Shutdown => (
            EndReason::Shutdown,
            Some(ErrorResponse::fatal(
                sqlstate::ADMIN_SHUTDOWN,
                "terminating connection because the shakedown proxy is shutting down",
            )),
        ),
        Outcome::Client(Err(e)) => {
            let code = match &e {
                SessionError::ClientProtocol(ProtocolError::Frame(
                    FrameError::StatementTooLarge { .. },
                )) => Some(sqlstate::PROGRAM_LIMIT_EXCEEDED),
                SessionError::ClientProtocol(_) => Some(sqlstate::PROTOCOL_VIOLATION),
                _ => None,
            };
            let farewell = code.map(|c| ErrorResponse::fatal(c, &format!("shakedown proxy: {e}")));
            (error_reason(&e), farewell)
        }
        Outcome::Server(Err(e)) => (error_reason(&e), None),
    };
    if let (Some(fatal), true) = (farewell, can_write) {
        let _ = cw.write_all(fatal.to_frame().as_bytes()).await;
    }
    let _ = cw.shutdown().await;
    reason
}
