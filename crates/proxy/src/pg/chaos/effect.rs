//! [`Effect`]: what chaos does to the statement in hand, as the session must carry it out.

use std::time::Duration;

use crate::pg::interceptor::Verdict;

/// What the session must do to the statement it is about to forward: wait `delay`, then act
/// on `verdict` (`Forward` when chaos only delays it or leaves it alone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effect {
    /// Added latency and request-side packet-loss stalls, summed.
    pub delay: Duration,
    /// `Forward`, `Reject` (an injected SQLSTATE), `Blackhole` or `Disconnect` (a partition).
    pub verdict: Verdict,
}

impl Default for Effect {
    fn default() -> Self {
        Self::none()
    }
}

impl Effect {
    /// No chaos: forward now.
    pub fn none() -> Self {
        Self {
            delay: Duration::ZERO,
            verdict: Verdict::Forward,
        }
    }

    /// True when the statement is neither delayed nor changed.
    pub fn is_none(&self) -> bool {
        self.delay.is_zero() && self.verdict == Verdict::Forward
    }

    /// Sleeps the delay, then gives the verdict: the whole effect, for an interceptor that
    /// has nothing else to decide.
    pub async fn apply(self) -> Verdict {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        self.verdict
    }
}
