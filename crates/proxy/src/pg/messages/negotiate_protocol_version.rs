//! NegotiateProtocolVersion: the server supports an older minor version than requested or
//! did not recognise some `_pq_.` startup options.

use bytes::{BufMut, Bytes, BytesMut};

use super::Message;
use super::tags::backend::NEGOTIATE_PROTOCOL_VERSION;
use super::wire::{Reader, put_cstr};
use crate::pg::error::MessageError;

/// The server's counter-offer on protocol version and options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiateProtocolVersion {
    /// Newest minor version the server supports.
    pub newest_minor: i32,
    /// Startup options it did not recognise.
    pub unrecognized: Vec<Bytes>,
}

impl Message for NegotiateProtocolVersion {
    const TAG: u8 = NEGOTIATE_PROTOCOL_VERSION;
    const NAME: &'static str = "NegotiateProtocolVersion";

    fn decode_body(body: Bytes) -> Result<Self, MessageError> {
        let mut r = Reader::new(body, Self::NAME);
        let newest_minor = r.i32()?;
        let n = r.i32()?;
        let n = usize::try_from(n).map_err(|_| r.invalid("option count", n.into()))?;
        let mut unrecognized = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            unrecognized.push(r.cstr()?);
        }
        r.finish()?;
        Ok(Self {
            newest_minor,
            unrecognized,
        })
    }

    fn encode_body(&self, out: &mut BytesMut) {
        out.put_i32(self.newest_minor);
        out.put_i32(i32::try_from(self.unrecognized.len()).unwrap_or(i32::MAX));
        for o in &self.unrecognized {
            put_cstr(out, o);
        }
    }
}
