//! `simulate_timeout`: statements fail with SQLSTATE 57014 and the message PostgreSQL sends
//! when `statement_timeout` cancels a statement. Without a duration it is one-shot: the next
//! statement (of any session) fails and the action is consumed; with one, every statement
//! fails while it lasts.

use crate::pg::interceptor::Rejection;
use crate::pg::sqlstate;

/// An active `simulate_timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timeout {
    /// Consumed by the first statement it hits.
    pub(crate) once: bool,
}

/// What the client receives.
pub(crate) fn rejection() -> Rejection {
    Rejection::new(
        sqlstate::QUERY_CANCELED,
        "canceling statement due to statement timeout",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_like_statement_timeout() {
        let r = rejection();
        assert_eq!(r.sqlstate, "57014");
        assert_eq!(r.message, "canceling statement due to statement timeout");
    }
}
