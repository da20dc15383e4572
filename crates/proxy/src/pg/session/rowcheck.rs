//! Row checks ([`Verdict::RowCheck`](crate::pg::Verdict::RowCheck)): the vocabulary the two
//! directions of a session share while one runs.
//!
//! The client side drives: it waits until the server has answered everything sent before
//! (so the transaction state is known), then sends the proxy's own wrapper statements
//! (`BEGIN` / `SAVEPOINT`), the client's statement, and the closing statements (`COMMIT`,
//! `RELEASE`, `ROLLBACK`, `ROLLBACK TO`), one step at a time. Before each step it queues a
//! [`Special`] in the exchange telling the server side what the answers will be:
//!
//! * [`Internal`] — the proxy's own statements: their answers are swallowed, except what the
//!   entry says to let through (an error, the final ReadyForQuery), and they may carry a
//!   [`Release`] of the held results.
//! * [`Held`] — the client's statement: every answer is held back until its count is known.
//!
//! The server side answers each step with a [`Report`], on which the client side decides the
//! next step. Nothing else is in flight meanwhile: the client side reads no further client
//! messages until the check is over (they wait in the socket, as they would at a busy server).

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use crate::pg::frame::Frame;
use crate::pg::interceptor::{Rejection, RowCheckOutcome};
use crate::pg::messages::{
    Bind, Close, ErrorResponse, Execute, Flush, Message, Parse, Query, Target,
};

/// The limit of a checked statement and what an over-limit execution gets.
#[derive(Debug)]
pub(crate) struct CheckSpec {
    pub(crate) max_rows: u64,
    pub(crate) rejection: Rejection,
}

impl CheckSpec {
    /// What the client gets when an execution is undone with `outcome`.
    pub(crate) fn rejection_for(
        &self,
        outcome: RowCheckOutcome,
        rows: Option<u64>,
        max_holdback: usize,
    ) -> Rejection {
        let reason = match outcome {
            RowCheckOutcome::HoldbackExceeded => format!(
                "its results exceeded the proxy's holdback limit of {max_holdback} bytes \
                 before the row count was known"
            ),
            RowCheckOutcome::Uncheckable => "COPY FROM STDIN and row-limited Executes \
                                             cannot be counted before the client sees rows"
                .to_string(),
            _ => {
                return self
                    .rejection
                    .for_rows(rows, self.max_rows, "it was undone");
            }
        };
        let rule = self.rejection.for_rows(rows, self.max_rows, "");
        Rejection {
            sqlstate: self.rejection.sqlstate.clone(),
            message: format!(
                "shakedown proxy: row check failed closed, statement undone: {reason}"
            ),
            detail: Some(format!("The row check was: {}", rule.message)),
            hint: None,
        }
    }
}

/// How the server side tells the client side what happened.
pub(crate) type Reporter = mpsc::Sender<Report>;

/// One step's result.
#[derive(Debug)]
pub(crate) enum Report {
    /// An [`Internal`] entry is done.
    Internal {
        /// The server's error, if one of the statements failed.
        error: Option<ErrorResponse>,
        /// Completions seen before the end (or the error).
        completions: u32,
        /// A `BEGIN` found a transaction already open (WARNING 25001): the block is the
        /// client's, not the proxy's.
        already_in_transaction: bool,
    },
    /// The held statement ended.
    Held {
        outcome: RowCheckOutcome,
        rows: Option<u64>,
        /// True when the server side already passed the results on (or replaced them); false
        /// when they wait for a [`Release`] on the closing statement.
        released: bool,
    },
    /// The held statement started `COPY … FROM STDIN`; the client side must send CopyFail.
    CopyIn,
    /// The ReadyForQuery of a Sync whose batch ran inside the proxy's block: `commit` when
    /// the block is still open and the client side must send `COMMIT` (the ReadyForQuery was
    /// swallowed).
    Fixup { commit: bool },
}

/// When an [`Internal`] entry is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Until {
    /// At ReadyForQuery (simple Query).
    Ready,
    /// After this many completions, or at the first error (extended commands).
    Completions(u32),
}

/// What reaches the client when an [`Internal`] entry is done.
#[derive(Debug)]
pub(crate) enum Release {
    /// The held results.
    Held,
    /// This error instead of them.
    Reject(Rejection),
}

/// What the client gets when one of the proxy's own statements fails.
#[derive(Debug)]
pub(crate) enum OnError {
    /// The server's error.
    Forward,
    /// This rejection (fail closed).
    Reject(Rejection),
}

/// What happens to an internal simple Query's ReadyForQuery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadyMode {
    Swallow,
    Forward,
    /// Forwarded only when the statement failed (the client's cycle ends there).
    OnError,
}

/// The proxy's own statements.
#[derive(Debug)]
pub(crate) struct Internal {
    /// The client's statement this step serves, for events.
    pub(crate) sql: Option<Arc<str>>,
    pub(crate) until: Until,
    pub(crate) release: Option<Release>,
    pub(crate) on_error: OnError,
    pub(crate) ready: ReadyMode,
    pub(crate) report: Reporter,
}

/// The client's checked statement.
#[derive(Debug)]
pub(crate) struct Held {
    /// A simple Query (held until ReadyForQuery) or an Execute (until its end).
    pub(crate) simple: bool,
    pub(crate) sql: Option<Arc<str>>,
    pub(crate) started: Instant,
    pub(crate) spec: Arc<CheckSpec>,
    /// The wrapping block is the proxy's own (`BEGIN`), not the client's.
    pub(crate) ours: bool,
    pub(crate) report: Reporter,
}

/// An entry of the exchange that is not a plain client message.
#[derive(Debug)]
pub(crate) enum Special {
    Internal(Internal),
    Held(Held),
}

impl Special {
    /// True when the server answers it with a ReadyForQuery (it is a cycle).
    pub(crate) fn is_cycle(&self) -> bool {
        match self {
            Self::Internal(i) => i.until == Until::Ready,
            Self::Held(h) => h.simple,
        }
    }
}

/// Builds the proxy's own statements. Extended-protocol commands use a statement and portal
/// name of the proxy's (never the unnamed ones, which belong to the client) and close both
/// after use, so the client's prepared statements and portals are untouched.
#[derive(Debug)]
pub(crate) struct Wrapper {
    name: String,
    savepoint: String,
}

/// The answers to one extended command: ParseComplete, BindComplete, CommandComplete and
/// two CloseCompletes.
const COMPLETIONS_PER_COMMAND: u32 = 5;

impl Wrapper {
    pub(crate) fn new(nonce: u64) -> Self {
        Self {
            name: format!("shakedown-rowcheck:{nonce:016x}"),
            savepoint: format!("\"shakedown_rowcheck_{nonce:016x}\""),
        }
    }

    pub(crate) fn savepoint(&self) -> String {
        format!("SAVEPOINT {}", self.savepoint)
    }

    pub(crate) fn release(&self) -> String {
        format!("RELEASE SAVEPOINT {}", self.savepoint)
    }

    pub(crate) fn rollback_to(&self) -> String {
        format!("ROLLBACK TO SAVEPOINT {}", self.savepoint)
    }

    /// `sql` as a simple Query.
    pub(crate) fn query(&self, sql: &str) -> Frame {
        Query::new(sql).to_frame()
    }

    /// Each statement as Parse/Bind/Execute/Close/Close, then a Flush so the server answers
    /// at once; returns the frames and how many completions they produce.
    pub(crate) fn commands(&self, sqls: &[String]) -> (Vec<Frame>, u32) {
        let mut frames = Vec::with_capacity(sqls.len() * 5 + 1);
        for sql in sqls {
            frames.push(Parse::new(&self.name, sql).to_frame());
            frames.push(Bind::new(&self.name, &self.name).to_frame());
            frames.push(Execute::new(&self.name).to_frame());
            for target in [Target::Portal, Target::Statement] {
                frames.push(
                    Close {
                        target,
                        name: bytes::Bytes::copy_from_slice(self.name.as_bytes()),
                    }
                    .to_frame(),
                );
            }
        }
        frames.push(Flush.to_frame());
        let n = u32::try_from(sqls.len()).unwrap_or(u32::MAX);
        (frames, n.saturating_mul(COMPLETIONS_PER_COMMAND))
    }
}

/// True for command tags of statements that end or reshape a transaction: a checked query
/// that ran one of these escaped the wrapper.
pub(crate) fn is_transaction_control(tag: &str) -> bool {
    const TAGS: &[&str] = &[
        "BEGIN",
        "START TRANSACTION",
        "COMMIT",
        "ROLLBACK",
        "SAVEPOINT",
        "RELEASE",
        "PREPARE TRANSACTION",
        "COMMIT PREPARED",
        "ROLLBACK PREPARED",
    ];
    TAGS.contains(&tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extended_commands_use_the_proxy_names_and_count_their_answers() {
        let w = Wrapper::new(0xab);
        let (frames, completions) = w.commands(&["BEGIN".into(), w.savepoint()]);
        let tags: String = frames.iter().map(|f| char::from(f.tag())).collect();
        assert_eq!(tags, "PBECCPBECCH");
        assert_eq!(completions, 10);
        let p = Parse::decode(&frames[5]).unwrap();
        assert_eq!(p.name_text(), "shakedown-rowcheck:00000000000000ab");
        assert_eq!(
            p.text(),
            "SAVEPOINT \"shakedown_rowcheck_00000000000000ab\""
        );
    }

    #[test]
    fn undone_statements_get_a_rejection_with_the_numbers() {
        let spec = CheckSpec {
            max_rows: 10,
            rejection: Rejection::new("42501", "too many rows: {rows} > {max_rows}"),
        };
        let r = spec.rejection_for(RowCheckOutcome::Exceeded, Some(25), 1024);
        assert_eq!(r.message, "too many rows: 25 > 10");
        assert_eq!(
            r.detail.as_deref(),
            Some("The statement affected 25 rows (limit 10); it was undone.")
        );
        let r = spec.rejection_for(RowCheckOutcome::HoldbackExceeded, Some(3), 1024);
        assert_eq!(r.sqlstate, "42501");
        assert!(r.message.contains("holdback limit of 1024 bytes"), "{r:?}");
        assert!(is_transaction_control("COMMIT"));
        assert!(!is_transaction_control("DELETE 3"));
    }
}
