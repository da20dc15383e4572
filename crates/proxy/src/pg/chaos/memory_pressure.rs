//! `memory_pressure`: `percentage` % of statements fail with SQLSTATE 53200 and the message
//! PostgreSQL sends when an allocation fails. Which ones is drawn from the runtime's seeded
//! generator, so a run with a seed is reproducible.

use rand::Rng;

use crate::pg::interceptor::Rejection;
use crate::pg::sqlstate;

/// Whether this statement runs out of memory, at `percentage` %.
pub(crate) fn hits(percentage: u8, rng: &mut impl Rng) -> bool {
    percentage >= 100 || (percentage > 0 && rng.random_range(0..100u8) < percentage)
}

/// What the client receives.
pub(crate) fn rejection() -> Rejection {
    Rejection::new(sqlstate::OUT_OF_MEMORY, "out of memory")
        .with_detail("Failed on request of size 8192 in memory context \"ExecutorState\".")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn the_share_of_failures_follows_the_percentage() {
        let mut rng = StdRng::seed_from_u64(7);
        assert!((0..100).all(|_| hits(100, &mut rng)));
        assert!((0..100).all(|_| !hits(0, &mut rng)));
        let n = (0..10_000).filter(|_| hits(30, &mut rng)).count();
        assert!((2_700..3_300).contains(&n), "{n}");
        assert_eq!(rejection().sqlstate, "53200");
    }
}
