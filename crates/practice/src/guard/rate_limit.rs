//! A sliding-window rate limiter per client IP: at most `limit` admitted requests in any
//! `window`. A sliding log (rather than a fixed window) means a burst straddling a window
//! boundary cannot get twice the limit through. Refused requests are not logged, so a client
//! that keeps hammering is admitted again as soon as its old requests age out. The window
//! itself is [`shakedown_httpguard::rate_limit`]'s; the answer and the counter are ours.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use shakedown_httpguard::rate_limit::{Decision, SlidingWindow, retry_after_secs, set_headers};
use tokio::time::Instant;

use super::EXEMPT_PATH;
use crate::reply;
use crate::state::{ClientAddr, Stats};

/// The limiter's state: the window per client IP and the counters it bumps.
pub struct RateLimiter {
    per_ip: SlidingWindow<IpAddr>,
    stats: Arc<Stats>,
}

impl RateLimiter {
    pub fn new(limit: u32, window: Duration, stats: Arc<Stats>) -> RateLimiter {
        RateLimiter {
            per_ip: SlidingWindow::new(limit, window),
            stats,
        }
    }
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
    match limiter.per_ip.check(ip, Instant::now()) {
        Decision::Allow { remaining } => {
            let mut resp = next.run(req).await;
            set_headers(resp.headers_mut(), limiter.per_ip.limit(), remaining);
            resp
        }
        Decision::Deny { retry_after } => {
            Stats::bump(&limiter.stats.rate_limited);
            let secs = retry_after_secs(retry_after);
            let mut resp = reply::error(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "rate limit of {} requests per {:?} exceeded; retry in {secs}s",
                    limiter.per_ip.limit(),
                    limiter.per_ip.window()
                ),
            );
            let h = resp.headers_mut();
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
            set_headers(h, limiter.per_ip.limit(), 0);
            resp
        }
    }
}
