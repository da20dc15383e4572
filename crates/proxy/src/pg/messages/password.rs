//! PasswordMessage and its siblings (SASLInitialResponse, SASLResponse, GSSResponse) share the
//! tag `p` and are told apart only by the authentication step. The proxy never looks inside:
//! authentication passes through untouched, which is why trust, md5 and SCRAM all work.

use bytes::{BufMut, Bytes, BytesMut};

use super::Message;
use super::tags::frontend::PASSWORD;
use crate::pg::error::MessageError;

/// An authentication response, kept opaque.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordMessage {
    /// The body as sent.
    pub body: Bytes,
}

impl Message for PasswordMessage {
    const TAG: u8 = PASSWORD;
    const NAME: &'static str = "PasswordMessage";

    fn decode_body(body: Bytes) -> Result<Self, MessageError> {
        Ok(Self { body })
    }

    fn encode_body(&self, out: &mut BytesMut) {
        out.put_slice(&self.body);
    }
}
