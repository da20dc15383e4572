//! Error budgets per environment: every chaos injection burns some budget, the budget refills
//! linearly over a window, and below the threshold (default 20%) gated operations are refused
//! with the time until the budget is back above it — what the API answers as 429 with
//! `X-Gate-Enforced: BudgetExhausted` and `Retry-After`.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// One environment's budget. `remaining` is a fraction of the full budget, in [0, 1].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBudget {
    pub remaining: f64,
    /// When `remaining` was last brought up to date.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Time for an empty budget to refill completely.
    pub refill_window_secs: u64,
    /// Below this fraction, gated operations are refused.
    pub threshold: f64,
}

/// The gate's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum BudgetDecision {
    Allowed {
        remaining: f64,
    },
    /// Refused; `retry_after` until the budget is back at the threshold.
    Exhausted {
        remaining: f64,
        retry_after: Duration,
    },
}

impl ErrorBudget {
    /// A full budget.
    pub fn new(now: OffsetDateTime, refill_window: Duration, threshold: f64) -> ErrorBudget {
        ErrorBudget {
            remaining: 1.0,
            updated_at: now,
            refill_window_secs: refill_window.whole_seconds().max(1) as u64,
            threshold: threshold.clamp(0.0, 1.0),
        }
    }

    /// Refills up to `now`. A clock that went backwards refills nothing (never a gift).
    fn refill(&mut self, now: OffsetDateTime) {
        let elapsed = (now - self.updated_at).as_seconds_f64();
        if elapsed > 0.0 {
            self.remaining = (self.remaining + elapsed / self.refill_window_secs as f64).min(1.0);
            self.updated_at = now;
        }
    }

    /// Whether a gated operation may proceed now.
    pub fn check(&mut self, now: OffsetDateTime) -> BudgetDecision {
        self.refill(now);
        // The epsilon makes `retry_after` a promise: at that time the check passes.
        if self.remaining + 1e-9 >= self.threshold {
            BudgetDecision::Allowed {
                remaining: self.remaining,
            }
        } else {
            let missing = self.threshold - self.remaining;
            // The epsilon keeps float noise (0.1 + 0.2) from adding a whole second.
            let secs = (missing * self.refill_window_secs as f64 - 1e-6)
                .ceil()
                .max(1.0);
            BudgetDecision::Exhausted {
                remaining: self.remaining,
                retry_after: Duration::seconds(secs as i64),
            }
        }
    }

    /// Burns `cost` (a fraction of the full budget) for one injection.
    pub fn burn(&mut self, now: OffsetDateTime, cost: f64) {
        self.refill(now);
        self.remaining = (self.remaining - cost.max(0.0)).max(0.0);
    }

    /// Gives back `amount` that was reserved but not injected (never above a full budget).
    pub fn refund(&mut self, now: OffsetDateTime, amount: f64) {
        self.refill(now);
        self.remaining = (self.remaining + amount.max(0.0)).min(1.0);
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn burns_gate_at_the_threshold_and_refill() {
        let t0 = datetime!(2026-11-22 00:00 UTC);
        let mut b = ErrorBudget::new(t0, Duration::hours(1), 0.2);
        for _ in 0..2 {
            b.burn(t0, 0.3);
            assert!(matches!(b.check(t0), BudgetDecision::Allowed { .. }));
        }
        b.burn(t0, 0.3); // 0.1 left
        match b.check(t0) {
            BudgetDecision::Exhausted {
                remaining,
                retry_after,
            } => {
                assert!((remaining - 0.1).abs() < 1e-9);
                // 0.1 of an hour to get back to 0.2.
                assert_eq!(retry_after, Duration::seconds(360));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            b.check(t0 + Duration::seconds(360)),
            BudgetDecision::Allowed { .. }
        ));
        // A clock that jumps back does not refill.
        let mut c = ErrorBudget::new(t0, Duration::hours(1), 0.2);
        c.burn(t0, 0.9);
        assert!(matches!(
            c.check(t0 - Duration::hours(5)),
            BudgetDecision::Exhausted { .. }
        ));
    }
}
