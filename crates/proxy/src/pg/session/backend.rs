//! Server → client. Everything is forwarded in zero-copy runs except the frames that end a
//! statement or a cycle (CommandComplete, ErrorResponse, ReadyForQuery, EmptyQueryResponse,
//! PortalSuspended): those are matched to what is in flight, shown to the interceptor, and —
//! for the error a substitute provoked — replaced by the rejection's own ErrorResponse.

use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::Ctx;
use super::frontend::reserve_for_next;
use crate::pg::codec::{Direction, peek_frame};
use crate::pg::error::{MessageError, SessionError};
use crate::pg::events::ProxyEvent;
use crate::pg::frame::Frame;
use crate::pg::interceptor::{BackendEvent, Interceptor};
use crate::pg::messages::tags::backend as tag;
use crate::pg::messages::{CommandComplete, ErrorResponse, Message, ReadyForQuery};

fn bad(e: MessageError) -> SessionError {
    SessionError::UpstreamProtocol(e.into())
}

/// Messages the proxy must look at.
fn inspected(t: u8) -> bool {
    matches!(
        t,
        tag::COMMAND_COMPLETE
            | tag::ERROR_RESPONSE
            | tag::READY_FOR_QUERY
            | tag::EMPTY_QUERY_RESPONSE
            | tag::PORTAL_SUSPENDED
    )
}

/// Relay the server's messages to the client until the server closes or fails. `writing` is
/// set while a write to the client is in progress, so the session knows whether it may still
/// append a message of its own after this future is dropped.
pub(crate) async fn run<I, R, W>(
    ctx: &Ctx<'_, I>,
    server: &mut R,
    buf: &mut BytesMut,
    client: &mut W,
    writing: &AtomicBool,
) -> Result<(), SessionError>
where
    I: Interceptor,
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut out: Vec<Bytes> = Vec::with_capacity(4);
    loop {
        let mut run = 0;
        while let Some(total) = peek_frame(&buf[run..], Direction::Backend, &ctx.limits)
            .map_err(|e| SessionError::UpstreamProtocol(e.into()))?
        {
            if !inspected(buf[run]) {
                run += total;
                continue;
            }
            if run > 0 {
                out.push(buf.split_to(run).freeze());
                run = 0;
            }
            let frame = Frame::from_raw(buf.split_to(total).freeze());
            tracing::trace!(session = ctx.info.id(), ?frame, "server message");
            out.push(handle(ctx, frame).await?.into_bytes());
        }
        if run > 0 {
            out.push(buf.split_to(run).freeze());
        }
        for chunk in out.drain(..) {
            writing.store(true, Ordering::Relaxed);
            client
                .write_all(&chunk)
                .await
                .map_err(SessionError::ClientIo)?;
            writing.store(false, Ordering::Relaxed);
        }
        reserve_for_next(buf);
        if server
            .read_buf(buf)
            .await
            .map_err(SessionError::UpstreamIo)?
            == 0
        {
            return match buf.len() {
                0 => Ok(()),
                buffered => Err(SessionError::UpstreamTruncated { buffered }),
            };
        }
    }
}

async fn handle<I: Interceptor>(ctx: &Ctx<'_, I>, frame: Frame) -> Result<Frame, SessionError> {
    let info = ctx.info;
    match frame.tag() {
        tag::COMMAND_COMPLETE => {
            let command = CommandComplete::decode(&frame).map_err(bad)?;
            let a = ctx.exchange.completed();
            let event = BackendEvent::Completed {
                statement: a.sql.as_deref(),
                command: &command,
                elapsed: a.elapsed,
            };
            ctx.interceptor.on_backend(&event, info).await;
            if ctx.events.enabled() {
                ctx.events
                    .emit(ProxyEvent::Completed {
                        session: info.id(),
                        sql: a.sql,
                        tag: command.tag_text().into_owned(),
                        rows: command.rows(),
                        elapsed: a.elapsed,
                    })
                    .await;
            }
            Ok(frame)
        }
        tag::ERROR_RESPONSE => {
            let error = ErrorResponse::decode(&frame).map_err(bad)?;
            let rejection = error
                .message()
                .and_then(|m| ctx.markers.find(&m))
                .and_then(|id| ctx.exchange.take_rejection(id));
            let (frame, error, rejected) = match rejection {
                Some(r) => {
                    let e = r.to_error();
                    (e.to_frame(), e, true)
                }
                None => (frame, error, false),
            };
            let a = ctx.exchange.failed();
            let event = BackendEvent::Failed {
                statement: a.sql.as_deref(),
                error: &error,
                rejected,
                elapsed: a.elapsed,
            };
            ctx.interceptor.on_backend(&event, info).await;
            if ctx.events.enabled() {
                ctx.events
                    .emit(ProxyEvent::Failed {
                        session: info.id(),
                        sql: a.sql,
                        sqlstate: error.sqlstate().unwrap_or_default().into_owned(),
                        message: error.message().unwrap_or_default().into_owned(),
                        rejected,
                        elapsed: a.elapsed,
                    })
                    .await;
            }
            Ok(frame)
        }
        tag::READY_FOR_QUERY => {
            let status = ReadyForQuery::decode(&frame).map_err(bad)?.status;
            info.set_transaction_status(status);
            let elapsed = ctx.exchange.ready();
            let event = BackendEvent::Ready { status, elapsed };
            ctx.interceptor.on_backend(&event, info).await;
            Ok(frame)
        }
        _ => {
            ctx.exchange.execute_ended();
            Ok(frame)
        }
    }
}
