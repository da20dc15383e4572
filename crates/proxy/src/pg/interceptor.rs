//! The interception seam. Policy and chaos live outside this crate; the proxy asks an
//! [`Interceptor`] about every statement (and every FunctionCall) before forwarding it and
//! tells it about every result.
//!
//! Methods are async so an interceptor can delay (latency chaos), consult a store, or wait on
//! a lock; the session waits for the answer. One interceptor is made per session by an
//! [`InterceptorFactory`], so per-session state needs no locking across sessions.
//!
//! # Primitives for policy and chaos
//!
//! * **Block** — [`Verdict::Reject`] / [`Verdict::block`]: the client gets an ErrorResponse
//!   with the rejection's SQLSTATE and message where the server's answer would have been, and
//!   the session goes on with the transaction status a real error leaves.
//! * **Row check** — [`Verdict::RowCheck`]: the statement runs, but if it affects more than
//!   `max_rows` rows it is undone and the client gets the rejection instead; nothing is lost.
//!   See [`Verdict::RowCheck`] for the exact transaction semantics.
//! * **Added latency** — sleep in [`Interceptor::on_query`] / [`Interceptor::on_parse`]: the
//!   statement reaches the server only when the method returns. The sleep holds up this
//!   session's client → server direction only; results already on their way still reach the
//!   client, and other sessions (each its own task) are not affected at all.
//! * **Slow or stalled responses** (`cpu_throttle`, `packet_loss`) — sleep in
//!   [`Interceptor::on_backend`]: the frame that ends a statement (CommandComplete,
//!   ErrorResponse) or a cycle (ReadyForQuery) is held until the method returns, and everything
//!   after it waits behind it, so the client sees the response stall on the wire. `elapsed` in
//!   the event lets a throttle stretch a response in proportion to its server time. There is
//!   deliberately no per-frame hook: a client experiences packet loss as responses arriving
//!   late, which these stalls produce, and a hook on every DataRow would put an await on the
//!   proxy's hottest path.
//! * **Injected errors** (`simulate_timeout`, `disk_full`, `memory_pressure`) —
//!   [`Verdict::reject`] with the SQLSTATE a real server would send
//!   ([`sqlstate::QUERY_CANCELED`], [`sqlstate::DISK_FULL`], [`sqlstate::OUT_OF_MEMORY`]).
//! * **Dropped connection** — [`Verdict::Disconnect`]: both connections close at once.
//! * **Partition** — [`Verdict::Blackhole`]: the session stops relaying in both directions
//!   while the client's connection stays open, so the client's statement hangs until its own
//!   timeout; the session is dropped when the blackhole ends.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::messages::{CommandComplete, ErrorResponse, TransactionStatus};
use super::session_info::SessionInfo;
use super::sqlstate;

/// What to do with a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Send it to the server unchanged.
    Forward,
    /// Refuse it: the client gets an ErrorResponse with this SQLSTATE and message, and the
    /// session goes on with the transaction status a real server error would leave.
    Reject(Rejection),
    /// Drop the client and upstream connections at once, without a message (a network
    /// partition as the client sees it).
    Disconnect,
    /// Run the statement, but undo it when it affects more than `max_rows` rows: the client
    /// then gets `rejection` (with `{rows}` and `{max_rows}` in its message or detail replaced
    /// by the numbers; a detail line is added when it has none) and every row is still there.
    /// Within the limit the client gets the statement's results unchanged. Rows are the sum of
    /// the counts in the statement's CommandComplete tags (`DELETE n`, `UPDATE n`,
    /// `INSERT 0 n`, `SELECT n`, …).
    ///
    /// Honoured from [`Interceptor::on_query`] and [`Interceptor::on_parse`] (the check then
    /// runs at every Execute of a portal bound from that statement). The session wraps the
    /// statement in a transaction or savepoint of its own:
    ///
    /// * **outside a transaction** (`I`), the statement runs inside `BEGIN` … `COMMIT`, or
    ///   `ROLLBACK` when over the limit; the client sees its results or the rejection, then
    ///   ReadyForQuery `I`, exactly as for an ordinary statement or error. In an extended batch
    ///   the batch's implicit transaction becomes the proxy's block, committed at the client's
    ///   Sync, so the batch stays atomic; over the limit the whole batch is rolled back and the
    ///   rest of it up to Sync is skipped, as after a real error.
    /// * **inside a transaction block** (`T`), the statement runs inside a savepoint. Over the
    ///   limit it is rolled back to the savepoint: the statement is undone, the client gets the
    ///   rejection, **and the transaction stays usable** (ReadyForQuery `T`, earlier work kept)
    ///   — unlike a real error, which would fail the block. In an extended batch the rest of
    ///   the batch up to Sync is skipped, as after an error. Within the limit the savepoint is
    ///   released.
    /// * **in a failed block** (`E`), the statement is forwarded unchecked: the server refuses
    ///   it anyway.
    ///
    /// A check waits until the server has answered everything sent before it (so the
    /// transaction state is known) and costs two or three extra round trips to the server;
    /// meanwhile the session reads no further client messages (they wait in the socket).
    /// Responses are held back until the row count is known, up to the proxy's holdback limit
    /// ([`PgProxyConfig::max_holdback`](super::PgProxyConfig::max_holdback)); a statement whose
    /// results are larger, a `COPY … FROM STDIN`, and an Execute with a row limit (a suspended
    /// portal) cannot be checked and fail closed: undone and rejected with a message that says
    /// why. A statement that fails by itself keeps its own error. A query string that ends or
    /// alters the wrapping transaction itself (`…; COMMIT`) escapes the wrapper: its results
    /// are passed on and [`RowCheckOutcome::Escaped`] is reported — so return `RowCheck` for
    /// single statements, which the classifier can tell.
    RowCheck {
        /// The most rows the statement may affect.
        max_rows: u64,
        /// What the client gets when it affects more.
        rejection: Rejection,
    },
    /// Stop relaying in both directions while holding the client connection open: the
    /// statement is not forwarded (messages before it are), nothing more reaches the server
    /// or the client, and the client sees a hang until its own timeout. The upstream connection is kept open but not
    /// read (as in a real partition, its locks stay held). After `duration` both connections
    /// are dropped; with `None` the session stays blackholed until the client closes its
    /// connection (bounded by [`MAX_BLACKHOLE`] and by proxy shutdown).
    Blackhole {
        /// How long before the session is dropped; `None` = until the client gives up.
        duration: Option<Duration>,
    },
}

/// Upper bound on a [`Verdict::Blackhole`] without a duration.
pub const MAX_BLACKHOLE: Duration = Duration::from_secs(3600);

impl Verdict {
    /// Refuse with `sqlstate` and `message`.
    pub fn reject(sqlstate: &str, message: impl Into<String>) -> Self {
        Self::Reject(Rejection::new(sqlstate, message))
    }

    /// Refuse as a policy block: SQLSTATE 42501.
    pub fn block(message: impl Into<String>) -> Self {
        Self::reject(sqlstate::INSUFFICIENT_PRIVILEGE, message)
    }

    /// Run with a row check; over `max_rows` the statement is undone and refused with
    /// SQLSTATE 42501 and `message`.
    pub fn row_check(max_rows: u64, message: impl Into<String>) -> Self {
        Self::RowCheck {
            max_rows,
            rejection: Rejection::new(sqlstate::INSUFFICIENT_PRIVILEGE, message),
        }
    }

    /// Blackhole the session for `duration` (`None`: until the client gives up).
    pub fn blackhole(duration: Option<Duration>) -> Self {
        Self::Blackhole { duration }
    }
}

/// The error a rejected statement gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Five-character SQLSTATE.
    pub sqlstate: String,
    /// Primary message (name the rule that fired).
    pub message: String,
    /// Optional detail line.
    pub detail: Option<String>,
    /// Optional hint line.
    pub hint: Option<String>,
}

impl Rejection {
    /// A rejection with `sqlstate` and `message`.
    pub fn new(sqlstate: &str, message: impl Into<String>) -> Self {
        Self {
            sqlstate: sqlstate.to_string(),
            message: message.into(),
            detail: None,
            hint: None,
        }
    }

    /// Add a detail line.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Add a hint line.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// This rejection for a row check that counted `rows` against `max_rows`: `{rows}` and
    /// `{max_rows}` are filled in, and a detail line says what happened if there is none.
    pub(crate) fn for_rows(&self, rows: Option<u64>, max_rows: u64, what: &str) -> Self {
        let rows_text = rows.map_or_else(|| "?".to_string(), |r| r.to_string());
        let fill = |s: &str| {
            s.replace("{rows}", &rows_text)
                .replace("{max_rows}", &max_rows.to_string())
        };
        let detail = self
            .detail
            .as_deref()
            .map(fill)
            .unwrap_or_else(|| match rows {
                Some(r) => format!("The statement affected {r} rows (limit {max_rows}); {what}."),
                None => format!("The row limit is {max_rows}; {what}."),
            });
        Self {
            sqlstate: self.sqlstate.clone(),
            message: fill(&self.message),
            detail: Some(detail),
            hint: self.hint.as_deref().map(fill),
        }
    }

    /// The ErrorResponse the client receives.
    pub fn to_error(&self) -> ErrorResponse {
        let mut e = ErrorResponse::error(&self.sqlstate, &self.message);
        if let Some(d) = &self.detail {
            e = e.with_detail(d);
        }
        if let Some(h) = &self.hint {
            e = e.with_hint(h);
        }
        e
    }
}

/// A result seen on its way back to the client.
#[derive(Debug)]
#[non_exhaustive]
pub enum BackendEvent<'a> {
    /// A statement completed (CommandComplete). For a multi-statement simple query this
    /// arrives once per statement, each with the whole query text.
    Completed {
        /// The statement text (simple query string or prepared statement) when known.
        statement: Option<&'a str>,
        /// The command tag; [`CommandComplete::rows`] gives rows affected.
        command: &'a CommandComplete,
        /// Time since the Query or Execute was forwarded.
        elapsed: Option<Duration>,
    },
    /// A statement failed (ErrorResponse), including the proxy's own rejections.
    Failed {
        /// The statement text when known.
        statement: Option<&'a str>,
        /// The error as the client receives it.
        error: &'a ErrorResponse,
        /// True when the error is the proxy's rejection rather than the server's.
        rejected: bool,
        /// Time since the Query or Execute was forwarded.
        elapsed: Option<Duration>,
    },
    /// A row-checked statement's count is known ([`Verdict::RowCheck`]). Sent once per
    /// checked execution, before its results or its rejection reach the client; an undone
    /// statement is also reported as [`BackendEvent::Failed`] with `rejected: true`.
    RowChecked {
        /// The statement text when known.
        statement: Option<&'a str>,
        /// Rows affected (the sum of the CommandComplete counts); `None` when the statement
        /// failed or could not be counted.
        rows: Option<u64>,
        /// The limit.
        max_rows: u64,
        /// What happened.
        outcome: RowCheckOutcome,
        /// Time since the statement was forwarded.
        elapsed: Option<Duration>,
    },
    /// The server is ready again (ReadyForQuery): the end of a simple query or a Sync batch.
    Ready {
        /// The transaction status now.
        status: TransactionStatus,
        /// Time since the Query or Sync was forwarded.
        elapsed: Option<Duration>,
    },
}

/// The result of a [`Verdict::RowCheck`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RowCheckOutcome {
    /// Within the limit: kept, and the client got the results.
    Within,
    /// Over the limit: undone, and the client got the rejection.
    Exceeded,
    /// The results were larger than the holdback limit: undone and refused (fail closed).
    HoldbackExceeded,
    /// `COPY … FROM STDIN` or an Execute with a row limit, which cannot be counted before the
    /// client sees rows: undone and refused (fail closed).
    Uncheckable,
    /// The statement failed by itself; the client got the server's error.
    Failed,
    /// The statement ended or altered the wrapping transaction itself (transaction control in
    /// the query), so it could not be undone; the client got its results.
    Escaped,
}

impl RowCheckOutcome {
    /// True when the statement was rolled back and the client got a rejection.
    pub fn undone(self) -> bool {
        matches!(
            self,
            Self::Exceeded | Self::HoldbackExceeded | Self::Uncheckable
        )
    }
}

/// Decides about statements and observes results. All methods default to "forward, ignore".
pub trait Interceptor: Send + Sync + 'static {
    /// A simple-protocol Query: `sql` is the whole string, possibly several statements.
    fn on_query(&self, sql: &str, session: &SessionInfo) -> impl Future<Output = Verdict> + Send {
        let _ = (sql, session);
        async { Verdict::Forward }
    }

    /// An extended-protocol Parse of `sql` under statement `name` ("" = unnamed). A rejected
    /// statement stays rejected: later Bind/Describe/Execute of it are refused too.
    fn on_parse(
        &self,
        name: &str,
        sql: &str,
        session: &SessionInfo,
    ) -> impl Future<Output = Verdict> + Send {
        let _ = (name, sql, session);
        async { Verdict::Forward }
    }

    /// A FunctionCall message (the legacy fast-path interface, `PQfn`) for the function with
    /// OID `oid`. It runs a function without any SQL text to inspect, so a policy should
    /// block it ([`Verdict::block`]); the default forwards it. [`Verdict::Reject`],
    /// [`Verdict::Disconnect`] and [`Verdict::Blackhole`] act as for a statement; a
    /// [`Verdict::RowCheck`] cannot apply and is treated as a rejection (fail closed).
    fn on_function_call(
        &self,
        oid: u32,
        session: &SessionInfo,
    ) -> impl Future<Output = Verdict> + Send {
        let _ = (oid, session);
        async { Verdict::Forward }
    }

    /// A result on its way to the client; the frame is forwarded when this returns, so an
    /// interceptor can slow responses down here (see the module docs).
    fn on_backend(
        &self,
        event: &BackendEvent<'_>,
        session: &SessionInfo,
    ) -> impl Future<Output = ()> + Send {
        let _ = (event, session);
        async {}
    }
}

/// Makes one [`Interceptor`] per session, after the client's StartupMessage.
pub trait InterceptorFactory: Send + Sync + 'static {
    /// The interceptor type.
    type Interceptor: Interceptor;

    /// The interceptor for a new session.
    fn session(&self, session: &SessionInfo) -> Self::Interceptor;
}

/// Any `Fn(&SessionInfo) -> I` is a factory.
impl<F, I> InterceptorFactory for F
where
    F: Fn(&SessionInfo) -> I + Send + Sync + 'static,
    I: Interceptor,
{
    type Interceptor = I;

    fn session(&self, session: &SessionInfo) -> I {
        self(session)
    }
}

/// Forward everything, observe nothing: the proxy as a plain relay.
#[derive(Debug, Clone, Copy, Default)]
pub struct PassThrough;

impl Interceptor for PassThrough {}

impl InterceptorFactory for PassThrough {
    type Interceptor = PassThrough;

    fn session(&self, _session: &SessionInfo) -> PassThrough {
        PassThrough
    }
}

/// One interceptor shared by all sessions.
impl<I: Interceptor> Interceptor for Arc<I> {
    fn on_query(&self, sql: &str, session: &SessionInfo) -> impl Future<Output = Verdict> + Send {
        (**self).on_query(sql, session)
    }

    fn on_parse(
        &self,
        name: &str,
        sql: &str,
        session: &SessionInfo,
    ) -> impl Future<Output = Verdict> + Send {
        (**self).on_parse(name, sql, session)
    }

    fn on_function_call(
        &self,
        oid: u32,
        session: &SessionInfo,
    ) -> impl Future<Output = Verdict> + Send {
        (**self).on_function_call(oid, session)
    }

    fn on_backend(
        &self,
        event: &BackendEvent<'_>,
        session: &SessionInfo,
    ) -> impl Future<Output = ()> + Send {
        (**self).on_backend(event, session)
    }
}
