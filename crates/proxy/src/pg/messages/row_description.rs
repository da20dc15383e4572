//! RowDescription: the columns of the rows that follow.

use bytes::{BufMut, Bytes, BytesMut};

use super::Message;
use super::tags::backend::ROW_DESCRIPTION;
use super::wire::{Reader, put_count16, put_cstr};
use crate::pg::error::MessageError;

/// One column of a RowDescription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDescription {
    /// Column name.
    pub name: Bytes,
    /// OID of the source table, or 0.
    pub table_oid: u32,
    /// Attribute number in the source table, or 0.
    pub column: i16,
    /// Data type OID.
    pub type_oid: u32,
    /// Type size (negative for variable width).
    pub type_size: i16,
    /// Type modifier.
    pub type_modifier: i32,
    /// Format code (0 text, 1 binary).
    pub format: i16,
}

/// The shape of a result set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowDescription {
    /// The columns, in order.
    pub fields: Vec<FieldDescription>,
}

impl Message for RowDescription {
    const TAG: u8 = ROW_DESCRIPTION;
    const NAME: &'static str = "RowDescription";

    fn decode_body(body: Bytes) -> Result<Self, MessageError> {
        let mut r = Reader::new(body, Self::NAME);
        let n = r.count16("field count")?;
        let mut fields = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            fields.push(FieldDescription {
                name: r.cstr()?,
                table_oid: r.u32()?,
                column: r.i16()?,
                type_oid: r.u32()?,
                type_size: r.i16()?,
                type_modifier: r.i32()?,
                format: r.i16()?,
            });
        }
        r.finish()?;
        Ok(Self { fields })
    }

    fn encode_body(&self, out: &mut BytesMut) {
        put_count16(out, self.fields.len());
        for f in &self.fields {
            put_cstr(out, &f.name);
            out.put_u32(f.table_oid);
            out.put_i16(f.column);
            out.put_u32(f.type_oid);
            out.put_i16(f.type_size);
            out.put_i32(f.type_modifier);
            out.put_i16(f.format);
        }
    }
}
