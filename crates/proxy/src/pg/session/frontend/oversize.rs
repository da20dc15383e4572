//! A Query or Parse over the statement cap (but within the message cap): its bytes are
//! dropped as they arrive, never buffered whole, keeping only the first few for the Parse's
//! statement name; then that statement alone fails with 54000 and the session goes on.

use bytes::{Buf, Bytes, BytesMut};

use crate::pg::frame::Frame;
use crate::pg::interceptor::Rejection;
use crate::pg::messages::tags::frontend as tag;
use crate::pg::sqlstate;

/// Body bytes kept: enough for any statement name PostgreSQL keeps (63 bytes) and its NUL.
const PREFIX: usize = 256;

/// An oversized message being skipped.
#[derive(Debug)]
pub(super) struct Oversize {
    tag: u8,
    /// Declared body length and the cap it broke.
    len: usize,
    max: usize,
    /// Wire bytes still to drop (tag and length included).
    remaining: usize,
    prefix: Vec<u8>,
}

impl Oversize {
    /// A message tagged `tag` with a `len`-byte body, starting at the front of the buffer.
    pub(super) fn new(tag: u8, len: usize, max: usize) -> Self {
        Self {
            tag,
            len,
            max,
            remaining: len + Frame::HEADER_LEN,
            prefix: Vec::new(),
        }
    }

    /// Drop what `buf` holds of the message; true once all of it is gone.
    pub(super) fn consume(&mut self, buf: &mut BytesMut) -> bool {
        let n = buf.len().min(self.remaining);
        let skipped = self.len + Frame::HEADER_LEN - self.remaining;
        // Body bytes in this chunk that still belong to the kept prefix.
        let body_from = Frame::HEADER_LEN.saturating_sub(skipped);
        let keep_to = (Frame::HEADER_LEN + PREFIX).saturating_sub(skipped).min(n);
        if body_from < keep_to {
            self.prefix.extend_from_slice(&buf[body_from..keep_to]);
        }
        buf.advance(n);
        self.remaining -= n;
        self.remaining == 0
    }

    pub(super) fn is_parse(&self) -> bool {
        self.tag == tag::PARSE
    }

    /// The Parse's statement name, when its NUL came within the kept prefix.
    pub(super) fn statement_name(&self) -> Option<Bytes> {
        let end = self.prefix.iter().position(|&b| b == 0)?;
        Some(Bytes::copy_from_slice(&self.prefix[..end]))
    }

    /// What the client gets.
    pub(super) fn rejection(&self) -> Rejection {
        Rejection::new(
            sqlstate::PROGRAM_LIMIT_EXCEEDED,
            format!(
                "statement too large: {} bytes, limit {}",
                self.len, self.max
            ),
        )
        .with_hint("The shakedown proxy caps statement size before parsing.")
    }

    /// Stands for the statement text in events (the text itself was never read).
    pub(super) fn label(&self) -> String {
        format!(
            "<statement of {} bytes, not read: over the {}-byte limit>",
            self.len, self.max
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_exactly_the_message_across_chunks_and_keeps_the_name() {
        let mut wire = vec![b'P', 0, 0, 0, 0];
        wire.extend_from_slice(b"stmt_a\0");
        wire.extend(std::iter::repeat_n(b'x', 1000));
        wire.push(0);
        let len = wire.len() - 5;
        wire[1..5].copy_from_slice(&((len + 4) as u32).to_be_bytes());
        wire.extend_from_slice(b"S\0\0\0\x04");
        let mut over = Oversize::new(b'P', len, 100);
        let mut done = false;
        let mut buf = BytesMut::new();
        for chunk in wire.chunks(3) {
            buf.extend_from_slice(chunk);
            if !done {
                done = over.consume(&mut buf);
            }
        }
        assert!(done);
        assert_eq!(&buf[..], b"S\0\0\0\x04");
        assert_eq!(over.statement_name().as_deref(), Some(&b"stmt_a"[..]));
        assert!(over.is_parse());
        let r = over.rejection();
        assert_eq!(r.sqlstate, "54000");
        assert_eq!(
            r.message,
            format!("statement too large: {len} bytes, limit 100")
        );
    }
}
