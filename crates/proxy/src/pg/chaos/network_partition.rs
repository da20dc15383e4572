//! `network_partition`: while active, a statement never reaches the server. In `blackhole`
//! mode the session stops relaying both ways and the client hangs until its own timeout or
//! the partition's end, when the connection is dropped; in `drop` mode the connection is
//! closed at once. Reconnecting clients meet the partition again at their first statement
//! until it ends.

use std::time::Duration;

use shakedown_sql::chaos::PartitionMode;

use crate::pg::interceptor::Verdict;

/// The verdict for a statement sent `remaining` before the partition ends.
pub(crate) fn verdict(mode: PartitionMode, remaining: Duration) -> Verdict {
    match mode {
        PartitionMode::Blackhole => Verdict::blackhole(Some(remaining)),
        PartitionMode::Drop => Verdict::Disconnect,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_map_to_verdicts() {
        let d = Duration::from_millis(1500);
        assert_eq!(
            verdict(PartitionMode::Blackhole, d),
            Verdict::Blackhole { duration: Some(d) }
        );
        assert_eq!(verdict(PartitionMode::Drop, d), Verdict::Disconnect);
    }
}
