//! `packet_loss`: `percentage` % of the messages crossing the proxy stall, as a lost TCP
//! segment does: it is resent after the retransmission timeout (200 ms, Linux's minimum),
//! and each further loss of the same segment doubles the wait (200, 600, 1400 ms for one, two
//! or three losses in a row; three at most). Applies to statements on their way to the server
//! and to responses on their way back. Draws come from the runtime's seeded generator.

use std::time::Duration;

use rand::Rng;

/// The first retransmission timeout.
pub(crate) const RTO: Duration = Duration::from_millis(200);
/// Losses of one message in a row, at most.
pub(crate) const MAX_LOSSES: u32 = 3;

/// The stall for one message at `percentage` % loss (zero when it goes through).
pub(crate) fn stall(percentage: u8, rng: &mut impl Rng) -> Duration {
    if percentage == 0 {
        return Duration::ZERO;
    }
    let p = f64::from(percentage.min(100)) / 100.0;
    let mut losses = 0;
    while losses < MAX_LOSSES && rng.random_bool(p) {
        losses += 1;
    }
    // Waits of RTO, 2·RTO, 4·RTO… add up to RTO · (2^n − 1).
    RTO * ((1u32 << losses) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn stalls_follow_retransmission_backoff() {
        let mut rng = StdRng::seed_from_u64(1);
        assert!((0..100).all(|_| stall(0, &mut rng).is_zero()));
        assert!((0..100).all(|_| stall(100, &mut rng) == Duration::from_millis(1400)));
        let draws: Vec<Duration> = (0..10_000).map(|_| stall(10, &mut rng)).collect();
        let stalled = draws.iter().filter(|d| !d.is_zero()).count();
        assert!((800..1_200).contains(&stalled), "{stalled}");
        assert!(
            draws
                .iter()
                .all(|d| [0, 200, 600, 1400].contains(&d.as_millis()))
        );
        // Same seed, same stalls.
        let a: Vec<_> = {
            let mut r = StdRng::seed_from_u64(9);
            (0..50).map(|_| stall(40, &mut r)).collect()
        };
        let b: Vec<_> = {
            let mut r = StdRng::seed_from_u64(9);
            (0..50).map(|_| stall(40, &mut r)).collect()
        };
        assert_eq!(a, b);
    }
}
