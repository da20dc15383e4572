//! Errors of the PostgreSQL proxy. Like pingora's, a session error records *which side*
//! failed ([`Side`]) so the caller can tell a misbehaving client from an unreachable upstream.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// Which party a session error is attributed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The client connected to the proxy.
    Client,
    /// The PostgreSQL server behind the proxy.
    Upstream,
    /// The proxy itself.
    Internal,
}

/// The length header of a message is unacceptable; the stream cannot be resynchronised, so
/// the session that sent it is closed (except for a statement over the statement cap, see
/// [`FrameError::StatementTooLarge`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A length below the 4 bytes of the length field itself.
    #[error("message '{}' declares length {len}, below the minimum of 4", char::from(*tag))]
    LengthTooSmall { tag: u8, len: i32 },
    /// A message longer than the configured limit.
    #[error("message '{}' declares {len} bytes, above the limit of {max}", char::from(*tag))]
    TooLarge { tag: u8, len: usize, max: usize },
    /// A Query or Parse longer than the statement limit (checked before anything parses it).
    /// Sessions skip such a statement and fail it alone when it fits `max_message`.
    #[error("a statement of {len} bytes exceeds the statement limit of {max} bytes")]
    StatementTooLarge { len: usize, max: usize },
    /// A startup-phase packet shorter than its length and code.
    #[error("startup packet declares length {len}, below the minimum of 8")]
    StartupTooSmall { len: i32 },
    /// A startup-phase packet longer than PostgreSQL itself accepts.
    #[error("startup packet declares {len} bytes, above the limit of {max}")]
    StartupTooLarge { len: usize, max: usize },
}

/// The body of a message does not match its declared type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// The body ended before a field did.
    #[error("{message} is truncated: {needed} more bytes were needed")]
    Truncated {
        message: &'static str,
        needed: usize,
    },
    /// A string field has no terminating NUL.
    #[error("{message} has a string without its terminating NUL")]
    Unterminated { message: &'static str },
    /// Bytes left over after the last field.
    #[error("{message} has {extra} unexpected trailing bytes")]
    Trailing { message: &'static str, extra: usize },
    /// The frame carries another message's tag.
    #[error("expected {expected}, got a message tagged '{}'", char::from(*tag))]
    WrongTag { expected: &'static str, tag: u8 },
    /// A field holds a value the protocol does not allow.
    #[error("{message} has an invalid {field}: {value}")]
    Invalid {
        message: &'static str,
        field: &'static str,
        value: i64,
    },
}

/// A wire-level fault: bad framing or a malformed message body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// Bad framing.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A malformed body.
    #[error(transparent)]
    Message(#[from] MessageError),
}

/// Why one proxied session ended abnormally. Never takes the listener down.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Reading from or writing to the client failed.
    #[error("client connection failed: {0}")]
    ClientIo(#[source] io::Error),
    /// Reading from or writing to the upstream server failed.
    #[error("upstream connection failed: {0}")]
    UpstreamIo(#[source] io::Error),
    /// The upstream server refused or dropped the connection attempt.
    #[error("cannot connect to upstream {addr}: {source}; is PostgreSQL listening there?")]
    Connect {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    /// Connecting to the upstream server took too long.
    #[error("connecting to upstream {addr} timed out after {after:?}")]
    ConnectTimeout { addr: SocketAddr, after: Duration },
    /// The client sent bytes that are not valid protocol.
    #[error("client sent malformed protocol data: {0}")]
    ClientProtocol(#[source] ProtocolError),
    /// The upstream server sent bytes that are not valid protocol.
    #[error("upstream sent malformed protocol data: {0}")]
    UpstreamProtocol(#[source] ProtocolError),
    /// The client closed its connection in the middle of a message.
    #[error("client closed the connection with {buffered} bytes of an unfinished message")]
    ClientTruncated { buffered: usize },
    /// The upstream closed its connection in the middle of a message.
    #[error("upstream closed the connection with {buffered} bytes of an unfinished message")]
    UpstreamTruncated { buffered: usize },
    /// The client did not finish the startup/authentication exchange in time.
    #[error("client did not complete startup within {after:?}")]
    StartupTimeout { after: Duration },
    /// The client asked for a protocol version the proxy does not speak.
    #[error("client requested unsupported protocol version {major}.{minor}")]
    UnsupportedProtocol { major: u16, minor: u16 },
    /// The client kept negotiating encryption instead of starting up.
    #[error("client sent {count} encryption negotiations without a startup message")]
    TooManyNegotiations { count: usize },
    /// The two directions of a session lost track of each other (a proxy bug).
    #[error("internal error in the shakedown proxy: {0}")]
    Internal(&'static str),
}

impl SessionError {
    /// The party the failure is attributed to.
    pub fn side(&self) -> Side {
        match self {
            Self::ClientIo(_)
            | Self::ClientProtocol(_)
            | Self::ClientTruncated { .. }
            | Self::StartupTimeout { .. }
            | Self::UnsupportedProtocol { .. }
            | Self::TooManyNegotiations { .. } => Side::Client,
            Self::UpstreamIo(_)
            | Self::Connect { .. }
            | Self::ConnectTimeout { .. }
            | Self::UpstreamProtocol(_)
            | Self::UpstreamTruncated { .. } => Side::Upstream,
            Self::Internal(_) => Side::Internal,
        }
    }
}

/// Starting the proxy failed.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}; pick a free port or use port 0")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
}
