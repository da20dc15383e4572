//! Everything a connection needs, built once at start and shared read-only by all
//! connections.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use shakedown_core::Event;
use tokio::sync::mpsc;

use super::ca::CertificateAuthority;
use super::route::RouteTable;
use super::upstream::Upstream;
use crate::Decider;
use crate::proxy::Planner;

/// The proxy's state.
pub struct Shared {
    /// The proxy's own listening address: absolute-form requests to it are routed, not
    /// forwarded back to itself.
    pub local_addr: std::net::SocketAddr,
    pub routes: RouteTable,
    /// Absolute-form requests and `CONNECT` are served.
    pub forward: bool,
    /// The CA, when `CONNECT` is intercepted (otherwise tunnelled).
    pub ca: Option<Arc<CertificateAuthority>>,
    pub max_body: u64,
    pub decider: Arc<dyn Decider>,
    pub planner: Planner,
    pub events: Option<mpsc::Sender<Event>>,
    pub upstream: Upstream,
    pub provider: Arc<CryptoProvider>,
}
