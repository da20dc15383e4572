//! GSSENCRequest: the client asks for GSSAPI encryption; the proxy always answers `N`.

use super::ssl_request::expect_bare;
use super::tags::startup::GSSENC_REQUEST;
use crate::pg::error::MessageError;
use crate::pg::frame::StartupFrame;

/// A request to switch to GSSAPI encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GssEncRequest;

impl GssEncRequest {
    /// The one-byte answer refusing GSSAPI encryption.
    pub const REFUSE: &'static [u8] = b"N";

    /// Decode (the packet must be exactly the code).
    pub fn decode(frame: &StartupFrame) -> Result<Self, MessageError> {
        expect_bare(frame, GSSENC_REQUEST, "GSSENCRequest").map(|()| Self)
    }

    /// Encode.
    pub fn to_frame(&self) -> StartupFrame {
        StartupFrame::build(GSSENC_REQUEST, |_| {})
    }
}
