//! A sliding-window rate limiter per client IP: at most `limit` admitted requests in any
//! `window`. A sliding log (rather than a fixed window) means a burst straddling a window
//! boundary cannot get twice the limit through. Refused requests are not logged, so a client
//! that keeps hammering is admitted again as soon as its old requests age out.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use tokio::time::Instant;

use super::EXEMPT_PATH;
use crate::reply;
use crate::state::{ClientAddr, Stats};

/// Clients tracked before idle ones are swept out.
const SWEEP_ABOVE: usize = 4096;

/// What the limiter decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow { remaining: u32 },
    Deny { retry_after: Duration },
}

/// The limiter's state.
pub struct RateLimiter {
    limit: u32,
    window: Duration,
    clients: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
    stats: Arc<Stats>,
}

impl RateLimiter {
    pub fn new(limit: u32, window: Duration, stats: Arc<Stats>) -> RateLimiter {
        RateLimiter {
            limit,
            window,
            clients: Mutex::new(HashMap::new()),
            stats,
        }
    }

    /// Admits or refuses one request from `ip` at `now`.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Decision {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if clients.len() >= SWEEP_ABOVE && !clients.contains_key(&ip) {
            let window = self.window;
            clients.retain(|_, log| log.back().is_some_and(|t| now.duration_since(*t) < window));
        }
        let log = clients.entry(ip).or_default();
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

/// Middleware: 429 with `Retry-After` beyond the limit; `/health` is exempt.
pub async fn enforce(
    State(limiter): State<Arc<RateLimiter>>,
    req: Request,
    next: Next,
) -> Response {
    if req.uri().path() == EXEMPT_PATH {
        return next.run(req).await;
    }
    let ip = req
        .extensions()
        .get::<ClientAddr>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let limit = HeaderValue::from(limiter.limit);
    match limiter.check(ip, Instant::now()) {
        Decision::Allow { remaining } => {
            let mut resp = next.run(req).await;
            let h = resp.headers_mut();
            h.insert(HeaderName::from_static("x-ratelimit-limit"), limit);
            h.insert(
                HeaderName::from_static("x-ratelimit-remaining"),
                HeaderValue::from(remaining),
            );
            resp
        }
        Decision::Deny { retry_after } => {
            Stats::bump(&limiter.stats.rate_limited);
            let secs = retry_after_secs(retry_after);
            let mut resp = reply::error(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "rate limit of {} requests per {:?} exceeded; retry in {secs}s",
                    limiter.limit, limiter.window
                ),
            );
            let h = resp.headers_mut();
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
            h.insert(HeaderName::from_static("x-ratelimit-limit"), limit);
            h.insert(
                HeaderName::from_static("x-ratelimit-remaining"),
                HeaderValue::from(0u32),
            );
            resp
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

    #[test]
    fn the_window_slides() {
        let rl = RateLimiter::new(3, Duration::from_secs(10), Arc::default());
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
        // Another client has its own budget.
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
    fn a_burst_across_a_boundary_gets_no_more_than_the_limit() {
        let rl = RateLimiter::new(5, Duration::from_secs(1), Arc::default());
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
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
    }
}
