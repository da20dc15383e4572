//! CopyFail: the client aborts a COPY FROM STDIN with a reason.

use bytes::{Bytes, BytesMut};

use super::Message;
use super::tags::frontend::COPY_FAIL;
use super::wire::{Reader, put_cstr};
use crate::pg::error::MessageError;

/// The client gives up on a COPY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyFail {
    /// Why.
    pub message: Bytes,
}

impl Message for CopyFail {
    const TAG: u8 = COPY_FAIL;
    const NAME: &'static str = "CopyFail";

    fn decode_body(body: Bytes) -> Result<Self, MessageError> {
        let mut r = Reader::new(body, Self::NAME);
        let message = r.cstr()?;
        r.finish()?;
        Ok(Self { message })
    }

    fn encode_body(&self, out: &mut BytesMut) {
        put_cstr(out, &self.message);
    }
}
