//! The server side of a row check: swallow the answers to the proxy's own statements, hold
//! back the checked statement's results while counting its rows, and let the held results
//! (or the rejection that replaces them) through when the client side says so.
//!
//! NotificationResponse and ParameterStatus are asynchronous and belong to no statement, so
//! they always pass at once. The holdback is bounded by `Ctx::max_holdback`: past it, held
//! frames are dropped (the count goes on) and the check fails closed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{ACTIVE_SQL_TRANSACTION, bad, completed_event, failed_event, ready_event};
use crate::pg::error::SessionError;
use crate::pg::events::ProxyEvent;
use crate::pg::frame::Frame;
use crate::pg::interceptor::{BackendEvent, Interceptor, RowCheckOutcome};
use crate::pg::messages::tags::backend as tag;
use crate::pg::messages::{
    CommandComplete, ErrorResponse, Message, NoticeResponse, ReadyForQuery, TransactionStatus,
};
use crate::pg::session::Ctx;
use crate::pg::session::rowcheck::{
    CheckSpec, Held, Internal, OnError, ReadyMode, Release, Report, Reporter, Special, Until,
    is_transaction_control,
};

/// The server side's row-check state.
#[derive(Debug, Default)]
pub(super) struct Holdback {
    active: Option<Active>,
    /// Held results waiting for the closing statement's [`Release`].
    parked: Option<Parked>,
}

#[derive(Debug)]
enum Active {
    Internal(InternalRun),
    Held(HeldRun),
}

#[derive(Debug)]
struct InternalRun {
    spec: Internal,
    completions: u32,
    error: Option<(Frame, ErrorResponse)>,
    already_in_transaction: bool,
}

#[derive(Debug)]
struct HeldRun {
    spec: Held,
    frames: Vec<Frame>,
    bytes: usize,
    overflow: bool,
    rows: u64,
    counted: bool,
    error: bool,
    escaped: bool,
    suspended: bool,
    copy_in: bool,
}

/// A finished check's results and what to say about them.
#[derive(Debug)]
struct Parked {
    sql: Option<Arc<str>>,
    started: Instant,
    spec: Arc<CheckSpec>,
    frames: Vec<Frame>,
    outcome: RowCheckOutcome,
    rows: Option<u64>,
}

/// Statement-ending frames of an Execute.
fn ends_execute(t: u8) -> bool {
    matches!(
        t,
        tag::COMMAND_COMPLETE
            | tag::ERROR_RESPONSE
            | tag::EMPTY_QUERY_RESPONSE
            | tag::PORTAL_SUSPENDED
    )
}

/// Answers that complete one of the proxy's own extended commands.
fn completes(t: u8) -> bool {
    matches!(
        t,
        tag::PARSE_COMPLETE
            | tag::BIND_COMPLETE
            | tag::CLOSE_COMPLETE
            | tag::COMMAND_COMPLETE
            | tag::EMPTY_QUERY_RESPONSE
            | tag::NO_DATA
            | tag::PORTAL_SUSPENDED
    )
}

async fn send(report: &Reporter, r: Report) {
    // A closed receiver means the client side is gone with the session.
    let _ = report.send(r).await;
}

impl Holdback {
    /// True while any frame must come here.
    pub(super) fn engaged(&self) -> bool {
        self.active.is_some() || self.parked.is_some()
    }

    /// True while an entry is being answered.
    pub(super) fn active(&self) -> bool {
        self.active.is_some()
    }

    /// Begin answering `special`.
    pub(super) fn start(&mut self, special: Special) {
        self.active = Some(match special {
            Special::Internal(spec) => Active::Internal(InternalRun {
                spec,
                completions: 0,
                error: None,
                already_in_transaction: false,
            }),
            Special::Held(spec) => Active::Held(HeldRun {
                spec,
                frames: Vec::new(),
                bytes: 0,
                overflow: false,
                rows: 0,
                counted: false,
                error: false,
                escaped: false,
                suspended: false,
                copy_in: false,
            }),
        });
    }

    /// One frame answering the active entry.
    pub(super) async fn frame<I: Interceptor>(
        &mut self,
        ctx: &Ctx<'_, I>,
        frame: Frame,
        out: &mut Vec<Bytes>,
    ) -> Result<(), SessionError> {
        let t = frame.tag();
        if t == tag::NOTIFICATION_RESPONSE || t == tag::PARAMETER_STATUS {
            out.push(frame.into_bytes());
            return Ok(());
        }
        match &mut self.active {
            Some(Active::Internal(run)) => {
                let done = match t {
                    tag::NOTICE_RESPONSE => {
                        let n = NoticeResponse::decode(&frame).map_err(bad)?;
                        if n.fields.sqlstate().as_deref() == Some(ACTIVE_SQL_TRANSACTION) {
                            run.already_in_transaction = true;
                        }
                        false
                    }
                    tag::ERROR_RESPONSE => {
                        let e = ErrorResponse::decode(&frame).map_err(bad)?;
                        run.error = Some((frame.clone(), e));
                        // The server now skips the rest of the batch.
                        matches!(run.spec.until, Until::Completions(_))
                    }
                    // Only a simple step ends with one; the client side sends no Sync meanwhile.
                    tag::READY_FOR_QUERY => run.spec.until == Until::Ready,
                    t if completes(t) => {
                        run.completions += 1;
                        matches!(run.spec.until, Until::Completions(n) if run.completions >= n)
                    }
                    _ => false,
                };
                if done {
                    self.finish_internal(ctx, frame, out).await?;
                }
            }
            Some(Active::Held(run)) => {
                let simple = run.spec.simple;
                let done = match t {
                    tag::COPY_IN_RESPONSE | tag::COPY_BOTH_RESPONSE => {
                        // The server waits for data the client must not send: the client
                        // side fails the COPY, and the error that follows ends the statement.
                        run.copy_in = true;
                        send(&run.spec.report, Report::CopyIn).await;
                        false
                    }
                    tag::READY_FOR_QUERY => simple,
                    t => {
                        match t {
                            tag::COMMAND_COMPLETE => {
                                let c = CommandComplete::decode(&frame).map_err(bad)?;
                                if let Some(rows) = c.rows() {
                                    run.rows = run.rows.saturating_add(rows);
                                    run.counted = true;
                                }
                                run.escaped |= is_transaction_control(&c.tag_text());
                            }
                            tag::ERROR_RESPONSE => run.error = true,
                            tag::PORTAL_SUSPENDED => run.suspended = true,
                            _ => {}
                        }
                        let ends = !simple && ends_execute(t);
                        run.hold(frame.clone(), ctx.max_holdback);
                        ends
                    }
                };
                if done {
                    self.finish_held(ctx, frame, out).await?;
                }
            }
            None => out.push(frame.into_bytes()),
        }
        Ok(())
    }

    async fn finish_internal<I: Interceptor>(
        &mut self,
        ctx: &Ctx<'_, I>,
        last: Frame,
        out: &mut Vec<Bytes>,
    ) -> Result<(), SessionError> {
        let Some(Active::Internal(run)) = self.active.take() else {
            return Ok(());
        };
        let spec = run.spec;
        let failed = run.error.is_some();
        if let Some(release) = spec.release
            && let Some(parked) = self.parked.take()
        {
            release_parked(ctx, parked, release, failed, out).await;
        }
        let mut error = None;
        if let Some((frame, e)) = run.error {
            match spec.on_error {
                OnError::Forward => {
                    failed_event(ctx, spec.sql.clone(), None, &e, false).await;
                    out.push(frame.into_bytes());
                }
                OnError::Reject(r) => {
                    let substitute = r.to_error();
                    failed_event(ctx, spec.sql.clone(), None, &substitute, true).await;
                    out.push(substitute.to_frame().into_bytes());
                }
            }
            if spec.until != Until::Ready {
                ctx.exchange.special_failed();
            }
            error = Some(e);
        }
        if spec.until == Until::Ready {
            let status = ReadyForQuery::decode(&last).map_err(bad)?.status;
            ctx.info.set_transaction_status(status);
            ctx.exchange.special_ready();
            let forward = match spec.ready {
                ReadyMode::Forward => true,
                ReadyMode::OnError => failed,
                ReadyMode::Swallow => false,
            };
            if forward {
                ready_event(ctx, status, None).await;
                out.push(last.into_bytes());
            }
        }
        let report = Report::Internal {
            error,
            completions: run.completions,
            already_in_transaction: run.already_in_transaction,
        };
        send(&spec.report, report).await;
        Ok(())
    }

    async fn finish_held<I: Interceptor>(
        &mut self,
        ctx: &Ctx<'_, I>,
        last: Frame,
        out: &mut Vec<Bytes>,
    ) -> Result<(), SessionError> {
        let Some(Active::Held(run)) = self.active.take() else {
            return Ok(());
        };
        let status = if run.spec.simple {
            let status = ReadyForQuery::decode(&last).map_err(bad)?.status;
            ctx.info.set_transaction_status(status);
            ctx.exchange.special_ready();
            Some(status)
        } else {
            if run.error {
                ctx.exchange.special_failed();
            }
            None
        };
        let escaped = run.escaped || status == Some(TransactionStatus::Idle);
        let outcome = if run.copy_in {
            RowCheckOutcome::Uncheckable
        } else if run.overflow {
            RowCheckOutcome::HoldbackExceeded
        } else if escaped {
            RowCheckOutcome::Escaped
        } else if run.error {
            RowCheckOutcome::Failed
        } else if run.suspended {
            RowCheckOutcome::Uncheckable
        } else if run.rows > run.spec.spec.max_rows {
            RowCheckOutcome::Exceeded
        } else {
            RowCheckOutcome::Within
        };
        let rows = (run.counted && !run.error).then_some(run.rows);
        // Released now when no closing statement can follow: the wrapper is gone (escaped),
        // an extended batch is skipping to Sync after an error, or a simple statement failed
        // inside the client's own block (which stays failed, as without the proxy).
        let now = escaped
            || (!run.spec.simple && (run.error || run.copy_in))
            || (run.spec.simple && !run.spec.ours && outcome == RowCheckOutcome::Failed);
        let held = run.spec;
        let parked = Parked {
            sql: held.sql,
            started: held.started,
            spec: held.spec,
            frames: run.frames,
            outcome,
            rows,
        };
        if now {
            let release = if outcome.undone() {
                Release::Reject(parked.spec.rejection_for(outcome, rows, ctx.max_holdback))
            } else {
                Release::Held
            };
            release_parked(ctx, parked, release, false, out).await;
            if let Some(status) = status {
                ready_event(ctx, status, Some(held.started.elapsed())).await;
                out.push(last.into_bytes());
            }
        } else {
            self.parked = Some(parked);
        }
        let report = Report::Held {
            outcome,
            rows,
            released: now,
        };
        send(&held.report, report).await;
        Ok(())
    }
}

impl HeldRun {
    fn hold(&mut self, frame: Frame, max: usize) {
        if self.overflow {
            return;
        }
        self.bytes += frame.wire_len();
        if self.bytes > max {
            self.overflow = true;
            self.frames = Vec::new();
        } else {
            self.frames.push(frame);
        }
    }
}

/// Send the held results (or their replacement) to the client, with their events. When the
/// closing statement failed (a COMMIT refused, say), the statement's own CommandComplete is
/// dropped: as with a real server, the statement did not complete.
async fn release_parked<I: Interceptor>(
    ctx: &Ctx<'_, I>,
    parked: Parked,
    release: Release,
    closing_failed: bool,
    out: &mut Vec<Bytes>,
) {
    let elapsed = Some(parked.started.elapsed());
    row_checked_event(ctx, &parked, elapsed).await;
    match release {
        Release::Held => {
            let mut frames = parked.frames;
            if closing_failed
                && let Some(i) = frames
                    .iter()
                    .rposition(|f| f.tag() == tag::COMMAND_COMPLETE)
            {
                frames.remove(i);
            }
            for frame in frames {
                match frame.tag() {
                    tag::COMMAND_COMPLETE => {
                        if let Ok(c) = CommandComplete::decode(&frame) {
                            completed_event(ctx, parked.sql.clone(), elapsed, &c).await;
                        }
                    }
                    tag::ERROR_RESPONSE => {
                        if let Ok(e) = ErrorResponse::decode(&frame) {
                            failed_event(ctx, parked.sql.clone(), elapsed, &e, false).await;
                        }
                    }
                    _ => {}
                }
                out.push(frame.into_bytes());
            }
        }
        Release::Reject(r) => {
            let e = r.to_error();
            failed_event(ctx, parked.sql.clone(), elapsed, &e, true).await;
            out.push(e.to_frame().into_bytes());
        }
    }
}

async fn row_checked_event<I: Interceptor>(
    ctx: &Ctx<'_, I>,
    parked: &Parked,
    elapsed: Option<Duration>,
) {
    let event = BackendEvent::RowChecked {
        statement: parked.sql.as_deref(),
        rows: parked.rows,
        max_rows: parked.spec.max_rows,
        outcome: parked.outcome,
        elapsed,
    };
    ctx.interceptor.on_backend(&event, ctx.info).await;
    if ctx.events.enabled() {
        ctx.events
            .emit(ProxyEvent::RowChecked {
                session: ctx.info.id(),
                sql: parked.sql.clone(),
                rows: parked.rows,
                max_rows: parked.spec.max_rows,
                outcome: parked.outcome,
                elapsed,
            })
            .await;
    }
}
