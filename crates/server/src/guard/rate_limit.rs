//! The per-token rate limiter: at most `limit` admitted requests per token in any `window`
//! (a sliding log, so a burst straddling a window boundary cannot get twice the limit
//! through). Refused requests are not logged, so a client that backs off is admitted again as
//! soon as its old requests age out. Keyed by the token's hash (never the token itself). The
//! window itself is [`shakedown_httpguard::rate_limit`]'s; the answer is the API's.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use shakedown_httpguard::rate_limit::{Decision, SlidingWindow, retry_after_secs, set_headers};
use tokio::time::Instant;

use super::auth::Caller;
use crate::error::ApiError;

/// The limiter, keyed by token hash.
pub type RateLimiter = SlidingWindow<String>;

/// 429 with `Retry-After` beyond the limit. Requests without a caller (health) pass.
pub async fn enforce(
    State(limiter): State<Arc<RateLimiter>>,
    req: Request,
    next: Next,
) -> Response {
    if limiter.limit() == 0 {
        return next.run(req).await;
    }
    let Some(key) = req
        .extensions()
        .get::<Caller>()
        .map(|c| c.token_key.clone())
    else {
        return next.run(req).await;
    };
    match limiter.check(key, Instant::now()) {
        Decision::Allow { remaining } => {
            let mut resp = next.run(req).await;
            set_headers(resp.headers_mut(), limiter.limit(), remaining);
            resp
        }
        Decision::Deny { retry_after } => {
            let secs = retry_after_secs(retry_after);
            let mut resp = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "rate limit of {} requests per {:?} for this token exceeded; retry in {secs}s",
                    limiter.limit(),
                    limiter.window()
                ),
            )
            .retry_after(secs)
            .into_response();
            set_headers(resp.headers_mut(), limiter.limit(), 0);
            resp
        }
    }
}
