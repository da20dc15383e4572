//! How a rejection reaches the client in the right place and leaves the right state.
//!
//! The proxy does not answer a rejected message itself: responses to earlier pipelined
//! messages may still be on their way, and the server's transaction must fail exactly as it
//! would for a real error (an error inside `BEGIN … ` aborts the block; an error inside an
//! extended batch rolls back the batch's implicit transaction and skips to Sync). So the
//! rejected message is *substituted* by one that fails at the server with no side effect:
//!
//! * Query / Parse  → `SELECT FROM "<marker>"`  (42P01, no such relation, at parse analysis);
//! * Bind           → Bind from statement `<marker>` (26000, no such prepared statement);
//! * Describe       → Describe of `<marker>` (26000 / 34000);
//! * Execute        → Execute of portal `<marker>` (34000, no such portal).
//!
//! Every such server error quotes the marker, so on the way back the proxy recognises it and
//! replaces the frame with the rejection's own ErrorResponse. ReadyForQuery then comes from
//! the server with the true transaction status ('I' stays 'I', 'T' becomes 'E' like any error,
//! 'E' stays 'E'). A marker carries a random per-session nonce, so a client cannot forge one.
//!
//! In a block that is already failed ('E') the server answers 25P02 before it looks at the
//! substitute; the client then sees that error, exactly as it would without the proxy.

use bytes::Bytes;

use crate::pg::frame::Frame;
use crate::pg::messages::{Bind, Describe, Execute, Message, Parse, Query, Target};

const PREFIX: &str = "shakedown-reject:";

/// Makes and recognises the markers of one session.
#[derive(Debug)]
pub(crate) struct Markers {
    /// `shakedown-reject:<nonce>:`; at most 34 bytes so a full marker stays under
    /// PostgreSQL's 63-byte identifier limit (longer names would be truncated with a notice).
    prefix: String,
}

impl Markers {
    pub(crate) fn new(nonce: u64) -> Self {
        Self {
            prefix: format!("{PREFIX}{nonce:016x}:"),
        }
    }

    /// The marker for rejection `id`.
    pub(crate) fn marker(&self, id: u64) -> String {
        format!("{}{id}", self.prefix)
    }

    /// The rejection id quoted in a server error message, if any.
    pub(crate) fn find(&self, message: &str) -> Option<u64> {
        let at = message.find(&self.prefix)? + self.prefix.len();
        let digits: &str = &message[at..];
        let end = digits
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(digits.len());
        digits[..end].parse().ok()
    }

    /// A statement that fails at parse analysis, quoting the marker.
    fn failing_sql(&self, id: u64) -> String {
        format!("SELECT FROM \"{}\"", self.marker(id))
    }

    pub(crate) fn query(&self, id: u64) -> Frame {
        Query::new(self.failing_sql(id)).to_frame()
    }

    /// Prepared under the marker's own name, so an existing statement of the client's name
    /// cannot turn the failure into a different one (42P05).
    pub(crate) fn parse(&self, id: u64) -> Frame {
        Parse::new(self.marker(id), self.failing_sql(id)).to_frame()
    }

    pub(crate) fn bind(&self, portal: Bytes, id: u64) -> Frame {
        Bind {
            portal,
            ..Bind::new("", self.marker(id))
        }
        .to_frame()
    }

    pub(crate) fn describe(&self, target: Target, id: u64) -> Frame {
        Describe {
            target,
            name: Bytes::from(self.marker(id)),
        }
        .to_frame()
    }

    pub(crate) fn execute(&self, id: u64) -> Frame {
        Execute::new(self.marker(id)).to_frame()
    }
}

#[cfg(test)]
mod tests {
    use super::Markers;

    #[test]
    fn markers_are_found_only_with_the_session_nonce() {
        let m = Markers::new(0xfeed);
        let msg = format!("relation \"{}\" does not exist", m.marker(17));
        assert_eq!(m.find(&msg), Some(17));
        assert_eq!(Markers::new(0xbeef).find(&msg), None);
        assert!(m.marker(u64::MAX).len() <= 63);
    }
}
