//! Field-level reading and writing shared by the message files: a bounds-checked cursor over a
//! body that hands out zero-copy slices, and the matching writers.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::pg::error::MessageError;

/// A cursor over a message body. Every read is bounds-checked and reports the message name.
pub(crate) struct Reader {
    buf: Bytes,
    message: &'static str,
}

impl Reader {
    pub(crate) fn new(buf: Bytes, message: &'static str) -> Self {
        Self { buf, message }
    }

    fn need(&self, n: usize) -> Result<(), MessageError> {
        if self.buf.len() < n {
            Err(MessageError::Truncated {
                message: self.message,
                needed: n - self.buf.len(),
            })
        } else {
            Ok(())
        }
    }

    pub(crate) fn u8(&mut self) -> Result<u8, MessageError> {
        self.need(1)?;
        Ok(self.buf.get_u8())
    }

    pub(crate) fn i16(&mut self) -> Result<i16, MessageError> {
        self.need(2)?;
        Ok(self.buf.get_i16())
    }

    pub(crate) fn i32(&mut self) -> Result<i32, MessageError> {
        self.need(4)?;
        Ok(self.buf.get_i32())
    }

    pub(crate) fn u32(&mut self) -> Result<u32, MessageError> {
        self.need(4)?;
        Ok(self.buf.get_u32())
    }

    /// A count that must not be negative.
    pub(crate) fn count16(&mut self, field: &'static str) -> Result<usize, MessageError> {
        let n = self.i16()?;
        usize::try_from(n).map_err(|_| self.invalid(field, n.into()))
    }

    /// A NUL-terminated string, without its NUL.
    pub(crate) fn cstr(&mut self) -> Result<Bytes, MessageError> {
        let end = self
            .buf
            .iter()
            .position(|&b| b == 0)
            .ok_or(MessageError::Unterminated {
                message: self.message,
            })?;
        let s = self.buf.split_to(end);
        self.buf.advance(1);
        Ok(s)
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<Bytes, MessageError> {
        self.need(n)?;
        Ok(self.buf.split_to(n))
    }

    /// An `i32`-length-prefixed value where -1 means NULL.
    pub(crate) fn nullable(&mut self, field: &'static str) -> Result<Option<Bytes>, MessageError> {
        let len = self.i32()?;
        match len {
            -1 => Ok(None),
            n if n < 0 => Err(self.invalid(field, n.into())),
            n => self.bytes(n as usize).map(Some),
        }
    }

    /// Everything that is left.
    pub(crate) fn rest(&mut self) -> Bytes {
        self.buf.split_off(0)
    }

    pub(crate) fn invalid(&self, field: &'static str, value: i64) -> MessageError {
        MessageError::Invalid {
            message: self.message,
            field,
            value,
        }
    }

    /// Succeeds only if the whole body was consumed.
    pub(crate) fn finish(self) -> Result<(), MessageError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(MessageError::Trailing {
                message: self.message,
                extra: self.buf.len(),
            })
        }
    }
}

/// Write a string and its terminating NUL. Callers guarantee `s` holds no NUL.
pub(crate) fn put_cstr(out: &mut BytesMut, s: &[u8]) {
    out.put_slice(s);
    out.put_u8(0);
}

/// Write an `i32`-length-prefixed value, -1 for NULL.
pub(crate) fn put_nullable(out: &mut BytesMut, value: Option<&Bytes>) {
    match value {
        None => out.put_i32(-1),
        Some(v) => {
            out.put_i32(i32::try_from(v.len()).unwrap_or(i32::MAX));
            out.put_slice(v);
        }
    }
}

/// Write an `i16` count.
pub(crate) fn put_count16(out: &mut BytesMut, n: usize) {
    out.put_i16(i16::try_from(n).unwrap_or(i16::MAX));
}

/// A text field as `&str`, replacing invalid UTF-8 (the client encoding may not be UTF-8).
pub(crate) fn text(b: &Bytes) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}
