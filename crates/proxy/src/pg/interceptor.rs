//! The interception seam. Policy and chaos live outside this crate; the proxy asks an
//! [`Interceptor`] about every statement before forwarding it and tells it about every result.
//!
//! Methods are async so an interceptor can delay (latency chaos), consult a store, or wait on
//! a lock; the session waits for the answer. One interceptor is made per session by an
//! [`InterceptorFactory`], so per-session state needs no locking across sessions.

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
}

impl Verdict {
    /// Refuse with `sqlstate` and `message`.
    pub fn reject(sqlstate: &str, message: impl Into<String>) -> Self {
        Self::Reject(Rejection::new(sqlstate, message))
    }

    /// Refuse as a policy block: SQLSTATE 42501.
    pub fn block(message: impl Into<String>) -> Self {
        Self::reject(sqlstate::INSUFFICIENT_PRIVILEGE, message)
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
    /// The server is ready again (ReadyForQuery): the end of a simple query or a Sync batch.
    Ready {
        /// The transaction status now.
        status: TransactionStatus,
        /// Time since the Query or Sync was forwarded.
        elapsed: Option<Duration>,
    },
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

    /// A result on its way to the client; the frame is forwarded when this returns, so an
    /// interceptor can slow responses down here.
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

    fn on_backend(
        &self,
        event: &BackendEvent<'_>,
        session: &SessionInfo,
    ) -> impl Future<Output = ()> + Send {
        (**self).on_backend(event, session)
    }
}
