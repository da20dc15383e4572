//! ReadyForQuery: the server is idle again and reports the transaction status.

use bytes::{BufMut, Bytes, BytesMut};

use super::Message;
use super::tags::backend::READY_FOR_QUERY;
use super::wire::Reader;
use crate::pg::error::MessageError;

/// The transaction status carried by ReadyForQuery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionStatus {
    /// `I`: not in a transaction block.
    #[default]
    Idle,
    /// `T`: in a transaction block.
    InTransaction,
    /// `E`: in a failed transaction block; only ROLLBACK will do.
    Failed,
}

impl TransactionStatus {
    /// The status byte.
    pub fn byte(self) -> u8 {
        match self {
            Self::Idle => b'I',
            Self::InTransaction => b'T',
            Self::Failed => b'E',
        }
    }

    /// Parse a status byte.
    pub fn from_byte(b: u8) -> Option<Self> {
        match b {
            b'I' => Some(Self::Idle),
            b'T' => Some(Self::InTransaction),
            b'E' => Some(Self::Failed),
            _ => None,
        }
    }
}

/// The server is ready for the next query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadyForQuery {
    /// Transaction status.
    pub status: TransactionStatus,
}

impl ReadyForQuery {
    /// A ReadyForQuery with `status`.
    pub fn new(status: TransactionStatus) -> Self {
        Self { status }
    }
}

impl Message for ReadyForQuery {
    const TAG: u8 = READY_FOR_QUERY;
    const NAME: &'static str = "ReadyForQuery";

    fn decode_body(body: Bytes) -> Result<Self, MessageError> {
        let mut r = Reader::new(body, Self::NAME);
        let b = r.u8()?;
        let status = TransactionStatus::from_byte(b).ok_or(r.invalid("status", b.into()))?;
        r.finish()?;
        Ok(Self { status })
    }

    fn encode_body(&self, out: &mut BytesMut) {
        out.put_u8(self.status.byte());
    }
}
