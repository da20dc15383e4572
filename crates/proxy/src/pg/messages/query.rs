//! Query: a simple-protocol query string, possibly holding several statements.

use std::borrow::Cow;

use bytes::{Bytes, BytesMut};

use super::Message;
use super::tags::frontend::QUERY;
use super::wire::{Reader, put_cstr, text};
use crate::pg::error::MessageError;

/// A simple-protocol query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The query text, without the terminating NUL.
    pub sql: Bytes,
}

impl Query {
    /// A query for `sql` (which must not contain NUL).
    pub fn new(sql: impl AsRef<[u8]>) -> Self {
        Self {
            sql: Bytes::copy_from_slice(sql.as_ref()),
        }
    }

    /// The text; borrowed when it is valid UTF-8, lossily converted otherwise.
    pub fn text(&self) -> Cow<'_, str> {
        text(&self.sql)
    }
}

impl Message for Query {
    const TAG: u8 = QUERY;
    const NAME: &'static str = "Query";

    fn decode_body(body: Bytes) -> Result<Self, MessageError> {
        let mut r = Reader::new(body, Self::NAME);
        let sql = r.cstr()?;
        r.finish()?;
        Ok(Self { sql })
    }

    fn encode_body(&self, out: &mut BytesMut) {
        put_cstr(out, &self.sql);
    }
}
