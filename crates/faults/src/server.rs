//! The fault proxy server: reverse proxy with routes, forward proxy, and CONNECT with TLS
//! interception. It builds a [`crate::CallInfo`] per request, asks the [`crate::Decider`],
//! turns the fired faults into a [`crate::apply::CallPlan`] and executes it.

pub mod settings;

pub use settings::{ProxySettings, Route};
