//! StartupMessage: protocol version and `name\0value\0` parameters (user, database, options…).

use bytes::{BufMut, Bytes};

use super::tags;
use super::wire::{Reader, put_cstr, text};
use crate::pg::error::MessageError;
use crate::pg::frame::StartupFrame;

/// The first real message of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartupMessage {
    /// `major << 16 | minor`.
    pub protocol: u32,
    /// Parameters in the order the client sent them.
    pub params: Vec<(Bytes, Bytes)>,
}

impl StartupMessage {
    /// A protocol 3.0 startup with the given parameters.
    pub fn new<K: AsRef<[u8]>, V: AsRef<[u8]>>(params: impl IntoIterator<Item = (K, V)>) -> Self {
        Self {
            protocol: tags::startup::PROTOCOL_3_0,
            params: params
                .into_iter()
                .map(|(k, v)| {
                    (
                        Bytes::copy_from_slice(k.as_ref()),
                        Bytes::copy_from_slice(v.as_ref()),
                    )
                })
                .collect(),
        }
    }

    /// Major protocol version (3).
    pub fn major(&self) -> u16 {
        (self.protocol >> 16) as u16
    }

    /// Minor protocol version.
    pub fn minor(&self) -> u16 {
        (self.protocol & 0xffff) as u16
    }

    /// The value of parameter `name`, if sent.
    pub fn param(&self, name: &str) -> Option<std::borrow::Cow<'_, str>> {
        self.params
            .iter()
            .find(|(k, _)| k.as_ref() == name.as_bytes())
            .map(|(_, v)| text(v))
    }

    /// Decode a startup-phase packet whose code is a protocol version.
    pub fn decode(frame: &StartupFrame) -> Result<Self, MessageError> {
        let mut r = Reader::new(frame.payload(), "StartupMessage");
        let mut params = Vec::new();
        loop {
            let key = r.cstr()?;
            if key.is_empty() {
                break;
            }
            params.push((key, r.cstr()?));
        }
        r.finish()?;
        Ok(Self {
            protocol: frame.code(),
            params,
        })
    }

    /// Encode as a startup-phase packet.
    pub fn to_frame(&self) -> StartupFrame {
        StartupFrame::build(self.protocol, |out| {
            for (k, v) in &self.params {
                put_cstr(out, k);
                put_cstr(out, v);
            }
            out.put_u8(0);
        })
    }
}
