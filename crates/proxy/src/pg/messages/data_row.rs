//! DataRow: one row of a result set. Forwarded untouched on the hot path.

use bytes::{Bytes, BytesMut};

use super::Message;
use super::tags::backend::DATA_ROW;
use super::wire::{Reader, put_count16, put_nullable};
use crate::pg::error::MessageError;

/// One result row; `None` is SQL NULL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataRow {
    /// Column values.
    pub values: Vec<Option<Bytes>>,
}

impl Message for DataRow {
    const TAG: u8 = DATA_ROW;
    const NAME: &'static str = "DataRow";

    fn decode_body(body: Bytes) -> Result<Self, MessageError> {
        let mut r = Reader::new(body, Self::NAME);
        let n = r.count16("column count")?;
        let values = (0..n)
            .map(|_| r.nullable("value length"))
            .collect::<Result<_, _>>()?;
        r.finish()?;
        Ok(Self { values })
    }

    fn encode_body(&self, out: &mut BytesMut) {
        put_count16(out, self.values.len());
        for v in &self.values {
            put_nullable(out, v.as_ref());
        }
    }
}
