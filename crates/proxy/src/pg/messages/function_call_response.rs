//! FunctionCallResponse: the result of a FunctionCall.

use bytes::{Bytes, BytesMut};

use super::Message;
use super::tags::backend::FUNCTION_CALL_RESPONSE;
use super::wire::{Reader, put_nullable};
use crate::pg::error::MessageError;

/// A function's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionCallResponse {
    /// The value; `None` is SQL NULL.
    pub value: Option<Bytes>,
}

impl Message for FunctionCallResponse {
    const TAG: u8 = FUNCTION_CALL_RESPONSE;
    const NAME: &'static str = "FunctionCallResponse";

    fn decode_body(body: Bytes) -> Result<Self, MessageError> {
        let mut r = Reader::new(body, Self::NAME);
        let value = r.nullable("value length")?;
        r.finish()?;
        Ok(Self { value })
    }

    fn encode_body(&self, out: &mut BytesMut) {
        put_nullable(out, self.value.as_ref());
    }
}
