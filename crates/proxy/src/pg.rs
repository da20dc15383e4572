//! The PostgreSQL proxy: protocol v3 framing ([`codec`], [`frame`], one file per message
//! under [`messages`]), sessions that relay bytes untouched except where an [`Interceptor`]
//! intervenes (rejects, row-checks, delays or blackholes a statement), cancel routing, and the
//! listener ([`PgProxy`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), shakedown_proxy::pg::ProxyError> {
//! use shakedown_proxy::pg::{PassThrough, PgProxy};
//! let proxy = PgProxy::bind(
//!     "127.0.0.1:0".parse().unwrap(),
//!     "127.0.0.1:5432".parse().unwrap(),
//!     PassThrough,
//! )
//! .await?;
//! println!("connect to {}", proxy.local_addr());
//! proxy.shutdown().await;
//! # Ok(()) }
//! ```

pub mod cancel;
pub mod chaos;
pub mod codec;
pub mod error;
pub mod events;
pub mod frame;
pub mod guard;
pub mod interceptor;
pub mod messages;
pub mod server;
mod session;
pub mod session_info;
pub mod sqlstate;

pub use cancel::CancelRegistry;
pub use codec::{Direction, FrameLimits};
pub use error::{FrameError, MessageError, ProtocolError, ProxyError, SessionError, Side};
pub use events::{EndReason, EventSink, Protocol, ProxyEvent, StatementAction};
pub use frame::{Frame, StartupFrame};
pub use interceptor::{
    BackendEvent, Interceptor, InterceptorFactory, MAX_BLACKHOLE, PassThrough, Rejection,
    RowCheckOutcome, Verdict,
};
pub use messages::TransactionStatus;
pub use server::{PgProxy, PgProxyConfig};
pub use session_info::SessionInfo;
