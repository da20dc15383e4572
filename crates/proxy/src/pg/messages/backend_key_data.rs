//! BackendKeyData: the process id and secret key a client needs to cancel its queries.

use bytes::{BufMut, Bytes, BytesMut};

use super::Message;
use super::tags::backend::BACKEND_KEY_DATA;
use super::wire::Reader;
use crate::pg::error::MessageError;

/// The cancellation key of a session (secret is 4 bytes in protocol 3.0, longer in 3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendKeyData {
    /// Backend process id.
    pub pid: i32,
    /// Secret key.
    pub secret: Bytes,
}

impl Message for BackendKeyData {
    const TAG: u8 = BACKEND_KEY_DATA;
    const NAME: &'static str = "BackendKeyData";

    fn decode_body(body: Bytes) -> Result<Self, MessageError> {
        let mut r = Reader::new(body, Self::NAME);
        let pid = r.i32()?;
        let secret = r.rest();
        if secret.is_empty() {
            return Err(MessageError::Truncated {
                message: Self::NAME,
                needed: 4,
            });
        }
        Ok(Self { pid, secret })
    }

    fn encode_body(&self, out: &mut BytesMut) {
        out.put_i32(self.pid);
        out.put_slice(&self.secret);
    }
}
