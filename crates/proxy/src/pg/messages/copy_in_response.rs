//! CopyInResponse: The server is ready to receive COPY data from the client.

use bytes::{Bytes, BytesMut};

use super::Message;
use super::copy_format::CopyFormat;
use super::tags::backend::COPY_IN_RESPONSE;
use super::wire::Reader;
use crate::pg::error::MessageError;

/// The server is ready to receive COPY data from the client.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopyInResponse {
    /// Stream formats.
    pub format: CopyFormat,
}

impl Message for CopyInResponse {
    const TAG: u8 = COPY_IN_RESPONSE;
    const NAME: &'static str = "CopyInResponse";

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
