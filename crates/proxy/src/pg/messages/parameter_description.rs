//! ParameterDescription: the parameter types of a described statement.

use bytes::{BufMut, Bytes, BytesMut};

use super::Message;
use super::tags::backend::PARAMETER_DESCRIPTION;
use super::wire::{Reader, put_count16};
use crate::pg::error::MessageError;

/// Parameter types of a statement.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParameterDescription {
    /// Type OIDs, in parameter order.
    pub types: Vec<u32>,
}

impl Message for ParameterDescription {
    const TAG: u8 = PARAMETER_DESCRIPTION;
    const NAME: &'static str = "ParameterDescription";

    fn decode_body(body: Bytes) -> Result<Self, MessageError> {
        let mut r = Reader::new(body, Self::NAME);
        let n = r.count16("parameter count")?;
        let types = (0..n).map(|_| r.u32()).collect::<Result<_, _>>()?;
        r.finish()?;
        Ok(Self { types })
    }

    fn encode_body(&self, out: &mut BytesMut) {
        put_count16(out, self.types.len());
        for t in &self.types {
            out.put_u32(*t);
        }
    }
}
