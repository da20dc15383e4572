//! ParameterStatus: the server reports a run-time parameter (server_version, client_encoding…).

use bytes::{Bytes, BytesMut};

use super::Message;
use super::tags::backend::PARAMETER_STATUS;
use super::wire::{Reader, put_cstr};
use crate::pg::error::MessageError;

/// A reported run-time parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterStatus {
    /// Parameter name.
    pub name: Bytes,
    /// Its current value.
    pub value: Bytes,
}

impl Message for ParameterStatus {
    const TAG: u8 = PARAMETER_STATUS;
    const NAME: &'static str = "ParameterStatus";

    fn decode_body(body: Bytes) -> Result<Self, MessageError> {
        let mut r = Reader::new(body, Self::NAME);
        let name = r.cstr()?;
        let value = r.cstr()?;
        r.finish()?;
        Ok(Self { name, value })
    }

    fn encode_body(&self, out: &mut BytesMut) {
        put_cstr(out, &self.name);
        put_cstr(out, &self.value);
    }
}
