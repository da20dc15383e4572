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
pub mod config;
pub mod decide;
pub mod detect;
pub mod engine;
pub mod events;
pub mod fault;
pub mod matcher;
pub mod plan;
pub mod profiles;
pub mod provider;
pub mod proxy;
pub mod schedule;
pub mod server;
pub mod stream;
pub mod transform;

pub use apply::{CallPlan, ResponseShaper, Step, Synthetic};
pub use call::{ApiKind, CallInfo};
pub use config::{FaultConfig, Rule, faults_schema, load_faults, load_faults_file};
pub use decide::Decider;
pub use engine::FaultEngine;
pub use fault::{
    ContextAttackKind, DriftKind, Fault, FaultFamily, FiredFault, Placement, RateLimitKind,
    StreamFault, VerbosityDirection,
};
pub use plan::{plan, plan_for_request};
pub use proxy::{FaultProxy, FaultProxyHandle, FaultProxyOptions, Planner, ProxyError};
