//! Close: destroy a prepared statement or portal.

use bytes::{BufMut, Bytes, BytesMut};

use super::Message;
use super::describe::Target;
use super::tags::frontend::CLOSE;
use super::wire::{Reader, put_cstr};
use crate::pg::error::MessageError;

/// A request to close a statement or portal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Close {
    /// Statement or portal.
    pub target: Target,
    /// Its name; empty for the unnamed one.
    pub name: Bytes,
}

impl Message for Close {
    const TAG: u8 = CLOSE;
    const NAME: &'static str = "Close";

    fn decode_body(body: Bytes) -> Result<Self, MessageError> {
        let mut r = Reader::new(body, Self::NAME);
        let target = Target::decode(&mut r)?;
        let name = r.cstr()?;
        r.finish()?;
        Ok(Self { target, name })
    }

    fn encode_body(&self, out: &mut BytesMut) {
        out.put_u8(self.target.byte());
        put_cstr(out, &self.name);
    }
}
