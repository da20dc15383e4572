//! Client → server. Frames are cut from the read buffer; runs of frames nobody needs to look
//! at (CopyData, Terminate…) are forwarded as one zero-copy slice. Statements go to the
//! interceptor; a rejected message is replaced by its failing substitute (see `reject`), and
//! after a substitute in an extended batch every message up to Sync is discarded, because the
//! server will skip them anyway (error-until-Sync). Row-checked statements are run by
//! `checked`; a Query or Parse over the statement cap is skipped by `oversize` and fails
//! alone.

mod checked;
mod oversize;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use self::oversize::Oversize;
use super::Ctx;
use super::exchange::Pending;
use super::rowcheck::CheckSpec;
use super::statements::{Prepared, Statements};
use crate::pg::codec::{Direction, peek_frame};
use crate::pg::error::{FrameError, MessageError, SessionError};
use crate::pg::events::{Protocol, ProxyEvent, StatementAction};
use crate::pg::frame::Frame;
use crate::pg::interceptor::{Interceptor, Rejection, Verdict};
use crate::pg::messages::tags::frontend as tag;
use crate::pg::messages::{
    Bind, Close, Describe, Execute, FunctionCall, Message, Parse, Query, TransactionStatus,
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
    /// The interceptor asked to blackhole the session for this long.
    Blackhole(Option<Duration>),
}

/// What to do with one inspected frame.
enum Step {
    Forward(Frame),
    Drop,
    Disconnect,
    Blackhole(Option<Duration>),
    /// A simple Query under a row check.
    CheckQuery {
        frame: Frame,
        sql: Arc<str>,
        spec: Arc<CheckSpec>,
    },
    /// An Execute of a row-checked portal.
    CheckExecute {
        frame: Frame,
        sql: Arc<str>,
        spec: Arc<CheckSpec>,
    },
    /// The Sync of a batch that runs inside the proxy's own block.
    FixupSync(Frame),
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
    /// Extended-protocol messages were forwarded since the last Sync (the server is inside a
    /// batch), and how many of them the server has yet to answer before the next barrier.
    batch_open: bool,
    batch_sent: u64,
    /// A row check turned the batch's implicit transaction into the proxy's own block, to be
    /// committed at the client's Sync.
    converted: bool,
    /// An oversized Query or Parse whose bytes are being skipped.
    oversize: Option<Oversize>,
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
    let mut staging = BytesMut::new();
    loop {
        let mut run = 0;
        loop {
            let step = if let Some(over) = &mut state.oversize {
                if !over.consume(buf) {
                    break;
                }
                let over = state.oversize.take();
                match over {
                    Some(over) => state.oversized(ctx, over).await,
                    None => continue,
                }
            } else {
                let total = match peek_frame(&buf[run..], Direction::Frontend, &ctx.limits) {
                    Ok(Some(total)) => total,
                    Ok(None) => break,
                    // Over the statement cap but within the message cap: skip its bytes as
                    // they arrive and fail that statement alone.
                    Err(FrameError::StatementTooLarge { len, max })
                        if len <= ctx.limits.max_message =>
                    {
                        if run > 0 {
                            out.push(buf.split_to(run).freeze());
                            run = 0;
                        }
                        state.oversize = Some(Oversize::new(buf[0], len, max));
                        continue;
                    }
                    Err(e) => return Err(SessionError::ClientProtocol(e.into())),
                };
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
                state.handle(ctx, frame).await?
            };
            match step {
                Step::Forward(f) => {
                    state.sent(f.tag());
                    out.push(f.into_bytes());
                }
                Step::Drop => {}
                Step::Disconnect => return Ok(Stop::Disconnect),
                Step::Blackhole(d) => {
                    // What came before the blackholed statement still goes through.
                    flush(&mut out, server, &mut staging).await?;
                    return Ok(Stop::Blackhole(d));
                }
                Step::CheckQuery { frame, sql, spec } => {
                    flush(&mut out, server, &mut staging).await?;
                    state.check_query(ctx, frame, sql, spec, server).await?;
                }
                Step::CheckExecute { frame, sql, spec } => {
                    flush(&mut out, server, &mut staging).await?;
                    state.check_execute(ctx, frame, sql, spec, server).await?;
                }
                Step::FixupSync(frame) => {
                    flush(&mut out, server, &mut staging).await?;
                    state.fixup_sync(ctx, frame, server).await?;
                }
            }
        }
        if run > 0 {
            out.push(buf.split_to(run).freeze());
        }
        flush(&mut out, server, &mut staging).await?;
        reserve_for_next(buf);
        if client.read_buf(buf).await.map_err(SessionError::ClientIo)? == 0 {
            return match buf.len() {
                0 => Ok(Stop::Closed),
                buffered => Err(SessionError::ClientTruncated { buffered }),
            };
        }
    }
}

/// Write what is queued for the server.
async fn flush<W: AsyncWrite + Unpin>(
    out: &mut Vec<Bytes>,
    server: &mut W,
    staging: &mut BytesMut,
) -> Result<(), SessionError> {
    write_chunks(out, server, staging)
        .await
        .map_err(SessionError::UpstreamIo)
}

/// Chunks at least this large are written as they are (zero-copy); smaller neighbours are
/// copied together so one pass over a read buffer costs one send, not one per frame.
const COALESCE_MAX: usize = 64 * 1024;

/// Write and drain `out` with as few writes as possible: runs of small chunks are joined in
/// `staging` (reused between calls), large chunks go out untouched. Nothing is held back:
/// everything in `out` is written before this returns.
pub(crate) async fn write_chunks<W: AsyncWrite + Unpin>(
    out: &mut Vec<Bytes>,
    w: &mut W,
    staging: &mut BytesMut,
) -> std::io::Result<()> {
    if out.len() == 1 {
        let chunk = out.pop().unwrap_or_default();
        return w.write_all(&chunk).await;
    }
    staging.clear();
    for chunk in out.drain(..) {
        if chunk.len() >= COALESCE_MAX || staging.len() + chunk.len() > COALESCE_MAX {
            if !staging.is_empty() {
                w.write_all(staging).await?;
                staging.clear();
            }
            if chunk.len() >= COALESCE_MAX {
                w.write_all(&chunk).await?;
                continue;
            }
        }
        staging.extend_from_slice(&chunk);
    }
    if !staging.is_empty() {
        w.write_all(staging).await?;
        staging.clear();
    }
    Ok(())
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
    /// Track batches: extended messages open one (each answered once), Sync closes it, and so
    /// does a Query or FunctionCall (the server ends the implicit transaction there).
    fn sent(&mut self, t: u8) {
        match t {
            tag::PARSE | tag::BIND | tag::DESCRIBE | tag::EXECUTE | tag::CLOSE => {
                self.batch_open = true;
                self.batch_sent += 1;
            }
            tag::SYNC | tag::QUERY | tag::FUNCTION_CALL => {
                self.batch_open = false;
                self.batch_sent = 0;
            }
            _ => {}
        }
    }

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
                    (Some(Prepared::Rejected(r)), _) => self.substitute_bind(ctx, portal, r),
                    (Some(Prepared::Checked(_, spec)), false) => {
                        let r = spec.rejection.for_rows(
                            None,
                            spec.max_rows,
                            "the proxy tracks too many portals to check this one, so it was \
                             refused",
                        );
                        self.substitute_bind(ctx, portal, r)
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
                    Some(Prepared::Checked(sql, spec)) => Step::CheckExecute {
                        frame,
                        sql: Arc::clone(sql),
                        spec: Arc::clone(spec),
                    },
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
                if self.converted {
                    Step::FixupSync(frame)
                } else {
                    self.end_of_cycle(ctx, None);
                    Step::Forward(frame)
                }
            }
            tag::FUNCTION_CALL => self.function_call(ctx, frame).await?,
            _ => Step::Forward(frame),
        };
        Ok(step)
    }

    fn substitute_bind<I>(&mut self, ctx: &Ctx<'_, I>, portal: Bytes, r: Rejection) -> Step {
        self.discarding = true;
        Step::Forward(ctx.markers.bind(portal, ctx.exchange.register(r)))
    }

    /// A message answered by ReadyForQuery; `sql` attributes its results when it is a query.
    fn end_of_cycle<I>(&mut self, ctx: &Ctx<'_, I>, sql: Option<Arc<str>>) {
        if ctx.info.transaction_status() == TransactionStatus::Idle {
            self.statements.transaction_ended();
        }
        let started = Instant::now();
        ctx.exchange.push(match sql {
            Some(sql) => Pending::Query { sql, started },
            None => Pending::Sync {
                started,
                fixup: None,
            },
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
        let frame = match verdict {
            Verdict::Disconnect => return Ok(Step::Disconnect),
            Verdict::Blackhole { duration } => return Ok(Step::Blackhole(duration)),
            Verdict::RowCheck {
                max_rows,
                rejection,
            } if !self.batch_open => {
                let spec = Arc::new(CheckSpec {
                    max_rows,
                    rejection,
                });
                return Ok(Step::CheckQuery { frame, sql, spec });
            }
            Verdict::RowCheck {
                max_rows,
                rejection,
            } => {
                // The server is inside the client's unfinished batch, whose state a simple
                // Query would disturb: refuse rather than run unchecked.
                let r = rejection.for_rows(
                    None,
                    max_rows,
                    "a row check cannot run inside an unfinished extended-protocol batch, so \
                     the statement was refused",
                );
                ctx.markers.query(ctx.exchange.register(r))
            }
            Verdict::Reject(r) => ctx.markers.query(ctx.exchange.register(r)),
            Verdict::Forward => frame,
        };
        self.end_of_cycle(ctx, Some(sql));
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
        let rejection = match verdict {
            Verdict::Disconnect => return Ok(Step::Disconnect),
            Verdict::Blackhole { duration } => return Ok(Step::Blackhole(duration)),
            Verdict::Forward => {
                self.statements
                    .parsed(p.name.clone(), Prepared::Allowed(sql));
                return Ok(Step::Forward(frame));
            }
            Verdict::RowCheck {
                max_rows,
                rejection,
            } => {
                let spec = Arc::new(CheckSpec {
                    max_rows,
                    rejection,
                });
                let checked = Prepared::Checked(sql, Arc::clone(&spec));
                if self.statements.parsed(p.name.clone(), checked) {
                    return Ok(Step::Forward(frame));
                }
                spec.rejection.for_rows(
                    None,
                    max_rows,
                    "the proxy tracks too many statements to check this one, so it was refused",
                )
            }
            Verdict::Reject(r) => r,
        };
        self.statements
            .parsed(p.name.clone(), Prepared::Rejected(rejection.clone()));
        self.discarding = true;
        Ok(Step::Forward(
            ctx.markers.parse(ctx.exchange.register(rejection)),
        ))
    }

    /// FunctionCall runs a function by OID with no SQL to inspect; the interceptor decides on
    /// the OID. A refusal goes out as a failing simple Query: like the call, it is answered
    /// by an error and ReadyForQuery and fails the block the way the call would have.
    async fn function_call<I: Interceptor>(
        &mut self,
        ctx: &Ctx<'_, I>,
        frame: Frame,
    ) -> Result<Step, SessionError> {
        let oid = FunctionCall::oid(frame.body()).map_err(bad)?;
        let label: Arc<str> = Arc::from(format!("function call (oid {oid})"));
        let verdict = ctx.interceptor.on_function_call(oid, ctx.info).await;
        ctx.statement_event(Protocol::FunctionCall, None, &label, &verdict)
            .await;
        let frame = match verdict {
            Verdict::Disconnect => return Ok(Step::Disconnect),
            Verdict::Blackhole { duration } => return Ok(Step::Blackhole(duration)),
            Verdict::Forward => frame,
            Verdict::Reject(r) | Verdict::RowCheck { rejection: r, .. } => {
                ctx.markers.query(ctx.exchange.register(r))
            }
        };
        self.end_of_cycle(ctx, Some(label));
        Ok(Step::Forward(frame))
    }

    /// An oversized Query or Parse has been skipped: fail it alone, like a rejection.
    async fn oversized<I: Interceptor>(&mut self, ctx: &Ctx<'_, I>, over: Oversize) -> Step {
        if self.discarding {
            return Step::Drop;
        }
        let rejection = over.rejection();
        let label: Arc<str> = Arc::from(over.label());
        let verdict = Verdict::Reject(rejection.clone());
        if over.is_parse() {
            let name = over.statement_name();
            let shown = name
                .as_ref()
                .map(|n| String::from_utf8_lossy(n).into_owned());
            ctx.statement_event(Protocol::Extended, shown.as_deref(), &label, &verdict)
                .await;
            if let Some(name) = name {
                self.statements
                    .parsed(name, Prepared::Rejected(rejection.clone()));
            }
            self.discarding = true;
            Step::Forward(ctx.markers.parse(ctx.exchange.register(rejection)))
        } else {
            ctx.statement_event(Protocol::Simple, None, &label, &verdict)
                .await;
            let frame = ctx.markers.query(ctx.exchange.register(rejection));
            self.end_of_cycle(ctx, Some(label));
            Step::Forward(frame)
        }
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
            Verdict::RowCheck { max_rows, .. } => StatementAction::RowChecked {
                max_rows: *max_rows,
            },
            Verdict::Blackhole { duration } => StatementAction::Blackholed {
                duration: *duration,
            },
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
