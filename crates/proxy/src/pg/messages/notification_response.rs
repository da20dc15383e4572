//! NotificationResponse: a NOTIFY delivered to a session that LISTENs on the channel.

use bytes::{BufMut, Bytes, BytesMut};

use super::Message;
use super::tags::backend::NOTIFICATION_RESPONSE;
use super::wire::{Reader, put_cstr};
use crate::pg::error::MessageError;

/// An asynchronous notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationResponse {
    /// Process id of the notifying backend.
    pub pid: i32,
    /// Channel name.
    pub channel: Bytes,
    /// Payload.
    pub payload: Bytes,
}

impl Message for NotificationResponse {
    const TAG: u8 = NOTIFICATION_RESPONSE;
    const NAME: &'static str = "NotificationResponse";

    fn decode_body(body: Bytes) -> Result<Self, MessageError> {
        let mut r = Reader::new(body, Self::NAME);
        let pid = r.i32()?;
        let channel = r.cstr()?;
        let payload = r.cstr()?;
        r.finish()?;
        Ok(Self {
            pid,
            channel,
            payload,
        })
    }

    fn encode_body(&self, out: &mut BytesMut) {
        out.put_i32(self.pid);
        put_cstr(out, &self.channel);
        put_cstr(out, &self.payload);
    }
}
