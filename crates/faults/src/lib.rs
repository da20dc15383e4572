//! Shakedown's HTTP fault proxy. Faults are injected on the wire, into the calls an agent
//! really makes (LLM APIs, tools, retrieval), shaped exactly like the real providers' failures
//! so official SDKs react as they would in production.
//!
//! The crate is split by concern:
//! - [`call`]: what the proxy knows about one intercepted request ([`CallInfo`]);
//! - [`fault`]: the resolved action to perform on a call ([`Fault`]) and a fired instance
//!   ([`FiredFault`]);
//! - config, profiles, schedules and matching decide which faults fire on a call;
//! - provider shapes, body transforms and stream faults apply a fault to the response;
//! - the proxy server (reverse, forward, CONNECT with TLS interception) plumbs it together.

pub mod apply;
pub mod call;
pub mod decide;
pub mod detect;
pub mod fault;
pub mod server;

pub use apply::{CallPlan, ResponseShaper, Step, Synthetic};
pub use call::{ApiKind, CallInfo};
pub use decide::Decider;
pub use fault::{
    ContextAttackKind, DriftKind, Fault, FaultFamily, FiredFault, RateLimitKind, StreamFault,
};
