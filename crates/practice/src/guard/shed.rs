//! Load shedding: at most `max` requests in flight; the next one gets 503 with `Retry-After`
//! at once instead of queueing (a queue in front of an overloaded server only adds latency).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use tokio::sync::Semaphore;

use crate::reply;
use crate::state::Stats;

/// In-flight permits.
pub struct Shed {
    permits: Semaphore,
    stats: Arc<Stats>,
}

impl Shed {
    pub fn new(max: usize, stats: Arc<Stats>) -> Shed {
        Shed {
            permits: Semaphore::new(max.min(Semaphore::MAX_PERMITS)),
            stats,
        }
    }
}

/// Middleware: holds a permit while the request is handled, or sheds it with 503.
pub async fn enforce(State(shed): State<Arc<Shed>>, req: Request, next: Next) -> Response {
    let Ok(_permit) = shed.permits.try_acquire() else {
        Stats::bump(&shed.stats.shed);
        let mut resp = reply::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded: too many requests in flight",
        );
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return resp;
    };
    next.run(req).await
}
