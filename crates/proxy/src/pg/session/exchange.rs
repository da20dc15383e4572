//! State shared by the two directions of a session: what is in flight (to attribute each
//! result to its statement and time it, and to tell the server side how to treat the answers
//! to the proxy's own statements), which rejections are waiting for their substitute's error,
//! and how far the server has answered (the barrier a row check waits on). The client side
//! pushes, the server side pops; critical sections are a few instructions and never span an
//! await.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::rowcheck::{Reporter, Special};
use crate::pg::interceptor::Rejection;

/// A pipelining client can queue many messages; beyond this the attribution is dropped rather
/// than letting memory grow (forwarding is unaffected).
const MAX_IN_FLIGHT: usize = 65_536;

/// Something the server will answer.
#[derive(Debug)]
pub(crate) enum Pending {
    /// A simple Query: CommandCompletes then ReadyForQuery.
    Query { sql: Arc<str>, started: Instant },
    /// An Execute: CommandComplete / EmptyQueryResponse / PortalSuspended / ErrorResponse.
    Execute {
        sql: Option<Arc<str>>,
        started: Instant,
    },
    /// A Sync or FunctionCall: ReadyForQuery. `fixup` is set on the Sync of a batch that
    /// ran inside the proxy's own block (see `rowcheck`).
    Sync {
        started: Instant,
        fixup: Option<Reporter>,
    },
    /// A row check's step: answers handled by the server side's holdback.
    Special(Special),
}

impl Pending {
    fn is_execute(&self) -> bool {
        matches!(self, Self::Execute { .. })
    }

    fn is_cycle(&self) -> bool {
        match self {
            Self::Query { .. } | Self::Sync { .. } => true,
            Self::Execute { .. } => false,
            Self::Special(s) => s.is_cycle(),
        }
    }

    fn is_special(&self) -> bool {
        matches!(self, Self::Special(_))
    }
}

/// What a ReadyForQuery closed.
#[derive(Debug, Default)]
pub(crate) struct Readied {
    pub(crate) elapsed: Option<Duration>,
    /// The Sync was one of a batch inside the proxy's block; `adopted` when the client began
    /// a transaction itself meanwhile (the block is then the client's to end).
    pub(crate) fixup: Option<(Reporter, bool)>,
}

/// A result matched to what caused it.
#[derive(Debug, Default)]
pub(crate) struct Attribution {
    pub(crate) sql: Option<Arc<str>>,
    pub(crate) elapsed: Option<Duration>,
}

#[derive(Debug, Default)]
struct Inner {
    in_flight: VecDeque<Pending>,
    /// Rejection id → (cycle it belongs to, rejection).
    rejections: HashMap<u64, (u64, Rejection)>,
    next_rejection: u64,
    /// Query/Sync/FunctionCall messages sent, and ReadyForQuery messages seen.
    cycles_sent: u64,
    cycles_done: u64,
    /// Answers completed since the last ReadyForQuery (ParseComplete, BindComplete,
    /// CloseComplete, the end of a Describe or an Execute), and whether an error made the
    /// server skip to Sync.
    batch_done: u64,
    batch_failed: bool,
    /// `Some` while a batch runs inside the proxy's block; true once the client began a
    /// transaction of its own in it.
    adopted: Option<bool>,
}

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Exchange {
    inner: Mutex<Inner>,
    /// Special entries queued (the server side leaves its fast path while any are).
    special: AtomicUsize,
    /// Mirrors `Inner::adopted.is_some()` for the server side's fast path.
    tracking: AtomicBool,
    /// Signalled by the server side after each pass over what it read.
    progress: Notify,
}

impl Exchange {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Record a message the server will answer.
    pub(crate) fn push(&self, pending: Pending) {
        let mut inner = self.lock();
        if pending.is_cycle() {
            inner.cycles_sent += 1;
        }
        // Never reached during a row check (the client side waits for the barrier first), and
        // special entries are kept so their reports are never lost.
        if inner.in_flight.len() >= MAX_IN_FLIGHT {
            tracing::debug!("in-flight queue full; dropping result attribution");
            inner.in_flight.retain(Pending::is_special);
        }
        if pending.is_special() {
            self.special.fetch_add(1, Ordering::Release);
        }
        inner.in_flight.push_back(pending);
    }

    /// True while special entries are queued.
    pub(crate) fn has_special(&self) -> bool {
        self.special.load(Ordering::Acquire) > 0
    }

    /// The special entry at the front, taken out of the queue.
    pub(crate) fn pop_special(&self) -> Option<Special> {
        let mut inner = self.lock();
        if !inner.in_flight.front().is_some_and(Pending::is_special) {
            return None;
        }
        match inner.in_flight.pop_front() {
            Some(Pending::Special(s)) => {
                self.special.fetch_sub(1, Ordering::Release);
                Some(s)
            }
            _ => None,
        }
    }

    /// `n` answers completed (ParseComplete, BindComplete, CloseComplete, NoData,
    /// RowDescription).
    pub(crate) fn add_completions(&self, n: u64) {
        self.lock().batch_done += n;
    }

    /// True when the server has answered every cycle sent and `batch_sent` messages of the
    /// open batch (or skips the rest of it after an error).
    pub(crate) fn barrier(&self, batch_sent: u64) -> bool {
        let inner = self.lock();
        inner.cycles_done >= inner.cycles_sent
            && (inner.batch_failed || inner.batch_done >= batch_sent)
    }

    /// Wait for [`barrier`](Self::barrier). Woken after each pass of the server side; ends
    /// with the session (the relay drops this future).
    pub(crate) async fn wait_barrier(&self, batch_sent: u64) {
        while !self.barrier(batch_sent) {
            self.progress.notified().await;
        }
    }

    /// Called by the server side after each pass. `notify_one` keeps a permit when nobody
    /// waits yet, so a wake-up between the check and the wait is not lost.
    pub(crate) fn progressed(&self) {
        self.progress.notify_one();
    }

    /// True when an error in the open batch made the server skip to Sync.
    pub(crate) fn batch_failed(&self) -> bool {
        self.lock().batch_failed
    }

    /// Count the open batch's answers from zero again (after a row check, when everything
    /// sent has been answered).
    pub(crate) fn rebase_batch(&self) {
        self.lock().batch_done = 0;
    }

    /// Start or stop watching for the client beginning a transaction inside the proxy's block.
    pub(crate) fn track_adoption(&self, on: bool) {
        self.lock().adopted = on.then_some(false);
        self.tracking.store(on, Ordering::Release);
    }

    /// True while a batch runs inside the proxy's block: the client's own `BEGIN` then draws
    /// a WARNING 25001 that it would not get without the proxy (its `BEGIN` would have turned
    /// the implicit block into a transaction silently), so the server side drops it.
    pub(crate) fn tracking_adoption(&self) -> bool {
        self.tracking.load(Ordering::Acquire)
    }

    /// A ReadyForQuery answered one of the proxy's own cycles.
    pub(crate) fn special_ready(&self) {
        let mut inner = self.lock();
        Self::cycle_done(&mut inner);
    }

    /// An error answered one of the proxy's own commands or the held statement of a batch.
    pub(crate) fn special_failed(&self) {
        self.lock().batch_failed = true;
    }

    fn cycle_done(inner: &mut Inner) {
        inner.cycles_done += 1;
        inner.batch_done = 0;
        inner.batch_failed = false;
        let done = inner.cycles_done;
        // A substitute the server skipped (an earlier error in the batch) never reports back.
        inner.rejections.retain(|_, (cycle, _)| *cycle >= done);
    }

    /// Park a rejection until its substitute's error comes back; returns its id.
    pub(crate) fn register(&self, rejection: Rejection) -> u64 {
        let mut inner = self.lock();
        inner.next_rejection += 1;
        let id = inner.next_rejection;
        let cycle = inner.cycles_sent;
        inner.rejections.insert(id, (cycle, rejection));
        id
    }

    /// The rejection whose substitute produced this error.
    pub(crate) fn take_rejection(&self, id: u64) -> Option<Rejection> {
        self.lock().rejections.remove(&id).map(|(_, r)| r)
    }

    /// A CommandComplete with `tag` arrived.
    pub(crate) fn completed(&self, tag: &str) -> Attribution {
        let mut inner = self.lock();
        inner.batch_done += 1;
        if inner.adopted == Some(false) && (tag == "BEGIN" || tag == "START TRANSACTION") {
            inner.adopted = Some(true);
        }
        match inner.in_flight.front() {
            Some(Pending::Query { sql, started }) => Attribution {
                sql: Some(Arc::clone(sql)),
                elapsed: Some(started.elapsed()),
            },
            Some(Pending::Execute { .. }) => match inner.in_flight.pop_front() {
                Some(Pending::Execute { sql, started }) => Attribution {
                    sql,
                    elapsed: Some(started.elapsed()),
                },
                _ => Attribution::default(),
            },
            _ => Attribution::default(),
        }
    }

    /// An Execute ended without CommandComplete (EmptyQueryResponse, PortalSuspended).
    pub(crate) fn execute_ended(&self) {
        let mut inner = self.lock();
        inner.batch_done += 1;
        if inner.in_flight.front().is_some_and(Pending::is_execute) {
            inner.in_flight.pop_front();
        }
    }

    /// An ErrorResponse arrived. In a batch the server now skips to Sync, so every Execute
    /// queued before that Sync will never be answered.
    pub(crate) fn failed(&self) -> Attribution {
        let mut inner = self.lock();
        inner.batch_failed = true;
        let mut attribution = Attribution::default();
        match inner.in_flight.front() {
            Some(Pending::Query { sql, started }) => {
                attribution.sql = Some(Arc::clone(sql));
                attribution.elapsed = Some(started.elapsed());
            }
            Some(Pending::Execute { sql, started }) => {
                attribution.sql = sql.clone();
                attribution.elapsed = Some(started.elapsed());
            }
            _ => {}
        }
        while inner.in_flight.front().is_some_and(Pending::is_execute) {
            inner.in_flight.pop_front();
        }
        attribution
    }

    /// A ReadyForQuery arrived: the oldest cycle is over.
    pub(crate) fn ready(&self) -> Readied {
        let mut inner = self.lock();
        while inner.in_flight.front().is_some_and(Pending::is_execute) {
            inner.in_flight.pop_front();
        }
        let mut readied = Readied::default();
        // Never a special entry: the server side takes those out before their answers.
        if !inner.in_flight.front().is_some_and(Pending::is_special) {
            match inner.in_flight.pop_front() {
                Some(Pending::Query { started, .. }) => readied.elapsed = Some(started.elapsed()),
                Some(Pending::Sync { started, fixup }) => {
                    readied.elapsed = Some(started.elapsed());
                    let adopted = inner.adopted == Some(true);
                    readied.fixup = fixup.map(|f| (f, adopted));
                }
                _ => {}
            }
        }
        Self::cycle_done(&mut inner);
        readied
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_attributed_in_order_and_errors_skip_to_sync() {
        let ex = Exchange::default();
        let now = Instant::now();
        let sql = |s: &str| Some(Arc::<str>::from(s));
        ex.push(Pending::Execute {
            sql: sql("a"),
            started: now,
        });
        ex.push(Pending::Execute {
            sql: sql("b"),
            started: now,
        });
        ex.push(Pending::Sync {
            started: now,
            fixup: None,
        });
        ex.push(Pending::Query {
            sql: Arc::from("q"),
            started: now,
        });
        assert_eq!(ex.completed("SELECT 1").sql.as_deref(), Some("a"));
        // "b" fails: the batch is over except for its ReadyForQuery.
        assert_eq!(ex.failed().sql.as_deref(), Some("b"));
        assert!(ex.ready().elapsed.is_some());
        // Multi-statement simple query: two completions, one ready.
        assert_eq!(ex.completed("SELECT 1").sql.as_deref(), Some("q"));
        assert_eq!(ex.completed("SELECT 1").sql.as_deref(), Some("q"));
        assert!(ex.ready().elapsed.is_some());
        assert!(ex.ready().elapsed.is_none());
    }

    #[test]
    fn stale_rejections_are_dropped_at_their_ready_for_query() {
        let ex = Exchange::default();
        let now = Instant::now();
        let first = ex.register(Rejection::new("42501", "one"));
        ex.push(Pending::Sync {
            started: now,
            fixup: None,
        });
        let second = ex.register(Rejection::new("42501", "two"));
        ex.push(Pending::Sync {
            started: now,
            fixup: None,
        });
        ex.ready();
        assert!(ex.take_rejection(first).is_none());
        assert_eq!(ex.take_rejection(second).unwrap().message, "two");
    }

    #[test]
    fn the_barrier_waits_for_every_cycle_and_the_open_batch() {
        let ex = Exchange::default();
        let now = Instant::now();
        assert!(ex.barrier(0));
        ex.push(Pending::Sync {
            started: now,
            fixup: None,
        });
        assert!(!ex.barrier(0));
        ex.ready();
        // Two messages of a new batch sent (say Parse and Bind), one answered so far.
        ex.add_completions(1);
        assert!(!ex.barrier(2));
        ex.add_completions(1);
        assert!(ex.barrier(2));
        // An error makes the server skip the rest: nothing more will come.
        ex.rebase_batch();
        ex.push(Pending::Execute {
            sql: None,
            started: now,
        });
        assert!(!ex.barrier(3));
        ex.failed();
        assert!(ex.barrier(3) && ex.batch_failed());
    }
}
