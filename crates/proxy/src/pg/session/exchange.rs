//! State shared by the two directions of a session: what is in flight (to attribute each
//! result to its statement and time it) and which rejections are waiting for their
//! substitute's error. The client side pushes, the server side pops; critical sections are a
//! few instructions and never span an await.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

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
    /// A Sync or FunctionCall: ReadyForQuery.
    Sync { started: Instant },
}

impl Pending {
    fn is_execute(&self) -> bool {
        matches!(self, Self::Execute { .. })
    }
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
}

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Exchange {
    inner: Mutex<Inner>,
}

impl Exchange {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Record a message the server will answer.
    pub(crate) fn push(&self, pending: Pending) {
        let mut inner = self.lock();
        if !pending.is_execute() {
            inner.cycles_sent += 1;
        }
        if inner.in_flight.len() >= MAX_IN_FLIGHT {
            tracing::debug!("in-flight queue full; dropping result attribution");
            inner.in_flight.clear();
        }
        inner.in_flight.push_back(pending);
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

    /// A CommandComplete arrived.
    pub(crate) fn completed(&self) -> Attribution {
        let mut inner = self.lock();
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
        if inner.in_flight.front().is_some_and(Pending::is_execute) {
            inner.in_flight.pop_front();
        }
    }

    /// An ErrorResponse arrived. In a batch the server now skips to Sync, so every Execute
    /// queued before that Sync will never be answered.
    pub(crate) fn failed(&self) -> Attribution {
        let mut inner = self.lock();
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
    pub(crate) fn ready(&self) -> Option<Duration> {
        let mut inner = self.lock();
        while inner.in_flight.front().is_some_and(Pending::is_execute) {
            inner.in_flight.pop_front();
        }
        let elapsed = match inner.in_flight.pop_front() {
            Some(Pending::Query { started, .. } | Pending::Sync { started }) => {
                Some(started.elapsed())
            }
            _ => None,
        };
        inner.cycles_done += 1;
        let done = inner.cycles_done;
        // A substitute the server skipped (an earlier error in the batch) never reports back.
        inner.rejections.retain(|_, (cycle, _)| *cycle >= done);
        elapsed
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
        ex.push(Pending::Sync { started: now });
        ex.push(Pending::Query {
            sql: Arc::from("q"),
            started: now,
        });
        assert_eq!(ex.completed().sql.as_deref(), Some("a"));
        // "b" fails: the batch is over except for its ReadyForQuery.
        assert_eq!(ex.failed().sql.as_deref(), Some("b"));
        assert!(ex.ready().is_some());
        // Multi-statement simple query: two completions, one ready.
        assert_eq!(ex.completed().sql.as_deref(), Some("q"));
        assert_eq!(ex.completed().sql.as_deref(), Some("q"));
        assert!(ex.ready().is_some());
        assert!(ex.ready().is_none());
    }

    #[test]
    fn stale_rejections_are_dropped_at_their_ready_for_query() {
        let ex = Exchange::default();
        let now = Instant::now();
        let first = ex.register(Rejection::new("42501", "one"));
        ex.push(Pending::Sync { started: now });
        let second = ex.register(Rejection::new("42501", "two"));
        ex.push(Pending::Sync { started: now });
        ex.ready();
        assert!(ex.take_rejection(first).is_none());
        assert_eq!(ex.take_rejection(second).unwrap().message, "two");
    }
}
