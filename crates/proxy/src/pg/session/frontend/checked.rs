//! Row-checked statements, client side: wait until the server has answered everything sent
//! before, wrap the statement in a transaction or savepoint of the proxy's, run it with its
//! results held back, and close the wrapper by keeping or undoing it (see `rowcheck` for how
//! the two sides talk, and `Verdict::RowCheck` for the semantics the client sees).
//!
//! Simple protocol: the transaction status is exact once the server is idle, so `BEGIN`
//! (status `I`) or `SAVEPOINT` (status `T`) is sent as a Query, then the client's Query, then
//! `COMMIT` / `RELEASE` or `ROLLBACK` / `ROLLBACK TO` + `RELEASE`.
//!
//! Extended protocol: the check runs at each Execute of a checked portal, usually in the
//! middle of a batch (after its Bind), where a Query would end the batch's implicit
//! transaction and drop the client's unnamed statement. So the wrapper goes out as extended
//! commands under the proxy's own names, with a Flush to get answers before Sync. Inside an
//! open batch the block may be implicit or explicit: `BEGIN` is sent anyway, and the
//! server's WARNING 25001 ("already in a transaction") tells the two apart. When `BEGIN`
//! turned the implicit block into the proxy's, the client's Sync is fixed up: the proxy
//! swallows its ReadyForQuery and sends `COMMIT` (a failed block rolls back), so the batch
//! stays atomic and the client sees ReadyForQuery `I` as it would have.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::Frontend;
use crate::pg::error::SessionError;
use crate::pg::frame::Frame;
use crate::pg::interceptor::{Interceptor, RowCheckOutcome};
use crate::pg::messages::tags::frontend as tag;
use crate::pg::messages::{CopyFail, Flush, Message, TransactionStatus};
use crate::pg::session::Ctx;
use crate::pg::session::exchange::Pending;
use crate::pg::session::rowcheck::{
    CheckSpec, Held, Internal, OnError, ReadyMode, Release, Report, Special, Until,
};

/// Reports queued per check (at most two are ever outstanding).
const REPORTS: usize = 4;

async fn write<W: AsyncWrite + Unpin>(
    server: &mut W,
    frames: &[Frame],
) -> Result<(), SessionError> {
    let mut all = Vec::with_capacity(frames.iter().map(Frame::wire_len).sum());
    for f in frames {
        all.extend_from_slice(f.as_bytes());
    }
    server
        .write_all(&all)
        .await
        .map_err(SessionError::UpstreamIo)
}

async fn next(rx: &mut mpsc::Receiver<Report>) -> Result<Report, SessionError> {
    rx.recv()
        .await
        .ok_or(SessionError::Internal("a row check report was lost"))
}

fn copy_fail() -> Frame {
    CopyFail {
        message: Bytes::from_static(b"shakedown proxy: COPY FROM STDIN cannot be row-checked"),
    }
    .to_frame()
}

fn setup_failed(spec: &CheckSpec) -> OnError {
    OnError::Reject(spec.rejection.for_rows(
        None,
        spec.max_rows,
        "the proxy could not open its wrapping transaction, so the statement was not run",
    ))
}

impl Frontend {
    /// A simple Query under a row check.
    pub(super) async fn check_query<I, W>(
        &mut self,
        ctx: &Ctx<'_, I>,
        frame: Frame,
        sql: Arc<str>,
        spec: Arc<CheckSpec>,
        server: &mut W,
    ) -> Result<(), SessionError>
    where
        I: Interceptor,
        W: AsyncWrite + Unpin,
    {
        ctx.exchange.wait_barrier(0).await;
        self.sent(tag::QUERY);
        let status = ctx.info.transaction_status();
        if status == TransactionStatus::Failed {
            // The server refuses it (25P02) before it could change anything.
            self.end_of_cycle(ctx, Some(sql));
            return write(server, &[frame]).await;
        }
        if status == TransactionStatus::Idle {
            self.statements.transaction_ended();
        }
        let ours = status == TransactionStatus::Idle;
        let w = ctx.wrapper;
        let (tx, mut rx) = mpsc::channel(REPORTS);
        let internal = |until, release, on_error, ready| {
            Pending::Special(Special::Internal(Internal {
                sql: Some(Arc::clone(&sql)),
                until,
                release,
                on_error,
                ready,
                report: tx.clone(),
            }))
        };

        let setup = if ours {
            "BEGIN".to_string()
        } else {
            w.savepoint()
        };
        ctx.exchange.push(internal(
            Until::Ready,
            None,
            setup_failed(&spec),
            ReadyMode::OnError,
        ));
        write(server, &[w.query(&setup)]).await?;
        if let Report::Internal { error: Some(_), .. } = next(&mut rx).await? {
            // The client got the rejection and the ReadyForQuery.
            return Ok(());
        }

        ctx.exchange.push(Pending::Special(Special::Held(Held {
            simple: true,
            sql: Some(Arc::clone(&sql)),
            started: Instant::now(),
            spec: Arc::clone(&spec),
            ours,
            report: tx.clone(),
        })));
        write(server, &[frame]).await?;
        let (outcome, rows) = loop {
            match next(&mut rx).await? {
                Report::CopyIn => write(server, &[copy_fail()]).await?,
                Report::Held { released: true, .. } => return Ok(()),
                Report::Held { outcome, rows, .. } => break (outcome, rows),
                _ => return Err(SessionError::Internal("unexpected row check report")),
            }
        };

        let (end, release) = match outcome {
            RowCheckOutcome::Within if ours => ("COMMIT".to_string(), Release::Held),
            RowCheckOutcome::Within => (w.release(), Release::Held),
            // Failed inside the proxy's block: end it, so the client sees `I` as usual.
            RowCheckOutcome::Failed | RowCheckOutcome::Escaped => {
                let end = if ours { "ROLLBACK" } else { "" };
                (end.to_string(), Release::Held)
            }
            undone => {
                let end = if ours {
                    "ROLLBACK".to_string()
                } else {
                    format!("{}; {}", w.rollback_to(), w.release())
                };
                let r = spec.rejection_for(undone, rows, ctx.max_holdback);
                (end, Release::Reject(r))
            }
        };
        ctx.exchange.push(internal(
            Until::Ready,
            Some(release),
            OnError::Forward,
            ReadyMode::Forward,
        ));
        write(server, &[w.query(&end)]).await?;
        next(&mut rx).await?;
        Ok(())
    }

    /// An Execute of a row-checked portal.
    pub(super) async fn check_execute<I, W>(
        &mut self,
        ctx: &Ctx<'_, I>,
        frame: Frame,
        sql: Arc<str>,
        spec: Arc<CheckSpec>,
        server: &mut W,
    ) -> Result<(), SessionError>
    where
        I: Interceptor,
        W: AsyncWrite + Unpin,
    {
        if self.batch_open {
            // Without it the server keeps the batch's answers until Sync.
            write(server, &[Flush.to_frame()]).await?;
        }
        ctx.exchange.wait_barrier(self.batch_sent).await;
        let status = ctx.info.transaction_status();
        let skipped = ctx.exchange.batch_failed();
        if skipped || (!self.batch_open && status == TransactionStatus::Failed) {
            // An earlier error makes the server skip it, or the block is failed: it cannot
            // change anything.
            ctx.exchange.push(Pending::Execute {
                sql: Some(sql),
                started: Instant::now(),
            });
            self.sent(tag::EXECUTE);
            return write(server, &[frame]).await;
        }
        // Whose block will the statement run in? Known between batches; inside one, `BEGIN`
        // finds out.
        let (begin, mut ours) = if self.converted {
            (false, true)
        } else if !self.batch_open {
            let idle = status == TransactionStatus::Idle;
            (idle, idle)
        } else {
            (true, true)
        };
        let w = ctx.wrapper;
        let (tx, mut rx) = mpsc::channel(REPORTS);
        let internal = |n, release, on_error| {
            Pending::Special(Special::Internal(Internal {
                sql: Some(Arc::clone(&sql)),
                until: Until::Completions(n),
                release,
                on_error,
                ready: ReadyMode::Swallow,
                report: tx.clone(),
            }))
        };

        let mut setup = Vec::with_capacity(2);
        if begin {
            setup.push("BEGIN".to_string());
        }
        setup.push(w.savepoint());
        let (frames, n) = w.commands(&setup);
        ctx.exchange.push(internal(n, None, setup_failed(&spec)));
        write(server, &frames).await?;
        let Report::Internal {
            error,
            completions,
            already_in_transaction,
        } = next(&mut rx).await?
        else {
            return Err(SessionError::Internal("unexpected row check report"));
        };
        if begin {
            ours = !already_in_transaction;
            // From here until Sync the block is the proxy's (if `BEGIN` itself went through).
            let began = error.is_none() || completions >= 3;
            if ours && began {
                self.converted = true;
                ctx.exchange.track_adoption(true);
            }
        }
        if error.is_some() {
            // The client got the rejection in the Execute's place; the server skips to Sync.
            self.discarding = true;
            return self.after_check(ctx);
        }

        ctx.exchange.push(Pending::Special(Special::Held(Held {
            simple: false,
            sql: Some(Arc::clone(&sql)),
            started: Instant::now(),
            spec: Arc::clone(&spec),
            ours,
            report: tx.clone(),
        })));
        write(server, &[frame, Flush.to_frame()]).await?;
        let (outcome, rows) = loop {
            match next(&mut rx).await? {
                Report::CopyIn => write(server, &[copy_fail()]).await?,
                Report::Held {
                    outcome,
                    released: true,
                    ..
                } => {
                    if outcome == RowCheckOutcome::Escaped {
                        // The statement ended or replaced the block itself.
                        self.converted = false;
                        ctx.exchange.track_adoption(false);
                    }
                    return self.after_check(ctx);
                }
                Report::Held { outcome, rows, .. } => break (outcome, rows),
                _ => return Err(SessionError::Internal("unexpected row check report")),
            }
        };

        let undone = outcome.undone();
        let (cmds, release) = if undone {
            let cmds = if ours {
                vec!["ROLLBACK".to_string()]
            } else {
                vec![w.rollback_to(), w.release()]
            };
            let r = spec.rejection_for(outcome, rows, ctx.max_holdback);
            (cmds, Release::Reject(r))
        } else {
            (vec![w.release()], Release::Held)
        };
        let (frames, n) = w.commands(&cmds);
        ctx.exchange
            .push(internal(n, Some(release), OnError::Forward));
        write(server, &frames).await?;
        let Report::Internal { error, .. } = next(&mut rx).await? else {
            return Err(SessionError::Internal("unexpected row check report"));
        };
        if undone {
            // As after a real error, the rest of the batch up to Sync is skipped.
            self.discarding = true;
            if ours && error.is_none() {
                self.converted = false;
                ctx.exchange.track_adoption(false);
            }
        }
        self.after_check(ctx)
    }

    /// Everything sent so far is answered: the next barrier counts from here.
    fn after_check<I>(&mut self, ctx: &Ctx<'_, I>) -> Result<(), SessionError> {
        self.batch_sent = 0;
        ctx.exchange.rebase_batch();
        Ok(())
    }

    /// The Sync of a batch whose implicit transaction became the proxy's block.
    pub(super) async fn fixup_sync<I, W>(
        &mut self,
        ctx: &Ctx<'_, I>,
        frame: Frame,
        server: &mut W,
    ) -> Result<(), SessionError>
    where
        I: Interceptor,
        W: AsyncWrite + Unpin,
    {
        let (tx, mut rx) = mpsc::channel(REPORTS);
        ctx.exchange.push(Pending::Sync {
            started: Instant::now(),
            fixup: Some(tx.clone()),
        });
        write(server, &[frame]).await?;
        self.sent(tag::SYNC);
        self.converted = false;
        let commit = match next(&mut rx).await? {
            Report::Fixup { commit } => commit,
            _ => return Err(SessionError::Internal("unexpected row check report")),
        };
        ctx.exchange.track_adoption(false);
        if commit {
            ctx.exchange
                .push(Pending::Special(Special::Internal(Internal {
                    sql: None,
                    until: Until::Ready,
                    release: None,
                    on_error: OnError::Forward,
                    ready: ReadyMode::Forward,
                    report: tx,
                })));
            write(server, &[ctx.wrapper.query("COMMIT")]).await?;
            next(&mut rx).await?;
        }
        if ctx.info.transaction_status() == TransactionStatus::Idle {
            self.statements.transaction_ended();
        }
        Ok(())
    }
}
