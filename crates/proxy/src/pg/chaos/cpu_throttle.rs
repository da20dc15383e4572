//! `cpu_throttle`: responses slow down in proportion to their real server time, as on a CPU
//! that only gets `1 − p` of its time: at `percentage` p a response that took `t` takes
//! `t / (1 − p)`, so the added delay is `t · p / (1 − p)`. Several throttles multiply.

use std::time::Duration;

/// The most a single response is held back (a 100 % throttle would be forever).
pub(crate) const MAX_EXTRA: Duration = Duration::from_secs(30);

/// The slowdown factor `1 / (1 − p)`, with p capped at 99 %.
pub(crate) fn factor(percentage: u8) -> f64 {
    let p = f64::from(percentage.min(99)) / 100.0;
    1.0 / (1.0 - p)
}

/// The delay to add to a response that took `elapsed` on the server, at total `factor`.
pub(crate) fn extra(elapsed: Duration, factor: f64) -> Duration {
    let secs = elapsed.as_secs_f64() * (factor - 1.0).max(0.0);
    Duration::from_secs_f64(secs.min(MAX_EXTRA.as_secs_f64()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slows_in_proportion() {
        let t = Duration::from_millis(300);
        assert_eq!(extra(t, factor(0)), Duration::ZERO);
        // 50 %: twice as long, so +t.
        assert!((extra(t, factor(50)).as_secs_f64() - 0.3).abs() < 1e-9);
        // 75 %: four times as long, so +3t.
        assert!((extra(t, factor(75)).as_secs_f64() - 0.9).abs() < 1e-9);
        // Two 50 % throttles: four times as long.
        assert!((extra(t, factor(50) * factor(50)).as_secs_f64() - 0.9).abs() < 1e-9);
        assert_eq!(extra(Duration::from_secs(10), factor(100)), MAX_EXTRA);
    }
}
