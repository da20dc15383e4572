//! The `code byte, string` field list shared by ErrorResponse and NoticeResponse, with
//! accessors for the fields the proxy reads and a builder for the ones it synthesises.

use std::borrow::Cow;

use bytes::{BufMut, Bytes, BytesMut};

use super::wire::{Reader, put_cstr, text};
use crate::pg::error::MessageError;

/// Field codes.
pub mod code {
    /// Localised severity.
    pub const SEVERITY: u8 = b'S';
    /// Non-localised severity (PostgreSQL 9.6+).
    pub const SEVERITY_V: u8 = b'V';
    /// SQLSTATE.
    pub const SQLSTATE: u8 = b'C';
    /// Primary message.
    pub const MESSAGE: u8 = b'M';
    /// Detail.
    pub const DETAIL: u8 = b'D';
    /// Hint.
    pub const HINT: u8 = b'H';
}

/// Severity of an error or notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The statement failed; the session goes on.
    Error,
    /// The session is ending.
    Fatal,
    /// The server is ending all sessions.
    Panic,
    /// A warning notice.
    Warning,
    /// An ordinary notice.
    Notice,
    /// Debug output.
    Debug,
    /// Informational.
    Info,
    /// Log output.
    Log,
}

impl Severity {
    /// The non-localised keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "ERROR",
            Self::Fatal => "FATAL",
            Self::Panic => "PANIC",
            Self::Warning => "WARNING",
            Self::Notice => "NOTICE",
            Self::Debug => "DEBUG",
            Self::Info => "INFO",
            Self::Log => "LOG",
        }
    }
}

/// An ordered list of `(code, value)` fields.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorFields {
    /// The fields as sent, in order.
    pub fields: Vec<(u8, Bytes)>,
}

impl ErrorFields {
    /// Fields for `severity`, `sqlstate` and `message`.
    pub fn new(severity: Severity, sqlstate: &str, message: &str) -> Self {
        let mut f = Self::default();
        f.set(code::SEVERITY, severity.as_str());
        f.set(code::SEVERITY_V, severity.as_str());
        f.set(code::SQLSTATE, sqlstate);
        f.set(code::MESSAGE, message);
        f
    }

    /// Set (or replace) field `code`. NUL bytes in `value` are dropped: they cannot travel.
    pub fn set(&mut self, code: u8, value: &str) {
        let value = Bytes::from(value.replace('\0', ""));
        match self.fields.iter_mut().find(|(c, _)| *c == code) {
            Some(slot) => slot.1 = value,
            None => self.fields.push((code, value)),
        }
    }

    /// Field `code` as text.
    pub fn get(&self, code: u8) -> Option<Cow<'_, str>> {
        self.fields
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, v)| text(v))
    }

    /// Non-localised severity when present, localised otherwise.
    pub fn severity(&self) -> Option<Cow<'_, str>> {
        self.get(code::SEVERITY_V)
            .or_else(|| self.get(code::SEVERITY))
    }

    /// SQLSTATE.
    pub fn sqlstate(&self) -> Option<Cow<'_, str>> {
        self.get(code::SQLSTATE)
    }

    /// Primary message.
    pub fn message(&self) -> Option<Cow<'_, str>> {
        self.get(code::MESSAGE)
    }

    /// Detail.
    pub fn detail(&self) -> Option<Cow<'_, str>> {
        self.get(code::DETAIL)
    }

    /// Hint.
    pub fn hint(&self) -> Option<Cow<'_, str>> {
        self.get(code::HINT)
    }

    pub(crate) fn decode(r: &mut Reader) -> Result<Self, MessageError> {
        let mut fields = Vec::new();
        loop {
            let c = r.u8()?;
            if c == 0 {
                break;
            }
            fields.push((c, r.cstr()?));
        }
        Ok(Self { fields })
    }

    pub(crate) fn encode(&self, out: &mut BytesMut) {
        for (c, v) in &self.fields {
            out.put_u8(*c);
            put_cstr(out, v);
        }
        out.put_u8(0);
    }
}
