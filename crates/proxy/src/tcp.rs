//! A TCP fault proxy with Toxiproxy's toxics and a Toxiproxy-compatible HTTP admin API, so
//! existing Toxiproxy client libraries drive it unchanged. [`TcpProxyServer`] holds the proxies;
//! [`api::router`] serves the admin API over it. Toxics change live: every connection's pipe
//! re-reads the proxy's current toxic set for each chunk it forwards.

pub mod api;
mod audit;
mod link;
pub mod model;
mod registry;

pub use audit::{Audit, Change};
pub use model::{ApiError, ProxySpec, Stream, ToxicKind, ToxicSpec};
pub use registry::{Halted, ProxyView, TcpProxyServer, TcpServerConfig};
