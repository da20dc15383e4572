//! A sliding-window rate limiter: at most `limit` admitted requests per key in any `window`.
//! A sliding log (rather than a fixed window) means a burst straddling a window boundary
//! cannot get twice the limit through. Refused requests are not logged, so a client that backs
//! off (or keeps hammering) is admitted again as soon as its old requests age out. The key is
//! the caller's choice: the REST server keys by token hash, the practice API by client IP.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use tokio::time::Instant;

/// Keys tracked before idle ones are swept out, so a flood of distinct keys cannot grow the
/// map without bound.
const SWEEP_ABOVE: usize = 4096;

/// What the limiter decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Admitted; `remaining` more fit in the window now.
    Allow { remaining: u32 },
    /// Refused; a slot frees after `retry_after`.
    Deny { retry_after: Duration },
}

/// The limiter's state: one log of admission times per key.
pub struct SlidingWindow<K> {
    limit: u32,
    window: Duration,
    clients: Mutex<HashMap<K, VecDeque<Instant>>>,
}

impl<K: Hash + Eq> SlidingWindow<K> {
    /// At most `limit` admissions per key in any `window`.
    pub fn new(limit: u32, window: Duration) -> SlidingWindow<K> {
        SlidingWindow {
            limit,
            window,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The most requests admitted per key in one window.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The window's length.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Admits or refuses one request of `key` at `now`.
    pub fn check(&self, key: K, now: Instant) -> Decision {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if clients.len() >= SWEEP_ABOVE && !clients.contains_key(&key) {
            let window = self.window;
            clients.retain(|_, log| log.back().is_some_and(|t| now.duration_since(*t) < window));
        }
        let log = clients.entry(key).or_default();
        while log
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            log.pop_front();
        }
        let used = u32::try_from(log.len()).unwrap_or(u32::MAX);
        if used < self.limit {
            log.push_back(now);
            Decision::Allow {
                remaining: self.limit - used - 1,
            }
        } else {
            let oldest = log.front().copied().unwrap_or(now);
            Decision::Deny {
                retry_after: self.window.saturating_sub(now.duration_since(oldest)),
            }
        }
    }
}

/// Whole seconds a client should wait, rounded up and at least 1 (`Retry-After` has no
/// fractions, and 0 would invite an immediate retry that is still refused).
pub fn retry_after_secs(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

/// Sets `x-ratelimit-limit` and `x-ratelimit-remaining` on an answer.
pub fn set_headers(headers: &mut HeaderMap, limit: u32, remaining: u32) {
    headers.insert(
        HeaderName::from_static("x-ratelimit-limit"),
        HeaderValue::from(limit),
    );
    headers.insert(
        HeaderName::from_static("x-ratelimit-remaining"),
        HeaderValue::from(remaining),
    );
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

    #[test]
    fn the_window_slides_per_key() {
        let rl = SlidingWindow::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(rl.check(A, t0), Decision::Allow { remaining: 2 });
        assert_eq!(
            rl.check(A, t0 + Duration::from_secs(4)),
            Decision::Allow { remaining: 1 }
        );
        assert_eq!(
            rl.check(A, t0 + Duration::from_secs(9)),
            Decision::Allow { remaining: 0 }
        );
        assert_eq!(
            rl.check(A, t0 + Duration::from_secs(9)),
            Decision::Deny {
                retry_after: Duration::from_secs(1)
            }
        );
        // Another key has its own budget.
        assert_eq!(
            rl.check(B, t0 + Duration::from_secs(9)),
            Decision::Allow { remaining: 2 }
        );
        // At t0+10 the first request ages out: exactly one slot frees, not a whole window.
        assert_eq!(
            rl.check(A, t0 + Duration::from_secs(10)),
            Decision::Allow { remaining: 0 }
        );
        assert!(matches!(
            rl.check(A, t0 + Duration::from_secs(11)),
            Decision::Deny { .. }
        ));
    }

    #[test]
    fn owned_string_keys_work_like_any_other() {
        // The REST server keys by token hash; refusals are not logged, so a refused key is
        // admitted again once its admitted request ages out.
        let rl = SlidingWindow::new(1, Duration::from_secs(10));
        let t0 = Instant::now();
        let hash = |s: &str| s.to_string();
        assert_eq!(rl.check(hash("a"), t0), Decision::Allow { remaining: 0 });
        for s in 1..10 {
            let refused = rl.check(hash("a"), t0 + Duration::from_secs(s));
            assert_eq!(
                refused,
                Decision::Deny {
                    retry_after: Duration::from_secs(10 - s)
                }
            );
        }
        assert_eq!(
            rl.check(hash("b"), t0 + Duration::from_secs(9)),
            Decision::Allow { remaining: 0 }
        );
        assert_eq!(
            rl.check(hash("a"), t0 + Duration::from_secs(10)),
            Decision::Allow { remaining: 0 }
        );
    }

    #[test]
    fn a_burst_across_a_boundary_gets_no_more_than_the_limit() {
        let rl = SlidingWindow::new(5, Duration::from_secs(1));
        let t0 = Instant::now() + Duration::from_millis(990);
        let admitted = (0..20)
            .filter(|i| {
                matches!(
                    rl.check(A, t0 + Duration::from_millis(i * 2)),
                    Decision::Allow { .. }
                )
            })
            .count();
        assert_eq!(admitted, 5);
    }

    #[test]
    fn idle_keys_are_swept_once_the_map_is_full() {
        let rl = SlidingWindow::new(1, Duration::from_secs(1));
        let t0 = Instant::now();
        for k in 0..SWEEP_ABOVE {
            assert_eq!(rl.check(k, t0), Decision::Allow { remaining: 0 });
        }
        // Every old key is idle by now: a new key sweeps them all out.
        let later = t0 + Duration::from_secs(2);
        assert_eq!(
            rl.check(SWEEP_ABOVE, later),
            Decision::Allow { remaining: 0 }
        );
        let clients = rl.clients.lock().unwrap();
        assert_eq!(clients.len(), 1);
    }

    #[test]
    fn headers_say_the_limit_and_what_remains() {
        let mut h = HeaderMap::new();
        set_headers(&mut h, 10, 3);
        assert_eq!(h["x-ratelimit-limit"], "10");
        assert_eq!(h["x-ratelimit-remaining"], "3");
        set_headers(&mut h, 10, 0);
        assert_eq!(h["x-ratelimit-remaining"], "0");
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
    }
}
