//! CopyData: one chunk of a COPY stream (sent by either side). Forwarded untouched; the type
//! exists for tests and synthesis.

use bytes::{BufMut, Bytes, BytesMut};

use super::Message;
use super::tags::frontend::COPY_DATA;
use crate::pg::error::MessageError;

/// One chunk of COPY data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyData {
    /// The chunk.
    pub data: Bytes,
}

impl Message for CopyData {
    const TAG: u8 = COPY_DATA;
    const NAME: &'static str = "CopyData";

    fn decode_body(body: Bytes) -> Result<Self, MessageError> {
        Ok(Self { data: body })
    }

    fn encode_body(&self, out: &mut BytesMut) {
        out.put_slice(&self.data);
    }
}
