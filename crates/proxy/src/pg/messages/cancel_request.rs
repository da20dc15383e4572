//! CancelRequest: sent on a *new* connection with the process id and secret key the server
//! gave the session to cancel (4 bytes in protocol 3.0, up to 256 in 3.2).

use bytes::{BufMut, Bytes};

use super::tags::startup::CANCEL_REQUEST;
use super::wire::Reader;
use crate::pg::error::MessageError;
use crate::pg::frame::StartupFrame;

/// A request to cancel the query running in another session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelRequest {
    /// Backend process id, from BackendKeyData.
    pub pid: i32,
    /// Secret key, from BackendKeyData.
    pub secret: Bytes,
}

impl CancelRequest {
    /// Decode.
    pub fn decode(frame: &StartupFrame) -> Result<Self, MessageError> {
        if frame.code() != CANCEL_REQUEST {
            return Err(MessageError::Invalid {
                message: "CancelRequest",
                field: "code",
                value: frame.code().into(),
            });
        }
        let mut r = Reader::new(frame.payload(), "CancelRequest");
        let pid = r.i32()?;
        let secret = r.rest();
        if secret.is_empty() {
            return Err(MessageError::Truncated {
                message: "CancelRequest",
                needed: 4,
            });
        }
        Ok(Self { pid, secret })
    }

    /// Encode.
    pub fn to_frame(&self) -> StartupFrame {
        StartupFrame::build(CANCEL_REQUEST, |out| {
            out.put_i32(self.pid);
            out.put_slice(&self.secret);
        })
    }
}
