//! Client → server. Frames are cut from the read buffer; runs of frames nobody needs to look
//! at (CopyData, Terminate…) are forwarded as one zero-copy slice. Statements go to the
//! interceptor; a rejected message is replaced by its failing substitute (see `reject`), and
//! after a substitute in an extended batch every message up to Sync is discarded, because the
//! server will skip them anyway (error-until-Sync).

use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::Ctx;
use super::exchange::Pending;
use super::statements::{Prepared, Statements};
use crate::pg::codec::{Direction, peek_frame};
use crate::pg::error::{MessageError, SessionError};
use crate::pg::events::{Protocol, ProxyEvent, StatementAction};
use crate::pg::frame::Frame;
use crate::pg::interceptor::{Interceptor, Verdict};
use crate::pg::messages::tags::frontend as tag;
use crate::pg::messages::{
    Bind, Close, Describe, Execute, Message, Parse, Query, TransactionStatus,
};

/// Read at least this much at a time.
const READ_SIZE: usize = 16 * 1024;
/// Reserve at most this much ahead for a declared length, so five bytes of header cannot make
/// the proxy allocate a gigabyte; larger messages grow the buffer as their bytes arrive.
const MAX_PREALLOC: usize = 1 << 20;

/// Why the client side stopped without an error.
#[derive(Debug)]
pub(crate) enum Stop {
    /// End of stream.
    Closed,
    /// The interceptor asked to cut the session.
    Disconnect,
}

/// What to do with one inspected frame.
enum Step {
    Forward(Frame),
    Drop,
    Disconnect,
}

fn bad(e: MessageError) -> SessionError {
    SessionError::ClientProtocol(e.into())
}

/// Client-side state.
#[derive(Default)]
struct Frontend {
    statements: Statements,
    /// A substitute went out in this batch; the server skips everything until Sync.
    discarding: bool,
}

/// Relay the client's messages to the server until the client closes or fails.
pub(crate) async fn run<I, R, W>(
    ctx: &Ctx<'_, I>,
    client: &mut R,
    buf: &mut BytesMut,
    server: &mut W,
) -> Result<Stop, SessionError>
where
    I: Interceptor,
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut state = Frontend::default();
    let mut out: Vec<Bytes> = Vec::with_capacity(4);
    loop {
        let mut run = 0;
        while let Some(total) = peek_frame(&buf[run..], Direction::Frontend, &ctx.limits)
            .map_err(|e| SessionError::ClientProtocol(e.into()))?
        {
            let t = buf[run];
            if !state.discarding && !inspected(t) {
                run += total;
                continue;
            }
            if run > 0 {
                out.push(buf.split_to(run).freeze());
                run = 0;
            }
            let frame = Frame::from_raw(buf.split_to(total).freeze());
            tracing::trace!(session = ctx.info.id(), ?frame, "client message");
            match state.handle(ctx, frame).await? {
                Step::Forward(f) => out.push(f.into_bytes()),
                Step::Drop => {}
                Step::Disconnect => return Ok(Stop::Disconnect),
            }
        }
        if run > 0 {
            out.push(buf.split_to(run).freeze());
        }
        for chunk in out.drain(..) {
            server
                .write_all(&chunk)
                .await
                .map_err(SessionError::UpstreamIo)?;
        }
        reserve_for_next(buf);
        if client.read_buf(buf).await.map_err(SessionError::ClientIo)? == 0 {
            return match buf.len() {
                0 => Ok(Stop::Closed),
                buffered => Err(SessionError::ClientTruncated { buffered }),
            };
        }
    }
}

/// Make room for the rest of a large declared message in one step (up to a bound) instead of
/// growing in many small ones.
pub(crate) fn reserve_for_next(buf: &mut BytesMut) {
    let want = if buf.len() >= Frame::HEADER_LEN {
        let len = i32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]).max(4) as usize + 1;
        len.saturating_sub(buf.len()).clamp(READ_SIZE, MAX_PREALLOC)
    } else {
        READ_SIZE
    };
    buf.reserve(want);
}

/// Messages the proxy must look at.
fn inspected(t: u8) -> bool {
    matches!(
        t,
        tag::QUERY
            | tag::PARSE
            | tag::BIND
            | tag::DESCRIBE
            | tag::EXECUTE
            | tag::CLOSE
            | tag::SYNC
            | tag::FLUSH
            | tag::FUNCTION_CALL
    )
}

impl Frontend {
    async fn handle<I: Interceptor>(
        &mut self,
        ctx: &Ctx<'_, I>,
        frame: Frame,
    ) -> Result<Step, SessionError> {
        let t = frame.tag();
        if self.discarding && t != tag::SYNC && t != tag::TERMINATE {
            return Ok(Step::Drop);
        }
        let step = match t {
            tag::QUERY => self.query(ctx, frame).await?,
            tag::PARSE => self.parse(ctx, frame).await?,
            tag::BIND => {
                let (portal, statement) = Bind::names(frame.body()).map_err(bad)?;
                match self.statements.bound(portal.clone(), &statement) {
                    Some(Prepared::Rejected(r)) => {
                        self.discarding = true;
                        Step::Forward(ctx.markers.bind(portal, ctx.exchange.register(r)))
                    }
                    _ => Step::Forward(frame),
                }
            }
            tag::DESCRIBE => {
                let d = Describe::decode(&frame).map_err(bad)?;
                match self.statements.get(d.target, &d.name) {
                    Some(Prepared::Rejected(r)) => {
                        let id = ctx.exchange.register(r.clone());
                        self.discarding = true;
                        Step::Forward(ctx.markers.describe(d.target, id))
                    }
                    _ => Step::Forward(frame),
                }
            }
            tag::EXECUTE => {
                let e = Execute::decode(&frame).map_err(bad)?;
                match self.statements.portal(&e.portal) {
                    Some(Prepared::Rejected(r)) => {
                        let id = ctx.exchange.register(r.clone());
                        self.discarding = true;
                        Step::Forward(ctx.markers.execute(id))
                    }
                    other => {
                        let sql = match other {
                            Some(Prepared::Allowed(sql)) => Some(Arc::clone(sql)),
                            _ => None,
                        };
                        ctx.exchange.push(Pending::Execute {
                            sql,
                            started: Instant::now(),
                        });
                        Step::Forward(frame)
                    }
                }
            }
            tag::CLOSE => {
                let c = Close::decode(&frame).map_err(bad)?;
                self.statements.closed(c.target, &c.name);
                Step::Forward(frame)
            }
            tag::SYNC => {
                self.discarding = false;
                self.end_of_cycle(ctx);
                Step::Forward(frame)
            }
            tag::FUNCTION_CALL => {
                // Answered by FunctionCallResponse + ReadyForQuery; forwarded opaque.
                self.end_of_cycle(ctx);
                Step::Forward(frame)
            }
            _ => Step::Forward(frame),
        };
        Ok(step)
    }

    fn end_of_cycle<I>(&mut self, ctx: &Ctx<'_, I>) {
        if ctx.info.transaction_status() == TransactionStatus::Idle {
            self.statements.transaction_ended();
        }
        ctx.exchange.push(Pending::Sync {
            started: Instant::now(),
        });
    }

    async fn query<I: Interceptor>(
        &mut self,
        ctx: &Ctx<'_, I>,
        frame: Frame,
    ) -> Result<Step, SessionError> {
        let q = Query::decode(&frame).map_err(bad)?;
        let sql: Arc<str> = Arc::from(q.text());
        let verdict = ctx.interceptor.on_query(&sql, ctx.info).await;
        ctx.statement_event(Protocol::Simple, None, &sql, &verdict)
            .await;
        if ctx.info.transaction_status() == TransactionStatus::Idle {
            self.statements.transaction_ended();
        }
        let frame = match verdict {
            Verdict::Disconnect => return Ok(Step::Disconnect),
            Verdict::Reject(r) => ctx.markers.query(ctx.exchange.register(r)),
            Verdict::Forward => frame,
        };
        ctx.exchange.push(Pending::Query {
            sql,
            started: Instant::now(),
        });
        Ok(Step::Forward(frame))
    }

    async fn parse<I: Interceptor>(
        &mut self,
        ctx: &Ctx<'_, I>,
        frame: Frame,
    ) -> Result<Step, SessionError> {
        let p = Parse::decode(&frame).map_err(bad)?;
        let sql: Arc<str> = Arc::from(p.text());
        let name = p.name_text();
        let verdict = ctx.interceptor.on_parse(&name, &sql, ctx.info).await;
        ctx.statement_event(Protocol::Extended, Some(&name), &sql, &verdict)
            .await;
        Ok(match verdict {
            Verdict::Disconnect => Step::Disconnect,
            Verdict::Reject(r) => {
                self.statements
                    .parsed(p.name.clone(), Prepared::Rejected(r.clone()));
                self.discarding = true;
                Step::Forward(ctx.markers.parse(ctx.exchange.register(r)))
            }
            Verdict::Forward => {
                self.statements
                    .parsed(p.name.clone(), Prepared::Allowed(sql));
                Step::Forward(frame)
            }
        })
    }
}

impl<I> Ctx<'_, I> {
    async fn statement_event(
        &self,
        protocol: Protocol,
        name: Option<&str>,
        sql: &Arc<str>,
        verdict: &Verdict,
    ) {
        if !self.events.enabled() {
            return;
        }
        let action = match verdict {
            Verdict::Forward => StatementAction::Forwarded,
            Verdict::Reject(r) => StatementAction::Rejected {
                sqlstate: r.sqlstate.clone(),
                message: r.message.clone(),
            },
            Verdict::Disconnect => StatementAction::Disconnected,
        };
        self.events
            .emit(ProxyEvent::Statement {
                session: self.info.id(),
                protocol,
                name: name.map(str::to_string),
                sql: Arc::clone(sql),
                action,
            })
            .await;
    }
}
