//! The wire units. A [`Frame`] is one regular message kept as its raw bytes (tag, length,
//! body) so it can be forwarded without copying; a [`StartupFrame`] is one untagged
//! startup-phase packet (StartupMessage, SSLRequest, GSSENCRequest, CancelRequest).

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

/// One regular protocol message: tag byte, big-endian `i32` length (counting itself), body.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    raw: Bytes,
}

impl Frame {
    /// Bytes before the body: the tag and the length.
    pub const HEADER_LEN: usize = 5;

    /// Wrap bytes the codec has already validated (tag + correct length + body).
    pub(crate) fn from_raw(raw: Bytes) -> Self {
        debug_assert!(raw.len() >= Self::HEADER_LEN);
        Self { raw }
    }

    /// Build a frame by writing its body with `body`; the length is filled in afterwards.
    pub fn build(tag: u8, body: impl FnOnce(&mut BytesMut)) -> Self {
        let mut out = BytesMut::with_capacity(64);
        out.put_u8(tag);
        out.put_u32(0);
        body(&mut out);
        let len = u32::try_from(out.len() - 1).unwrap_or(u32::MAX);
        out[1..5].copy_from_slice(&len.to_be_bytes());
        Self { raw: out.freeze() }
    }

    /// The message type byte.
    pub fn tag(&self) -> u8 {
        self.raw[0]
    }

    /// The body (everything after the length), sharing the frame's memory.
    pub fn body(&self) -> Bytes {
        self.raw.slice(Self::HEADER_LEN..)
    }

    /// The whole frame as it travels on the wire.
    pub fn as_bytes(&self) -> &Bytes {
        &self.raw
    }

    /// The whole frame, for writing.
    pub fn into_bytes(self) -> Bytes {
        self.raw
    }

    /// Total length on the wire.
    pub fn wire_len(&self) -> usize {
        self.raw.len()
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Frame('{}', {} bytes)",
            char::from(self.tag()),
            self.raw.len()
        )
    }
}

/// One untagged startup-phase packet: `i32` length (counting itself), `i32` code, payload.
#[derive(Clone, PartialEq, Eq)]
pub struct StartupFrame {
    raw: Bytes,
}

impl StartupFrame {
    /// Bytes before the payload: the length and the code.
    pub const HEADER_LEN: usize = 8;

    pub(crate) fn from_raw(raw: Bytes) -> Self {
        debug_assert!(raw.len() >= Self::HEADER_LEN);
        Self { raw }
    }

    /// Build a packet with `code` whose payload is written by `payload`.
    pub fn build(code: u32, payload: impl FnOnce(&mut BytesMut)) -> Self {
        let mut out = BytesMut::with_capacity(64);
        out.put_u32(0);
        out.put_u32(code);
        payload(&mut out);
        let len = u32::try_from(out.len()).unwrap_or(u32::MAX);
        out[0..4].copy_from_slice(&len.to_be_bytes());
        Self { raw: out.freeze() }
    }

    /// The request code (protocol version for a StartupMessage, a magic number otherwise).
    pub fn code(&self) -> u32 {
        u32::from_be_bytes([self.raw[4], self.raw[5], self.raw[6], self.raw[7]])
    }

    /// The payload after the code.
    pub fn payload(&self) -> Bytes {
        self.raw.slice(Self::HEADER_LEN..)
    }

    /// The whole packet as it travels on the wire.
    pub fn as_bytes(&self) -> &Bytes {
        &self.raw
    }

    /// The whole packet, for writing.
    pub fn into_bytes(self) -> Bytes {
        self.raw
    }
}

impl fmt::Debug for StartupFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "StartupFrame(code {}, {} bytes)",
            self.code(),
            self.raw.len()
        )
    }
}
