//! NoticeResponse: a warning or notice; same fields as an error, passed through untouched.

use bytes::{Bytes, BytesMut};

use super::Message;
use super::error_fields::{ErrorFields, Severity};
use super::tags::backend::NOTICE_RESPONSE;
use super::wire::Reader;
use crate::pg::error::MessageError;

/// A notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeResponse {
    /// The fields.
    pub fields: ErrorFields,
}

impl NoticeResponse {
    /// A notice with `severity`, `sqlstate` and `message`.
    pub fn new(severity: Severity, sqlstate: &str, message: &str) -> Self {
        Self {
            fields: ErrorFields::new(severity, sqlstate, message),
        }
    }
}

impl Message for NoticeResponse {
    const TAG: u8 = NOTICE_RESPONSE;
    const NAME: &'static str = "NoticeResponse";

    fn decode_body(body: Bytes) -> Result<Self, MessageError> {
        let mut r = Reader::new(body, Self::NAME);
        let fields = ErrorFields::decode(&mut r)?;
        r.finish()?;
        Ok(Self { fields })
    }

    fn encode_body(&self, out: &mut BytesMut) {
        self.fields.encode(out);
    }
}
