//! Bind: create a portal from a prepared statement and parameter values.

use bytes::{BufMut, Bytes, BytesMut};

use super::Message;
use super::tags::frontend::BIND;
use super::wire::{Reader, put_count16, put_cstr, put_nullable};
use crate::pg::error::MessageError;

/// A request to bind parameters to a prepared statement, creating a portal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    /// Destination portal; empty for the unnamed portal.
    pub portal: Bytes,
    /// Source statement; empty for the unnamed statement.
    pub statement: Bytes,
    /// Parameter format codes (0 text, 1 binary).
    pub param_formats: Vec<i16>,
    /// Parameter values; `None` is SQL NULL.
    pub params: Vec<Option<Bytes>>,
    /// Result column format codes.
    pub result_formats: Vec<i16>,
}

impl Bind {
    /// A Bind with no parameters and default formats.
    pub fn new(portal: impl AsRef<[u8]>, statement: impl AsRef<[u8]>) -> Self {
        Self {
            portal: Bytes::copy_from_slice(portal.as_ref()),
            statement: Bytes::copy_from_slice(statement.as_ref()),
            param_formats: Vec::new(),
            params: Vec::new(),
            result_formats: Vec::new(),
        }
    }

    /// Only the portal and statement names: what the proxy needs on the hot path, without
    /// walking the parameter values.
    pub fn names(body: Bytes) -> Result<(Bytes, Bytes), MessageError> {
        let mut r = Reader::new(body, Self::NAME);
        Ok((r.cstr()?, r.cstr()?))
    }
}

fn formats(r: &mut Reader) -> Result<Vec<i16>, MessageError> {
    let n = r.count16("format count")?;
    (0..n).map(|_| r.i16()).collect()
}

impl Message for Bind {
    const TAG: u8 = BIND;
    const NAME: &'static str = "Bind";

    fn decode_body(body: Bytes) -> Result<Self, MessageError> {
        let mut r = Reader::new(body, Self::NAME);
        let portal = r.cstr()?;
        let statement = r.cstr()?;
        let param_formats = formats(&mut r)?;
        let n = r.count16("parameter count")?;
        let params = (0..n)
            .map(|_| r.nullable("parameter length"))
            .collect::<Result<_, _>>()?;
        let result_formats = formats(&mut r)?;
        r.finish()?;
        Ok(Self {
            portal,
            statement,
            param_formats,
            params,
            result_formats,
        })
    }

    fn encode_body(&self, out: &mut BytesMut) {
        put_cstr(out, &self.portal);
        put_cstr(out, &self.statement);
        put_count16(out, self.param_formats.len());
        for f in &self.param_formats {
            out.put_i16(*f);
        }
        put_count16(out, self.params.len());
        for p in &self.params {
            put_nullable(out, p.as_ref());
        }
        put_count16(out, self.result_formats.len());
        for f in &self.result_formats {
            out.put_i16(*f);
        }
    }
}
