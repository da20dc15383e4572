//! Observations the proxy publishes for the integration layer to turn into Shakedown events:
//! sessions starting and ending, statements seen and their verdicts, results with rows and
//! latency, cancel requests, protocol faults.
//!
//! Events go to a bounded channel and the proxy *waits* when it is full: evidence is never
//! dropped, and a slow consumer slows the proxy instead — so whoever passes a sender must keep
//! draining the receiver (a task writing JSON lines, say). A closed receiver is ignored.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::error::Side;
use super::interceptor::RowCheckOutcome;

/// Which protocol carried a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// A Query message.
    Simple,
    /// A Parse message.
    Extended,
    /// A FunctionCall message (`sql` is `function <oid>`).
    FunctionCall,
}

/// What the proxy did with a statement.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum StatementAction {
    /// Sent to the server.
    Forwarded,
    /// Refused with this error.
    Rejected { sqlstate: String, message: String },
    /// The session was cut.
    Disconnected,
    /// Forwarded under a row check (the result comes as [`ProxyEvent::RowChecked`]).
    RowChecked { max_rows: u64 },
    /// The session was blackholed at this statement.
    Blackholed { duration: Option<Duration> },
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum EndReason {
    /// The client closed the connection.
    ClientClosed,
    /// The server closed the connection.
    ServerClosed,
    /// Authentication failed; the server's error was relayed to the client.
    AuthFailed { sqlstate: String, message: String },
    /// The interceptor asked for a disconnect.
    Disconnected,
    /// The interceptor blackholed the session; it ended when the blackhole's time was up or,
    /// with `client_closed`, when the client gave up first.
    Blackholed { client_closed: bool },
    /// The proxy is shutting down.
    Shutdown,
    /// An error; `side` says whose fault.
    Error { side: Side, error: String },
}

/// One observation.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProxyEvent {
    /// A client authenticated and the session is ready.
    SessionStarted {
        session: u64,
        peer: SocketAddr,
        user: Option<String>,
        database: Option<String>,
        backend_pid: i32,
    },
    /// A session ended (sent for every session that got a StartupMessage).
    SessionEnded {
        session: u64,
        #[serde(flatten)]
        reason: EndReason,
        duration: Duration,
    },
    /// A statement was received and decided on.
    Statement {
        session: u64,
        protocol: Protocol,
        /// Statement name for Parse ("" = unnamed); `None` for Query.
        name: Option<String>,
        sql: Arc<str>,
        #[serde(flatten)]
        action: StatementAction,
    },
    /// A statement completed.
    Completed {
        session: u64,
        sql: Option<Arc<str>>,
        tag: String,
        rows: Option<u64>,
        elapsed: Option<Duration>,
    },
    /// A row-checked statement's count is known (see `Verdict::RowCheck`). An undone
    /// statement (`outcome.undone()`) is also reported as `Failed` with `rejected: true`:
    /// together they make a `sql_blocked` with the rows it would have affected.
    RowChecked {
        session: u64,
        sql: Option<Arc<str>>,
        rows: Option<u64>,
        max_rows: u64,
        outcome: RowCheckOutcome,
        elapsed: Option<Duration>,
    },
    /// A statement failed (server error or the proxy's rejection).
    Failed {
        session: u64,
        sql: Option<Arc<str>>,
        sqlstate: String,
        message: String,
        rejected: bool,
        elapsed: Option<Duration>,
    },
    /// A CancelRequest for a known session was forwarded to its upstream.
    CancelForwarded { backend_pid: i32 },
    /// A CancelRequest matched no live session and was dropped.
    CancelUnknown { backend_pid: i32 },
    /// A connection was closed before a session began (malformed startup, timeout…).
    ConnectionRejected { peer: SocketAddr, error: String },
}

/// Where events go; cheap to clone. A sink without a channel discards.
#[derive(Debug, Clone, Default)]
pub struct EventSink {
    tx: Option<mpsc::Sender<ProxyEvent>>,
}

impl EventSink {
    /// A sink feeding `tx`.
    pub fn new(tx: mpsc::Sender<ProxyEvent>) -> Self {
        Self { tx: Some(tx) }
    }

    /// True when somebody listens (lets callers skip building events).
    pub fn enabled(&self) -> bool {
        self.tx.as_ref().is_some_and(|t| !t.is_closed())
    }

    /// Publish, waiting for room.
    pub async fn emit(&self, event: ProxyEvent) {
        if let Some(tx) = &self.tx {
            // A dropped receiver means nobody wants events any more; not an error.
            let _ = tx.send(event).await;
        }
    }
}
