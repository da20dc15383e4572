//! Why talking to a NATS server failed. Every message names the server and what to do.

use super::proto::ProtoError;

/// A NATS failure: a bad URL, a server that cannot be reached or is not NATS, a refusal.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NatsError {
    #[error(
        "invalid NATS URL `{url}`: {reason}; expected nats://[user:password@|token@]host[:port] \
         (several separated by commas)"
    )]
    Url { url: String, reason: String },
    #[error(
        "cannot connect to NATS at {server}: {reason}; start nats-server there (e.g. \
         `nats-server -a 127.0.0.1 -p 4222`) or fix --nats / SHAKEDOWN_NATS_URL"
    )]
    Unreachable { server: String, reason: String },
    #[error(
        "the server at {server} does not speak the NATS protocol: it sent {detail}; check that \
         --nats points at a nats-server's client port (4222 by default)"
    )]
    NotNats { server: String, detail: String },
    #[error("the NATS server at {server} broke the protocol: it sent {source}; reconnecting")]
    Protocol { server: String, source: ProtoError },
    #[error(
        "the NATS server at {server} requires TLS, which Shakedown's client does not speak; \
         listen without TLS on loopback or put a TLS-terminating proxy in front"
    )]
    TlsRequired { server: String },
    #[error(
        "the NATS server at {server} refused the connection: {message}; put the right \
         credentials in the URL (nats://user:password@host:port or nats://token@host:port)"
    )]
    Refused { server: String, message: String },
    #[error("the NATS server at {server} reported an error: {message}")]
    Server { server: String, message: String },
    #[error("the connection to NATS at {server} was lost: {reason}")]
    Lost { server: String, reason: String },
    #[error(
        "invalid NATS subject `{subject}`: {reason}; subjects are dot-separated tokens without \
         spaces (`chaos.injection`)"
    )]
    Subject { subject: String, reason: String },
    #[error(
        "a message of {len} bytes is larger than the server's max_payload of {max} bytes; \
         send less or raise max_payload in nats-server's config"
    )]
    TooLarge { len: usize, max: usize },
    #[error("not connected to NATS ({reason})")]
    NotConnected { reason: String },
    #[error("gave up on NATS after {attempts} reconnection attempts; last error: {last}")]
    GaveUp { attempts: u32, last: String },
    #[error("the NATS client is closed")]
    Closed,
}
