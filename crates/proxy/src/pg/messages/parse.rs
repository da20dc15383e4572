//! Parse: the extended protocol's "prepare this statement under this name".

use std::borrow::Cow;

use bytes::{BufMut, Bytes, BytesMut};

use super::Message;
use super::tags::frontend::PARSE;
use super::wire::{Reader, put_count16, put_cstr, text};
use crate::pg::error::MessageError;

/// A request to prepare a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parse {
    /// Statement name; empty for the unnamed statement.
    pub name: Bytes,
    /// The statement text.
    pub sql: Bytes,
    /// Parameter type OIDs the client fixes (0 = let the server infer).
    pub param_types: Vec<u32>,
}

impl Parse {
    /// A Parse of `sql` under `name` with no fixed parameter types.
    pub fn new(name: impl AsRef<[u8]>, sql: impl AsRef<[u8]>) -> Self {
        Self {
            name: Bytes::copy_from_slice(name.as_ref()),
            sql: Bytes::copy_from_slice(sql.as_ref()),
            param_types: Vec::new(),
        }
    }

    /// The statement name as text.
    pub fn name_text(&self) -> Cow<'_, str> {
        text(&self.name)
    }

    /// The statement text; borrowed when valid UTF-8.
    pub fn text(&self) -> Cow<'_, str> {
        text(&self.sql)
    }
}

impl Message for Parse {
    const TAG: u8 = PARSE;
    const NAME: &'static str = "Parse";

    fn decode_body(body: Bytes) -> Result<Self, MessageError> {
        let mut r = Reader::new(body, Self::NAME);
        let name = r.cstr()?;
        let sql = r.cstr()?;
        let n = r.count16("parameter count")?;
        let param_types = (0..n).map(|_| r.u32()).collect::<Result<_, _>>()?;
        r.finish()?;
        Ok(Self {
            name,
            sql,
            param_types,
        })
    }

    fn encode_body(&self, out: &mut BytesMut) {
        put_cstr(out, &self.name);
        put_cstr(out, &self.sql);
        put_count16(out, self.param_types.len());
        for t in &self.param_types {
            out.put_u32(*t);
        }
    }
}
