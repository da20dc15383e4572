//! Execute: run a portal, optionally limited to a number of rows.

use bytes::{BufMut, Bytes, BytesMut};

use super::Message;
use super::tags::frontend::EXECUTE;
use super::wire::{Reader, put_cstr};
use crate::pg::error::MessageError;

/// A request to run a portal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execute {
    /// Portal name; empty for the unnamed portal.
    pub portal: Bytes,
    /// Row limit; 0 means no limit.
    pub max_rows: i32,
}

impl Execute {
    /// Execute `portal` with no row limit.
    pub fn new(portal: impl AsRef<[u8]>) -> Self {
        Self {
            portal: Bytes::copy_from_slice(portal.as_ref()),
            max_rows: 0,
        }
    }
}

impl Message for Execute {
    const TAG: u8 = EXECUTE;
    const NAME: &'static str = "Execute";

    fn decode_body(body: Bytes) -> Result<Self, MessageError> {
        let mut r = Reader::new(body, Self::NAME);
        let portal = r.cstr()?;
        let max_rows = r.i32()?;
        r.finish()?;
        Ok(Self { portal, max_rows })
    }

    fn encode_body(&self, out: &mut BytesMut) {
        put_cstr(out, &self.portal);
        out.put_i32(self.max_rows);
    }
}
