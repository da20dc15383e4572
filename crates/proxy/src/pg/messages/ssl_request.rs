//! SSLRequest: the client asks for TLS before starting up; the answer is one byte, `S` or `N`.

use super::tags::startup::SSL_REQUEST;
use crate::pg::error::MessageError;
use crate::pg::frame::StartupFrame;

/// A request to switch to TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SslRequest;

impl SslRequest {
    /// The one-byte answer refusing TLS; the client then goes on in plaintext or gives up.
    pub const REFUSE: &'static [u8] = b"N";

    /// Decode (the packet must be exactly the code).
    pub fn decode(frame: &StartupFrame) -> Result<Self, MessageError> {
        expect_bare(frame, SSL_REQUEST, "SSLRequest").map(|()| Self)
    }

    /// Encode.
    pub fn to_frame(&self) -> StartupFrame {
        StartupFrame::build(SSL_REQUEST, |_| {})
    }
}

/// Check a startup packet that carries nothing but its code.
pub(crate) fn expect_bare(
    frame: &StartupFrame,
    code: u32,
    name: &'static str,
) -> Result<(), MessageError> {
    if frame.code() != code {
        return Err(MessageError::Invalid {
            message: name,
            field: "code",
            value: frame.code().into(),
        });
    }
    match frame.payload().len() {
        0 => Ok(()),
        extra => Err(MessageError::Trailing {
            message: name,
            extra,
        }),
    }
}
