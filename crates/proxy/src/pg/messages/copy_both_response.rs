//! CopyBothResponse: COPY data flows both ways (streaming replication).

use bytes::{Bytes, BytesMut};

use super::Message;
use super::copy_format::CopyFormat;
use super::tags::backend::COPY_BOTH_RESPONSE;
use super::wire::Reader;
use crate::pg::error::MessageError;

/// COPY data flows both ways (streaming replication).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopyBothResponse {
    /// Stream formats.
    pub format: CopyFormat,
}

impl Message for CopyBothResponse {
    const TAG: u8 = COPY_BOTH_RESPONSE;
    const NAME: &'static str = "CopyBothResponse";

    fn decode_body(body: Bytes) -> Result<Self, MessageError> {
        let mut r = Reader::new(body, Self::NAME);
        let format = CopyFormat::decode(&mut r)?;
        r.finish()?;
        Ok(Self { format })
    }

    fn encode_body(&self, out: &mut BytesMut) {
        self.format.encode(out);
    }
}
