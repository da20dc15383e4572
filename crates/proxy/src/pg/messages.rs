//! Protocol v3 messages, one file per message kind. Every type decodes from a [`Frame`]
//! lazily (only when the proxy needs to look inside) and encodes back to one, so the proxy can
//! synthesise the few messages it must (errors, ready-for-query, substitutes).
//!
//! Text fields are kept as [`Bytes`] slices of the frame: decoding does not copy them.

use bytes::{Bytes, BytesMut};

use super::error::MessageError;
use super::frame::Frame;

/// A regular (tagged) protocol message.
pub trait Message: Sized {
    /// The tag byte on the wire.
    const TAG: u8;
    /// The message's name in the protocol documentation, for errors.
    const NAME: &'static str;

    /// Decode a body (the bytes after tag and length).
    fn decode_body(body: Bytes) -> Result<Self, MessageError>;

    /// Append the body to `out`.
    fn encode_body(&self, out: &mut BytesMut);

    /// Decode a frame, checking its tag.
    fn decode(frame: &Frame) -> Result<Self, MessageError> {
        if frame.tag() != Self::TAG {
            return Err(MessageError::WrongTag {
                expected: Self::NAME,
                tag: frame.tag(),
            });
        }
        Self::decode_body(frame.body())
    }

    /// Encode into a complete frame.
    fn to_frame(&self) -> Frame {
        Frame::build(Self::TAG, |out| self.encode_body(out))
    }
}

/// Defines a message without a body.
macro_rules! empty_message {
    ($(#[$meta:meta])* $name:ident, $tag:expr, $label:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub struct $name;

        impl $crate::pg::messages::Message for $name {
            const TAG: u8 = $tag;
            const NAME: &'static str = $label;

            fn decode_body(body: ::bytes::Bytes) -> Result<Self, $crate::pg::error::MessageError> {
                if body.is_empty() {
                    Ok(Self)
                } else {
                    Err($crate::pg::error::MessageError::Trailing {
                        message: $label,
                        extra: body.len(),
                    })
                }
            }

            fn encode_body(&self, _out: &mut ::bytes::BytesMut) {}
        }
    };
}

pub mod tags;
mod wire;

// Startup phase (untagged).
pub mod cancel_request;
pub mod gssenc_request;
pub mod ssl_request;
pub mod startup;

// Frontend.
pub mod bind;
pub mod close;
pub mod copy_data;
pub mod copy_done;
pub mod copy_fail;
pub mod describe;
pub mod execute;
pub mod flush;
pub mod function_call;
pub mod parse;
pub mod password;
pub mod query;
pub mod sync;
pub mod terminate;

// Backend.
pub mod authentication;
pub mod backend_key_data;
pub mod bind_complete;
pub mod close_complete;
pub mod command_complete;
pub mod copy_both_response;
pub mod copy_format;
pub mod copy_in_response;
pub mod copy_out_response;
pub mod data_row;
pub mod empty_query_response;
pub mod error_fields;
pub mod error_response;
pub mod function_call_response;
pub mod negotiate_protocol_version;
pub mod no_data;
pub mod notice_response;
pub mod notification_response;
pub mod parameter_description;
pub mod parameter_status;
pub mod parse_complete;
pub mod portal_suspended;
pub mod ready_for_query;
pub mod row_description;

pub use authentication::Authentication;
pub use backend_key_data::BackendKeyData;
pub use bind::Bind;
pub use bind_complete::BindComplete;
pub use cancel_request::CancelRequest;
pub use close::Close;
pub use close_complete::CloseComplete;
pub use command_complete::CommandComplete;
pub use copy_both_response::CopyBothResponse;
pub use copy_data::CopyData;
pub use copy_done::CopyDone;
pub use copy_fail::CopyFail;
pub use copy_format::CopyFormat;
pub use copy_in_response::CopyInResponse;
pub use copy_out_response::CopyOutResponse;
pub use data_row::DataRow;
pub use describe::{Describe, Target};
pub use empty_query_response::EmptyQueryResponse;
pub use error_fields::{ErrorFields, Severity};
pub use error_response::ErrorResponse;
pub use execute::Execute;
pub use flush::Flush;
pub use function_call::FunctionCall;
pub use function_call_response::FunctionCallResponse;
pub use gssenc_request::GssEncRequest;
pub use negotiate_protocol_version::NegotiateProtocolVersion;
pub use no_data::NoData;
pub use notice_response::NoticeResponse;
pub use notification_response::NotificationResponse;
pub use parameter_description::ParameterDescription;
pub use parameter_status::ParameterStatus;
pub use parse::Parse;
pub use parse_complete::ParseComplete;
pub use password::PasswordMessage;
pub use portal_suspended::PortalSuspended;
pub use query::Query;
pub use ready_for_query::{ReadyForQuery, TransactionStatus};
pub use row_description::{FieldDescription, RowDescription};
pub use ssl_request::SslRequest;
pub use startup::StartupMessage;
pub use sync::Sync;
pub use terminate::Terminate;
