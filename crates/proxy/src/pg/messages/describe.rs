//! Describe: ask for the parameter and row shape of a statement or portal.

use bytes::{BufMut, Bytes, BytesMut};

use super::Message;
use super::tags::frontend::DESCRIBE;
use super::wire::{Reader, put_cstr};
use crate::pg::error::MessageError;

/// What a Describe or Close refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// A prepared statement (`S`).
    Statement,
    /// A portal (`P`).
    Portal,
}

impl Target {
    pub(crate) fn decode(r: &mut Reader) -> Result<Self, MessageError> {
        match r.u8()? {
            b'S' => Ok(Self::Statement),
            b'P' => Ok(Self::Portal),
            other => Err(r.invalid("target", other.into())),
        }
    }

    pub(crate) fn byte(self) -> u8 {
        match self {
            Self::Statement => b'S',
            Self::Portal => b'P',
        }
    }
}

/// A request to describe a statement or portal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Describe {
    /// Statement or portal.
    pub target: Target,
    /// Its name; empty for the unnamed one.
    pub name: Bytes,
}

impl Message for Describe {
    const TAG: u8 = DESCRIBE;
    const NAME: &'static str = "Describe";

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
