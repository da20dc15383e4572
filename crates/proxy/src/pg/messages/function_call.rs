//! FunctionCall: the legacy fast-path interface (`PQfn`) — call a function by OID with
//! arguments, no SQL text involved.

use bytes::{BufMut, Bytes, BytesMut};

use super::Message;
use super::tags::frontend::FUNCTION_CALL;
use super::wire::{Reader, put_count16, put_nullable};
use crate::pg::error::MessageError;

/// A request to call a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionCall {
    /// The function's OID.
    pub oid: u32,
    /// Argument format codes (0 text, 1 binary).
    pub arg_formats: Vec<i16>,
    /// Argument values; `None` is SQL NULL.
    pub args: Vec<Option<Bytes>>,
    /// The result's format code.
    pub result_format: i16,
}

impl FunctionCall {
    /// A call of `oid` with text arguments and a text result.
    pub fn new(oid: u32, args: Vec<Option<Bytes>>) -> Self {
        Self {
            oid,
            arg_formats: Vec::new(),
            args,
            result_format: 0,
        }
    }

    /// Only the OID: what the proxy needs, without walking the arguments.
    pub fn oid(body: Bytes) -> Result<u32, MessageError> {
        Reader::new(body, Self::NAME).u32()
    }
}

impl Message for FunctionCall {
    const TAG: u8 = FUNCTION_CALL;
    const NAME: &'static str = "FunctionCall";

    fn decode_body(body: Bytes) -> Result<Self, MessageError> {
        let mut r = Reader::new(body, Self::NAME);
        let oid = r.u32()?;
        let n = r.count16("format count")?;
        let arg_formats = (0..n).map(|_| r.i16()).collect::<Result<_, _>>()?;
        let n = r.count16("argument count")?;
        let args = (0..n)
            .map(|_| r.nullable("argument length"))
            .collect::<Result<_, _>>()?;
        let result_format = r.i16()?;
        r.finish()?;
        Ok(Self {
            oid,
            arg_formats,
            args,
            result_format,
        })
    }

    fn encode_body(&self, out: &mut BytesMut) {
        out.put_u32(self.oid);
        put_count16(out, self.arg_formats.len());
        for f in &self.arg_formats {
            out.put_i16(*f);
        }
        put_count16(out, self.args.len());
        for a in &self.args {
            put_nullable(out, a.as_ref());
        }
        out.put_i16(self.result_format);
    }
}
