//! `add_latency`: while active, every statement waits `latency` longer before it reaches the
//! server. Overlapping latency actions add up, as stacked network delays would. The wait holds
//! up only the session sending the statement (see the interceptor's "added latency").

use std::time::Duration;

/// An active `add_latency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Latency(pub(crate) Duration);

impl Latency {
    /// The delay one statement gets.
    pub(crate) fn on_statement(self) -> Duration {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_waits_the_latency() {
        let l = Latency(Duration::from_millis(250));
        assert_eq!(l.on_statement(), Duration::from_millis(250));
    }
}
