//! The body shared by CopyInResponse, CopyOutResponse and CopyBothResponse: overall format and
//! per-column formats.

use bytes::{BufMut, BytesMut};

use super::wire::{Reader, put_count16};
use crate::pg::error::MessageError;

/// Formats of a COPY stream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopyFormat {
    /// 0 textual, 1 binary.
    pub overall: i8,
    /// Per-column format codes.
    pub columns: Vec<i16>,
}

impl CopyFormat {
    pub(crate) fn decode(r: &mut Reader) -> Result<Self, MessageError> {
        let overall = r.u8()? as i8;
        let n = r.count16("column count")?;
        let columns = (0..n).map(|_| r.i16()).collect::<Result<_, _>>()?;
        Ok(Self { overall, columns })
    }

    pub(crate) fn encode(&self, out: &mut BytesMut) {
        out.put_i8(self.overall);
        put_count16(out, self.columns.len());
        for c in &self.columns {
            out.put_i16(*c);
        }
    }
}
