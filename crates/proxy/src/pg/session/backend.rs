//! Server → client. Everything is forwarded in zero-copy runs except the frames that end a
//! statement or a cycle (CommandComplete, ErrorResponse, ReadyForQuery, EmptyQueryResponse,
//! PortalSuspended): those are matched to what is in flight, shown to the interceptor, and —
//! for the error a substitute provoked — replaced by the rejection's own ErrorResponse.
//!
//! While a row check runs (see `rowcheck`), every frame goes through the [`Holdback`]
//! instead, which swallows the answers to the proxy's own statements and holds back the
//! checked statement's results; that slow path is taken only while a check is queued or
//! active.

mod holdback;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use self::holdback::Holdback;
use super::Ctx;
use super::frontend::{reserve_for_next, write_chunks};
use super::rowcheck::Report;
use crate::pg::codec::{Direction, peek_frame};
use crate::pg::error::{MessageError, SessionError};
use crate::pg::events::ProxyEvent;
use crate::pg::frame::Frame;
use crate::pg::interceptor::{BackendEvent, Interceptor};
use crate::pg::messages::tags::backend as tag;
use crate::pg::messages::{
    CommandComplete, ErrorResponse, Message, NoticeResponse, ReadyForQuery, TransactionStatus,
};

/// WARNING "there is already a transaction in progress".
const ACTIVE_SQL_TRANSACTION: &str = "25001";

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

/// Answers that complete one extended-protocol message and need no other attention; counted
/// so a row check can tell when the server has answered everything sent before it.
fn counted(t: u8) -> bool {
    matches!(
        t,
        tag::PARSE_COMPLETE
            | tag::BIND_COMPLETE
            | tag::CLOSE_COMPLETE
            | tag::NO_DATA
            | tag::ROW_DESCRIPTION
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
    let mut holdback = Holdback::default();
    let mut staging = BytesMut::new();
    loop {
        if holdback.engaged() || ctx.exchange.has_special() {
            slow_pass(ctx, buf, &mut out, &mut holdback).await?;
        } else {
            fast_pass(ctx, buf, &mut out).await?;
        }
        if !out.is_empty() {
            writing.store(true, Ordering::Relaxed);
            write_chunks(&mut out, client, &mut staging)
                .await
                .map_err(SessionError::ClientIo)?;
            writing.store(false, Ordering::Relaxed);
        }
        ctx.exchange.progressed();
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

/// Every complete frame of `buf`, forwarded in runs; only the inspected ones are cut out.
async fn fast_pass<I: Interceptor>(
    ctx: &Ctx<'_, I>,
    buf: &mut BytesMut,
    out: &mut Vec<Bytes>,
) -> Result<(), SessionError> {
    let mut run = 0;
    let mut completions = 0;
    // Read once per pass: the client side switches it before it forwards anything whose
    // answers it concerns.
    let notices = ctx.exchange.tracking_adoption();
    while let Some(total) = peek_frame(&buf[run..], Direction::Backend, &ctx.limits)
        .map_err(|e| SessionError::UpstreamProtocol(e.into()))?
    {
        let t = buf[run];
        if !(inspected(t) || (notices && t == tag::NOTICE_RESPONSE)) {
            completions += u64::from(counted(t));
            run += total;
            continue;
        }
        if run > 0 {
            out.push(buf.split_to(run).freeze());
            run = 0;
        }
        // Published before the frame, whose handling may reset the count (ReadyForQuery).
        if completions > 0 {
            ctx.exchange
                .add_completions(std::mem::take(&mut completions));
        }
        let frame = Frame::from_raw(buf.split_to(total).freeze());
        tracing::trace!(session = ctx.info.id(), ?frame, "server message");
        if let Some(frame) = handle(ctx, frame).await? {
            out.push(frame.into_bytes());
        }
    }
    if run > 0 {
        out.push(buf.split_to(run).freeze());
    }
    if completions > 0 {
        ctx.exchange.add_completions(completions);
    }
    Ok(())
}

/// Frame by frame, each to the holdback while a row check's entry is at the front.
async fn slow_pass<I: Interceptor>(
    ctx: &Ctx<'_, I>,
    buf: &mut BytesMut,
    out: &mut Vec<Bytes>,
    holdback: &mut Holdback,
) -> Result<(), SessionError> {
    while let Some(total) = peek_frame(buf, Direction::Backend, &ctx.limits)
        .map_err(|e| SessionError::UpstreamProtocol(e.into()))?
    {
        let frame = Frame::from_raw(buf.split_to(total).freeze());
        tracing::trace!(
            session = ctx.info.id(),
            ?frame,
            "server message (row check)"
        );
        if !holdback.active()
            && let Some(special) = ctx.exchange.pop_special()
        {
            holdback.start(special);
        }
        if holdback.active() {
            holdback.frame(ctx, frame, out).await?;
            continue;
        }
        let t = frame.tag();
        if inspected(t) {
            if let Some(frame) = handle(ctx, frame).await? {
                out.push(frame.into_bytes());
            }
        } else {
            if counted(t) {
                ctx.exchange.add_completions(1);
            }
            out.push(frame.into_bytes());
        }
    }
    Ok(())
}

/// An inspected frame outside a row check; `None` when it is swallowed.
async fn handle<I: Interceptor>(
    ctx: &Ctx<'_, I>,
    frame: Frame,
) -> Result<Option<Frame>, SessionError> {
    let info = ctx.info;
    match frame.tag() {
        tag::COMMAND_COMPLETE => {
            let command = CommandComplete::decode(&frame).map_err(bad)?;
            let a = ctx.exchange.completed(&command.tag_text());
            completed_event(ctx, a.sql, a.elapsed, &command).await;
            Ok(Some(frame))
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
            failed_event(ctx, a.sql, a.elapsed, &error, rejected).await;
            Ok(Some(frame))
        }
        tag::READY_FOR_QUERY => {
            let status = ReadyForQuery::decode(&frame).map_err(bad)?.status;
            info.set_transaction_status(status);
            let readied = ctx.exchange.ready();
            if let Some((report, adopted)) = readied.fixup {
                // The batch ran inside the proxy's block: unless the client took the block
                // over or it is already gone, the client side commits it (or, failed, rolls
                // it back) and that statement's ReadyForQuery goes to the client instead.
                let commit = status != TransactionStatus::Idle && !adopted;
                // A closed receiver means the client side is gone with the session.
                let _ = report.send(Report::Fixup { commit }).await;
                if commit {
                    return Ok(None);
                }
            }
            ready_event(ctx, status, readied.elapsed).await;
            Ok(Some(frame))
        }
        tag::NOTICE_RESPONSE => {
            let notice = NoticeResponse::decode(&frame).map_err(bad)?;
            let drop = notice.fields.sqlstate().as_deref() == Some(ACTIVE_SQL_TRANSACTION);
            Ok((!drop).then_some(frame))
        }
        _ => {
            ctx.exchange.execute_ended();
            Ok(Some(frame))
        }
    }
}

/// Tell the interceptor and the event sink that a statement completed.
pub(super) async fn completed_event<I: Interceptor>(
    ctx: &Ctx<'_, I>,
    sql: Option<Arc<str>>,
    elapsed: Option<Duration>,
    command: &CommandComplete,
) {
    let event = BackendEvent::Completed {
        statement: sql.as_deref(),
        command,
        elapsed,
    };
    ctx.interceptor.on_backend(&event, ctx.info).await;
    if ctx.events.enabled() {
        ctx.events
            .emit(ProxyEvent::Completed {
                session: ctx.info.id(),
                sql,
                tag: command.tag_text().into_owned(),
                rows: command.rows(),
                elapsed,
            })
            .await;
    }
}

/// Tell the interceptor and the event sink that a statement failed.
pub(super) async fn failed_event<I: Interceptor>(
    ctx: &Ctx<'_, I>,
    sql: Option<Arc<str>>,
    elapsed: Option<Duration>,
    error: &ErrorResponse,
    rejected: bool,
) {
    let event = BackendEvent::Failed {
        statement: sql.as_deref(),
        error,
        rejected,
        elapsed,
    };
    ctx.interceptor.on_backend(&event, ctx.info).await;
    if ctx.events.enabled() {
        ctx.events
            .emit(ProxyEvent::Failed {
                session: ctx.info.id(),
                sql,
                sqlstate: error.sqlstate().unwrap_or_default().into_owned(),
                message: error.message().unwrap_or_default().into_owned(),
                rejected,
                elapsed,
            })
            .await;
    }
}

/// Tell the interceptor that the server is ready again.
pub(super) async fn ready_event<I: Interceptor>(
    ctx: &Ctx<'_, I>,
    status: TransactionStatus,
    elapsed: Option<Duration>,
) {
    let event = BackendEvent::Ready { status, elapsed };
    ctx.interceptor.on_backend(&event, ctx.info).await;
}
