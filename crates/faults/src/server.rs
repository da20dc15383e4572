//! The fault proxy server: reverse proxy with routes, forward proxy, and CONNECT with TLS
//! interception. It builds a [`crate::CallInfo`] per request, asks the [`crate::Decider`],
//! turns the fired faults into a [`crate::apply::CallPlan`] and executes it.
//!
//! Start it through [`crate::proxy::FaultProxy`].

pub mod body;
pub mod ca;
mod call;
mod connect;
pub mod error;
mod execute;
pub mod headers;
mod listener;
pub(crate) mod pool;
pub mod route;
pub mod scope;
mod service;
pub mod settings;
pub(crate) mod shared;
pub mod tls;
pub(crate) mod upstream;

pub use ca::{CaError, CertificateAuthority};
pub use error::{PROXY_ERROR_HEADER, ServeError};
pub use settings::{ProxySettings, Route};
pub use tls::TlsError;

pub(crate) use listener::accept_loop;
