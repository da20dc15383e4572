//! The event bus over NATS: a small client of the NATS core protocol (no JetStream) and the
//! two things Shakedown does with it — a [`HaltListener`] that turns a `guardian.halt_chaos`
//! message into the halt lever of a data directory (and `guardian.resume_chaos` into resume),
//! and an [`EventPublisher`] that mirrors every event on `chaos.<event_type>`.
//!
//! Own client rather than `async-nats`: Shakedown needs PUB, SUB, PING/PONG and plain
//! user/password or token auth on two subjects, which is a few hundred lines over tokio; the
//! crate would add TLS, nkeys and JetStream machinery (dozens of crates) to every build.

pub mod client;
mod connection;
pub mod error;
pub mod listener;
pub mod proto;
pub mod publisher;
pub mod server_url;

pub use client::{Client, ClientOptions, ConnState, Message, Stats};
pub use error::NatsError;
pub use listener::{GuardianAction, HALT_SUBJECT, HaltListener, ListenerHandle, RESUME_SUBJECT};
pub use publisher::{EventPublisher, subject_for};
pub use server_url::{ServerAddr, parse_servers};
