//! Framing over a `BytesMut` read buffer: find where the next message ends, validate its
//! length, and split it off without copying. Lengths are checked *before* any body is
//! buffered, so a hostile length cannot make the proxy allocate more than the limits allow.

use bytes::BytesMut;

use super::error::FrameError;
use super::frame::{Frame, StartupFrame};
use super::messages::tags;

/// Which way the bytes travel; only client messages can carry statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client to server.
    Frontend,
    /// Server to client.
    Backend,
}

/// Size limits applied while framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLimits {
    /// Largest message of any kind, tag excluded (PostgreSQL's own ceiling is 1 GiB).
    pub max_message: usize,
    /// Largest Query or Parse message: the statement cap, applied before anything parses SQL.
    /// A larger one (up to `max_message`) fails alone with 54000 while its bytes are skipped
    /// unread, and the session goes on; beyond `max_message` the session is closed.
    pub max_statement: usize,
    /// Largest startup-phase packet (PostgreSQL's `MAX_STARTUP_PACKET_LENGTH` is 10000).
    pub max_startup: usize,
}

impl Default for FrameLimits {
    fn default() -> Self {
        Self {
            max_message: 1 << 30,
            max_statement: 16 << 20,
            max_startup: 10_000,
        }
    }
}

impl FrameLimits {
    fn max_for(&self, direction: Direction, tag: u8) -> usize {
        let statement = matches!(tag, tags::frontend::QUERY | tags::frontend::PARSE);
        if direction == Direction::Frontend && statement {
            self.max_statement.min(self.max_message)
        } else {
            self.max_message
        }
    }
}

/// The wire length of the regular message at the start of `buf`, once all of it is buffered.
///
/// `Ok(None)` means more bytes are needed. The header is validated as soon as it is complete.
pub fn peek_frame(
    buf: &[u8],
    direction: Direction,
    limits: &FrameLimits,
) -> Result<Option<usize>, FrameError> {
    if buf.len() < Frame::HEADER_LEN {
        return Ok(None);
    }
    let tag = buf[0];
    let len = i32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]);
    if len < 4 {
        return Err(FrameError::LengthTooSmall { tag, len });
    }
    let len = len as usize;
    let max = limits.max_for(direction, tag);
    if len - 4 > max {
        let statement = max == limits.max_statement && max < limits.max_message;
        return Err(if statement {
            FrameError::StatementTooLarge { len: len - 4, max }
        } else {
            FrameError::TooLarge { tag, len, max }
        });
    }
    let total = len + 1;
    Ok((buf.len() >= total).then_some(total))
}

/// Split the next complete regular message off `buf`, if there is one.
pub fn decode_frame(
    buf: &mut BytesMut,
    direction: Direction,
    limits: &FrameLimits,
) -> Result<Option<Frame>, FrameError> {
    Ok(peek_frame(buf, direction, limits)?.map(|n| Frame::from_raw(buf.split_to(n).freeze())))
}

/// The wire length of the startup-phase packet at the start of `buf`, once all of it is
/// buffered.
pub fn peek_startup(buf: &[u8], limits: &FrameLimits) -> Result<Option<usize>, FrameError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if len < StartupFrame::HEADER_LEN as i32 {
        return Err(FrameError::StartupTooSmall { len });
    }
    let len = len as usize;
    if len > limits.max_startup {
        return Err(FrameError::StartupTooLarge {
            len,
            max: limits.max_startup,
        });
    }
    Ok((buf.len() >= len).then_some(len))
}

/// Split the next complete startup-phase packet off `buf`, if there is one.
pub fn decode_startup(
    buf: &mut BytesMut,
    limits: &FrameLimits,
) -> Result<Option<StartupFrame>, FrameError> {
    Ok(peek_startup(buf, limits)?.map(|n| StartupFrame::from_raw(buf.split_to(n).freeze())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> FrameLimits {
        FrameLimits {
            max_message: 1000,
            max_statement: 100,
            max_startup: 10_000,
        }
    }

    #[test]
    fn waits_for_the_whole_message_then_splits_it() {
        let mut buf = BytesMut::from(&b"Q\0\0\0\x09SEL"[..]);
        assert_eq!(
            decode_frame(&mut buf, Direction::Frontend, &limits()),
            Ok(None)
        );
        buf.extend_from_slice(b"1\0Sx");
        let frame = decode_frame(&mut buf, Direction::Frontend, &limits())
            .unwrap()
            .unwrap();
        assert_eq!(frame.tag(), b'Q');
        assert_eq!(&frame.body()[..], b"SEL1\0");
        assert_eq!(&buf[..], b"Sx");
    }

    #[test]
    fn rejects_lengths_below_four_and_above_the_limits() {
        let err = peek_frame(b"Q\0\0\0\x03", Direction::Frontend, &limits());
        assert_eq!(err, Err(FrameError::LengthTooSmall { tag: b'Q', len: 3 }));
        let err = peek_frame(b"Q\xff\xff\xff\xff", Direction::Frontend, &limits());
        assert_eq!(err, Err(FrameError::LengthTooSmall { tag: b'Q', len: -1 }));
        // 105 bytes of SQL: over the statement cap but under the message cap.
        let err = peek_frame(b"Q\0\0\0\x6d", Direction::Frontend, &limits());
        assert_eq!(
            err,
            Err(FrameError::StatementTooLarge { len: 105, max: 100 })
        );
        // The same size is fine for data and for the backend.
        assert_eq!(
            peek_frame(b"d\0\0\0\x6d", Direction::Frontend, &limits()),
            Ok(None)
        );
        assert_eq!(
            peek_frame(b"Q\0\0\0\x6d", Direction::Backend, &limits()),
            Ok(None)
        );
        let err = peek_frame(b"D\0\0\x10\0", Direction::Backend, &limits());
        assert!(matches!(err, Err(FrameError::TooLarge { tag: b'D', .. })));
    }

    #[test]
    fn startup_packets_are_bounded() {
        assert_eq!(
            peek_startup(b"\0\0\0\x07", &limits()),
            Err(FrameError::StartupTooSmall { len: 7 })
        );
        assert!(matches!(
            peek_startup(b"GET / HTTP/1.1", &limits()),
            Err(FrameError::StartupTooLarge { .. })
        ));
        let mut buf = BytesMut::from(&b"\0\0\0\x08\x04\xd2\x16\x2f"[..]);
        let ssl = decode_startup(&mut buf, &limits()).unwrap().unwrap();
        assert_eq!(ssl.code(), 80_877_103);
        assert!(buf.is_empty());
    }
}
