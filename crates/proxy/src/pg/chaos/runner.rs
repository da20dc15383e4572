//! The life of one fired action: `chaos_triggered`, its delay, applying it, holding it for its
//! duration (or until a one-shot is used up), undoing it, `chaos_completed`. Each action runs
//! in a task of its own, so the statement that fired it is never held up by database work.
//! Wire-side actions without a delay are opened before the firing call returns, so they
//! already apply to the statement that fired them.
//!
//! `chaos_triggered` and `chaos_completed` are events too: they are fed back to the engine, so
//! a script can chain actions (bounded by `max_total_chaos_events`).

use std::collections::VecDeque;
use std::future::pending;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use shakedown_sql::chaos::{ChaosAction, FiredAction};
use shakedown_sql::{SqlEvent, SqlEventType, TableName};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::error::ChaosError;
use super::event::{ChaosEvent, ChaosOutcome};
use super::pause::Enlisted;
use super::undo::{Entry, Meta, Undo};
use super::windows::Fault;
use super::{Inner, change_column_type, drop_index, lock_table, rename_column, revoke_credentials};

/// How long `chaos_completed` waits for its `chaos_triggered` to be sent.
const ANNOUNCE_WAIT: Duration = Duration::from_secs(2);

/// Who made a trigger fire.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Origin {
    pub(crate) session: Option<u64>,
    /// The role the session logged in as (`revoke_credentials` without a role revokes it).
    pub(crate) user: Option<String>,
}

/// A fired action on its way.
struct Job {
    meta: Meta,
    delay: Duration,
    trigger_type: shakedown_sql::chaos::TriggerType,
    condition: String,
    fire_count: u32,
    /// Set when the window was opened (and recorded) before the task started.
    opened: Option<Opened>,
    /// The epoch it belongs to: a guardian's halt cancels it.
    epoch: Enlisted,
}

/// An applied action's hold: when it took effect, and a one-shot's "used up" signal.
struct Opened {
    applied: Instant,
    spent: Option<Arc<Notify>>,
}

/// The table an action acts on, for the events it feeds back (`{event.tables[0]}`).
fn action_table(action: &ChaosAction) -> Option<&TableName> {
    match action {
        ChaosAction::LockTable { table, .. }
        | ChaosAction::RenameColumn { table, .. }
        | ChaosAction::ChangeColumnType { table, .. } => Some(table),
        ChaosAction::DropIndex { table, .. } => table.as_ref(),
        _ => None,
    }
}

fn is_one_shot(action: &ChaosAction) -> bool {
    matches!(action, ChaosAction::SimulateTimeout { duration: None })
}

/// Waits until `at`, or forever.
async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => pending().await,
    }
}

/// Waits for a one-shot to be used up, or forever.
async fn spent(signal: Option<Arc<Notify>>) {
    match signal {
        Some(s) => s.notified().await,
        None => pending().await,
    }
}

impl Inner {
    /// Starts fired actions, and whatever their `chaos_triggered` events fire in turn.
    pub(crate) fn start(self: &Arc<Self>, fired: Vec<FiredAction>, origin: &Origin) {
        let mut queue: VecDeque<FiredAction> = fired.into();
        while let Some(f) = queue.pop_front() {
            if self.halt.is_cancelled() {
                return;
            }
            // Halted by the guardian: nothing starts (and nothing is owed on resume).
            let Some(epoch) = self.pause.enlist() else {
                return;
            };
            let meta = Meta {
                id: self.next_id.fetch_add(1, Ordering::Relaxed),
                trigger: f.trigger.clone(),
                origin: origin.clone(),
                action: f.action.clone(),
                announced: CancellationToken::new(),
            };
            let opened = match Fault::of(&f.action) {
                Some(fault) if f.delay.is_zero() => self.open_now(&meta, fault),
                _ => None,
            };
            let follow = self.feed(SqlEventType::ChaosTriggered, &f.action);
            let job = Job {
                meta,
                delay: f.delay,
                trigger_type: f.trigger_type,
                condition: f.condition,
                fire_count: f.fire_count,
                opened,
                epoch,
            };
            self.tasks.spawn(run(Arc::clone(self), job));
            queue.extend(follow);
        }
    }

    /// Feeds a chaos event to the engine; returns what it fires.
    fn feed(&self, kind: SqlEventType, action: &ChaosAction) -> Vec<FiredAction> {
        let mut event = SqlEvent::new(kind);
        event.tables.extend(action_table(action).cloned());
        self.engine().on_event(&event, super::now_std())
    }

    /// Opens a wire-side window and records it, synchronously.
    fn open_now(&self, meta: &Meta, fault: Fault) -> Option<Opened> {
        let applied = Instant::now();
        let until = meta.action.duration().map(|d| applied + d);
        let signal = self.windows().open(meta.id, fault, until);
        let entry = Entry {
            meta: meta.clone(),
            applied,
            undo: Undo::Window(meta.id),
        };
        match self.stack.push(entry) {
            Ok(()) => Some(Opened {
                applied,
                spent: is_one_shot(&meta.action).then_some(signal),
            }),
            Err(_) => {
                // The script ended meanwhile; the task will report it.
                self.windows().close(meta.id);
                None
            }
        }
    }

    /// Applies an action; returns its undo and, for a one-shot, its "used up" signal.
    async fn apply(&self, meta: &Meta) -> Result<(Undo, Option<Arc<Notify>>), ChaosError> {
        let action = &meta.action;
        let admin = || {
            self.admin.as_ref().ok_or(ChaosError::NoAdmin {
                action: action.kind(),
            })
        };
        let undo = match action {
            ChaosAction::AddLatency { .. }
            | ChaosAction::SimulateTimeout { .. }
            | ChaosAction::DiskFull { .. }
            | ChaosAction::MemoryPressure { .. }
            | ChaosAction::CpuThrottle { .. }
            | ChaosAction::NetworkPartition { .. }
            | ChaosAction::PacketLoss { .. } => {
                let fault = Fault::of(action).ok_or_else(|| {
                    ChaosError::Gone(format!("{} has no wire-side fault", action.kind()))
                })?;
                let until = action.duration().map(|d| Instant::now() + d);
                let signal = self.windows().open(meta.id, fault, until);
                return Ok((Undo::Window(meta.id), is_one_shot(action).then_some(signal)));
            }
            ChaosAction::LockTable { table, mode, .. } => {
                Undo::Lock(lock_table::apply(admin()?, table, mode).await?)
            }
            ChaosAction::RevokeCredentials { role, .. } => {
                let admin = admin()?;
                let role = role
                    .as_deref()
                    .or(meta.origin.user.as_deref())
                    .ok_or(ChaosError::NoSessionRole)?;
                Undo::Login(revoke_credentials::apply(admin, &self.claims, role).await?)
            }
            ChaosAction::RenameColumn {
                table,
                column,
                new_name,
                ..
            } => Undo::Rename(
                rename_column::apply(admin()?, &self.claims, table, column, new_name).await?,
            ),
            ChaosAction::ChangeColumnType {
                table,
                column,
                new_type,
                ..
            } => Undo::Retype(
                change_column_type::apply(admin()?, &self.claims, table, column, new_type).await?,
            ),
            ChaosAction::DropIndex { table, index, .. } => {
                Undo::Index(drop_index::apply(admin()?, &self.claims, table.as_ref(), index).await?)
            }
        };
        Ok((undo, None))
    }

    /// How an applied action ended on its own, if it did: a one-shot that hit its statement
    /// was consumed, one whose duration is over expired. An entry undone by a shutdown or a
    /// halt a moment after it ran its course (before its task saw it) reports that, not the
    /// shutdown.
    fn ran_its_course(&self, entry: &Entry) -> Option<ChaosOutcome> {
        if let Undo::Window(id) = entry.undo
            && self.windows().is_spent(id)
        {
            return Some(ChaosOutcome::Consumed);
        }
        let over = entry
            .meta
            .action
            .duration()
            .is_some_and(|d| entry.applied + d <= Instant::now());
        over.then_some(ChaosOutcome::Expired)
    }

    /// Undoes a taken entry and reports it.
    pub(crate) async fn finish(self: &Arc<Self>, entry: Entry, outcome: ChaosOutcome) {
        let outcome = match outcome {
            ChaosOutcome::Shutdown | ChaosOutcome::HaltedByGuardian => {
                self.ran_its_course(&entry).unwrap_or(outcome)
            }
            other => other,
        };
        let result = entry.undo.revert(self).await;
        let duration = entry.applied.elapsed();
        // Dropping the undo releases its claim and any lock connection.
        drop(entry.undo);
        match result {
            Ok(affected) => {
                self.complete(entry.meta, outcome, None, affected, duration)
                    .await
            }
            Err(e) => {
                self.complete(
                    entry.meta,
                    ChaosOutcome::UndoFailed,
                    Some(e.to_string()),
                    None,
                    duration,
                )
                .await
            }
        }
    }

    /// Sends `chaos_completed` and feeds it to the engine.
    async fn complete(
        self: &Arc<Self>,
        meta: Meta,
        outcome: ChaosOutcome,
        error: Option<String>,
        affected: Option<u64>,
        duration: Duration,
    ) {
        let follow = if self.halt.is_cancelled() || self.pause.is_paused() {
            Vec::new()
        } else {
            self.feed(SqlEventType::ChaosCompleted, &meta.action)
        };
        let origin = meta.origin.clone();
        // Its `chaos_triggered` goes first; bounded in case that task never ran (the runtime
        // is being torn down).
        let _ = tokio::time::timeout(ANNOUNCE_WAIT, meta.announced.cancelled()).await;
        self.sink
            .emit(ChaosEvent::ChaosCompleted {
                id: meta.id,
                trigger: meta.trigger,
                session: meta.origin.session,
                action: meta.action,
                outcome,
                error,
                affected,
                duration,
            })
            .await;
        self.start(follow, &origin);
    }

    /// Ends the script: undoes every applied action, newest first.
    pub(crate) async fn unwind(self: &Arc<Self>) {
        for entry in self.stack.close() {
            self.finish(entry, ChaosOutcome::Shutdown).await;
        }
    }
}

/// One action, from `chaos_triggered` to `chaos_completed`.
async fn run(inner: Arc<Inner>, job: Job) {
    let meta = job.meta;
    inner
        .sink
        .emit(ChaosEvent::ChaosTriggered {
            id: meta.id,
            trigger: meta.trigger.clone(),
            trigger_type: job.trigger_type,
            condition: job.condition,
            fire_count: job.fire_count,
            session: meta.origin.session,
            action: meta.action.clone(),
            delay: job.delay,
        })
        .await;
    meta.announced.cancel();
    let opened = match job.opened {
        Some(opened) => opened,
        None => {
            tokio::select! {
                () = tokio::time::sleep(job.delay) => {}
                () = inner.halt.cancelled() => {
                    inner.complete(meta, ChaosOutcome::Cancelled, None, None, Duration::ZERO).await;
                    return;
                }
                () = job.epoch.halted.cancelled() => {
                    inner.complete(meta, ChaosOutcome::Cancelled, None, None, Duration::ZERO).await;
                    return;
                }
            }
            let began = Instant::now();
            match inner.apply(&meta).await {
                Err(e) => {
                    let error = Some(e.to_string());
                    let took = began.elapsed();
                    inner
                        .complete(meta, ChaosOutcome::Failed, error, None, took)
                        .await;
                    return;
                }
                Ok((undo, spent)) => {
                    let applied = Instant::now();
                    let entry = Entry {
                        meta: meta.clone(),
                        applied,
                        undo,
                    };
                    if let Err(entry) = inner.stack.push(entry) {
                        // The script ended while this was being applied.
                        inner.finish(*entry, ChaosOutcome::Shutdown).await;
                        return;
                    }
                    Opened { applied, spent }
                }
            }
        }
    };
    let deadline = meta.action.duration().map(|d| opened.applied + d);
    let outcome = tokio::select! {
        // An action that ran its course reports so, even if the script ends at that moment.
        biased;
        () = until(deadline) => ChaosOutcome::Expired,
        () = spent(opened.spent) => ChaosOutcome::Consumed,
        // The script is over: the driver undoes what is left, newest first.
        () = inner.halt.cancelled() => return,
        // The guardian's halt: it undoes what is left, newest first, once we let go.
        () = job.epoch.halted.cancelled() => return,
    };
    if let Some(entry) = inner.stack.take(meta.id) {
        inner.finish(entry, outcome).await;
    }
}
