//! The seam between deciding and applying: the faults that fired on a call resolve into a
//! [`CallPlan`] the proxy server executes — wait, maybe answer by itself, otherwise forward and
//! pass the upstream's answer through a [`ResponseShaper`]. The server never interprets a
//! fault itself; it only runs plans.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

/// One step of a response body the proxy writes to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Write these bytes (one chunk / one SSE event).
    Data(Bytes),
    /// Wait before the next step.
    Sleep(Duration),
    /// Abort the connection without finishing the body (a network-level drop).
    Abort,
    /// End the body cleanly now: nothing after this step is written and the upstream body is
    /// no longer read (a cut stream must not hold the client until the upstream ends).
    Finish,
}

/// An answer the proxy gives without asking the upstream.
#[derive(Debug, Clone)]
pub struct Synthetic {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<Step>,
}

/// Rewrites an upstream answer as it streams through. Whole (non-SSE) bodies are buffered by
/// the shaper itself and emitted at `end`.
pub trait ResponseShaper: Send {
    /// The upstream status and headers; the shaper may change them (it must drop or fix
    /// `content-length` when it changes the body's size).
    fn head(&mut self, status: &mut StatusCode, headers: &mut HeaderMap);
    /// One chunk of the upstream body.
    fn chunk(&mut self, data: Bytes, out: &mut Vec<Step>);
    /// The upstream body ended.
    fn end(&mut self, out: &mut Vec<Step>);
}

/// What the proxy does with one call.
pub struct CallPlan {
    /// Wait this long before anything else (slow / timeout faults).
    pub pre_delay: Duration,
    /// Answer this without asking the upstream.
    pub respond: Option<Synthetic>,
    /// Pass the upstream answer through this; `None` forwards it untouched.
    pub shaper: Option<Box<dyn ResponseShaper>>,
}

impl CallPlan {
    /// Forward untouched: no fault fired.
    pub fn passthrough() -> CallPlan {
        CallPlan {
            pre_delay: Duration::ZERO,
            respond: None,
            shaper: None,
        }
    }
}

impl std::fmt::Debug for CallPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallPlan")
            .field("pre_delay", &self.pre_delay)
            .field("respond", &self.respond)
            .field("shaper", &self.shaper.is_some())
            .finish()
    }
}
