//! The per-token rate limiter: at most `limit` admitted requests per token in any `window`
//! (a sliding log, so a burst straddling a window boundary cannot get twice the limit
//! through). Refused requests are not logged, so a client that backs off is admitted again as
//! soon as its old requests age out. Keyed by the token's hash (never the token itself).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

use super::auth::Caller;
use crate::error::ApiError;

/// Tokens tracked before idle ones are swept out.
const SWEEP_ABOVE: usize = 4096;

/// What the limiter decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow { remaining: u32 },
    Deny { retry_after: Duration },
}

pub struct RateLimiter {
    limit: u32,
    window: Duration,
    clients: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RateLimiter {
    pub fn new(limit: u32, window: Duration) -> RateLimiter {
        RateLimiter {
            limit,
            window,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Admits or refuses one request of `key` at `now`.
    pub fn check(&self, key: &str, now: Instant) -> Decision {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if clients.len() >= SWEEP_ABOVE && !clients.contains_key(key) {
            let window = self.window;
            clients.retain(|_, log| log.back().is_some_and(|t| now.duration_since(*t) < window));
        }
        let log = clients.entry(key.to_string()).or_default();
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

/// Whole seconds, rounded up, at least 1.
pub fn retry_after_secs(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

/// 429 with `Retry-After` beyond the limit. Requests without a caller (health) pass.
pub async fn enforce(
    State(limiter): State<Arc<RateLimiter>>,
    req: Request,
    next: Next,
) -> Response {
    if limiter.limit == 0 {
        return next.run(req).await;
    }
    let Some(key) = req
        .extensions()
        .get::<Caller>()
        .map(|c| c.token_key.clone())
    else {
        return next.run(req).await;
    };
    let limit = HeaderValue::from(limiter.limit);
    match limiter.check(&key, Instant::now()) {
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
            let secs = retry_after_secs(retry_after);
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "rate limit of {} requests per {:?} for this token exceeded; retry in {secs}s",
                    limiter.limit, limiter.window
                ),
            )
            .retry_after(secs)
            .with_header(HeaderName::from_static("x-ratelimit-limit"), limit)
            .with_header(
                HeaderName::from_static("x-ratelimit-remaining"),
                HeaderValue::from(0u32),
            )
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_slides_per_token() {
        let rl = RateLimiter::new(2, Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(rl.check("a", t0), Decision::Allow { remaining: 1 });
        assert_eq!(
            rl.check("a", t0 + Duration::from_secs(9)),
            Decision::Allow { remaining: 0 }
        );
        assert_eq!(
            rl.check("a", t0 + Duration::from_secs(9)),
            Decision::Deny {
                retry_after: Duration::from_secs(1)
            }
        );
        assert_eq!(
            rl.check("b", t0 + Duration::from_secs(9)),
            Decision::Allow { remaining: 1 }
        );
        assert_eq!(
            rl.check("a", t0 + Duration::from_secs(10)),
            Decision::Allow { remaining: 0 }
        );
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
    }
}
