//! When a matching rule fires: `after_calls`, `every_n_calls`, a time `window`, seeded
//! `probability` and `max_fires`, plus the clock windows are measured on and the deterministic
//! per-(seed, rule, call) draws that make the same seed give the same faults.
//!
//! The draw is documented bit for bit (docs/fault-config.md) so a test in another language can
//! predict which call numbers fire for a seed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Salt of the probability draw.
pub const SALT_FIRE: u64 = 0x6669_7265; // "fire"
/// Salt of [`crate::FiredFault::seed`].
pub const SALT_SEED: u64 = 0x7365_6564; // "seed"
/// Salt of the choice among a rule's alternatives (several context-attack payloads).
pub const SALT_PICK: u64 = 0x7069_636b; // "pick"

/// A time window relative to the proxy's start: open from `start_after` for `duration`
/// (for ever when `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start_after: Duration,
    pub duration: Option<Duration>,
}

impl Window {
    /// Whether the window is open `elapsed` after the proxy started.
    pub fn contains(&self, elapsed: Duration) -> bool {
        elapsed >= self.start_after
            && self
                .duration
                .is_none_or(|d| elapsed < self.start_after.saturating_add(d))
    }
}

/// The schedule of one rule. Call numbers `n` are 1-based and counted per family (see
/// [`crate::CallInfo::call_number`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Schedule {
    /// Fire with this probability on an eligible call (seeded); `None` = always.
    pub probability: Option<f64>,
    /// Calls `1..=after_calls` pass: the rule fires from call `after_calls + 1`.
    pub after_calls: u64,
    /// Fire only on every N-th eligible call: `n - after_calls` a multiple of N.
    pub every_n_calls: Option<u64>,
    /// Stop after firing this many times.
    pub max_fires: Option<u64>,
    /// Fire only while this window is open.
    pub window: Option<Window>,
}

impl Schedule {
    /// Whether call `n` is eligible by count (`after_calls`, `every_n_calls`), before the
    /// window, the probability draw and `max_fires`.
    pub fn counts(&self, n: u64) -> bool {
        if n <= self.after_calls {
            return false;
        }
        self.every_n_calls
            .is_none_or(|every| (n - self.after_calls).is_multiple_of(every.max(1)))
    }

    /// Whether the seeded draw lets rule `rule` fire on call `n`.
    pub fn draws(&self, seed: u64, rule: usize, n: u64) -> bool {
        match self.probability {
            None => true,
            Some(p) if p >= 1.0 => true,
            Some(p) if p <= 0.0 => false,
            Some(p) => unit(draw(seed, rule, n, SALT_FIRE)) < p,
        }
    }

    /// Whether rule `rule` fires on call `n`, `elapsed` after the start, having fired
    /// `fired` times already.
    pub fn fires(&self, seed: u64, rule: usize, n: u64, elapsed: Duration, fired: u64) -> bool {
        self.max_fires.is_none_or(|m| fired < m) && self.allows(seed, rule, n, elapsed)
    }

    /// [`Self::fires`] without `max_fires`: the window, the count and the draw.
    pub fn allows(&self, seed: u64, rule: usize, n: u64, elapsed: Duration) -> bool {
        self.window.is_none_or(|w| w.contains(elapsed))
            && self.counts(n)
            && self.draws(seed, rule, n)
    }

    /// The call numbers in `1..=calls` on which rule `rule` fires for `seed`, assuming every
    /// one of those calls matches the rule and its window (if any) is open.
    pub fn predict(&self, seed: u64, rule: usize, calls: u64) -> Vec<u64> {
        let mut out = Vec::new();
        for n in 1..=calls {
            if self.max_fires.is_some_and(|m| out.len() as u64 >= m) {
                break;
            }
            if self.counts(n) && self.draws(seed, rule, n) {
                out.push(n);
            }
        }
        out
    }
}

/// SplitMix64's finaliser: a fast, well-mixed 64-bit hash step.
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The deterministic draw for (seed, rule index, call number, salt):
/// `mix(mix(mix(seed ^ salt) ^ rule) ^ call)`. Depends on nothing else, so one rule's outcome
/// never depends on other rules, other families' calls or thread timing.
pub fn draw(seed: u64, rule: usize, call: u64, salt: u64) -> u64 {
    mix(mix(mix(seed ^ salt) ^ rule as u64) ^ call)
}

/// A draw as a number in `[0, 1)`: its top 53 bits over 2^53.
pub fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// The time since the proxy started, for `window` schedules.
pub trait Clock: Send + Sync {
    fn elapsed(&self) -> Duration;
}

/// The real clock, on tokio's time so tests that pause tokio time control it too.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    start: tokio::time::Instant,
}

impl TokioClock {
    /// A clock whose zero is now.
    pub fn start() -> TokioClock {
        TokioClock {
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

/// A clock moved by hand, for tests of windows.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock at zero.
    pub fn new() -> ManualClock {
        ManualClock::default()
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.nanos.fetch_add(by, Ordering::SeqCst);
    }

    /// Sets the time since the start.
    pub fn set(&self, at: Duration) {
        let at = u64::try_from(at.as_nanos()).unwrap_or(u64::MAX);
        self.nanos.store(at, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_calls_fires_from_n_plus_one() {
        let s = Schedule {
            after_calls: 3,
            ..Schedule::default()
        };
        assert_eq!(s.predict(1, 0, 6), vec![4, 5, 6]);
    }

    #[test]
    fn every_n_counts_from_after_calls() {
        let s = Schedule {
            after_calls: 2,
            every_n_calls: Some(3),
            ..Schedule::default()
        };
        assert_eq!(s.predict(1, 0, 12), vec![5, 8, 11]);
    }

    #[test]
    fn window_is_half_open() {
        let w = Window {
            start_after: Duration::from_secs(10),
            duration: Some(Duration::from_secs(5)),
        };
        assert!(!w.contains(Duration::from_millis(9_999)));
        assert!(w.contains(Duration::from_secs(10)));
        assert!(w.contains(Duration::from_millis(14_999)));
        assert!(!w.contains(Duration::from_secs(15)));
    }

    #[test]
    fn draw_is_pinned() {
        // Pinned so the documented algorithm (and any re-implementation) stays in step.
        assert_eq!(mix(0), 0xE220_A839_7B1D_CDAF);
        assert_eq!(draw(42, 0, 1, SALT_FIRE), 0xE055_9300_616A_BFF0);
        assert!(unit(u64::MAX) < 1.0);
        // Computed with the Python of docs/fault-config.md.
        let s = Schedule {
            probability: Some(0.3),
            ..Schedule::default()
        };
        assert_eq!(s.predict(42, 0, 40), [4, 7, 9, 15, 20, 29, 31, 36, 39]);
    }
}
