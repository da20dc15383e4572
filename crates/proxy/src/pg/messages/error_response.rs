//! ErrorResponse: a statement (ERROR) or the session (FATAL) failed. The proxy reads the
//! SQLSTATE and message of errors, and builds its own when policy rejects a statement.

use std::borrow::Cow;

use bytes::{Bytes, BytesMut};

use super::Message;
use super::error_fields::{ErrorFields, Severity, code};
use super::tags::backend::ERROR_RESPONSE;
use super::wire::Reader;
use crate::pg::error::MessageError;

/// An error report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorResponse {
    /// The fields.
    pub fields: ErrorFields,
}

impl ErrorResponse {
    /// An error with `severity`, `sqlstate` and `message`.
    pub fn new(severity: Severity, sqlstate: &str, message: &str) -> Self {
        Self {
            fields: ErrorFields::new(severity, sqlstate, message),
        }
    }

    /// An ERROR (the statement fails, the session goes on).
    pub fn error(sqlstate: &str, message: &str) -> Self {
        Self::new(Severity::Error, sqlstate, message)
    }

    /// A FATAL error (the session ends).
    pub fn fatal(sqlstate: &str, message: &str) -> Self {
        Self::new(Severity::Fatal, sqlstate, message)
    }

    /// Add a detail line.
    pub fn with_detail(mut self, detail: &str) -> Self {
        self.fields.set(code::DETAIL, detail);
        self
    }

    /// Add a hint line.
    pub fn with_hint(mut self, hint: &str) -> Self {
        self.fields.set(code::HINT, hint);
        self
    }

    /// SQLSTATE.
    pub fn sqlstate(&self) -> Option<Cow<'_, str>> {
        self.fields.sqlstate()
    }

    /// Primary message.
    pub fn message(&self) -> Option<Cow<'_, str>> {
        self.fields.message()
    }
}

impl Message for ErrorResponse {
    const TAG: u8 = ERROR_RESPONSE;
    const NAME: &'static str = "ErrorResponse";

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
