//! Load shedding: at most `max_in_flight` requests are handled at once; the next one gets 503
//! with `Retry-After` at once instead of queueing (a queue in front of an overloaded server
//! only adds latency, and the timeout would turn it into 408s anyway).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// In-flight permits.
pub struct Shed {
    permits: Semaphore,
    max: usize,
}

impl Shed {
    pub fn new(max: usize) -> Shed {
        let max = max.min(Semaphore::MAX_PERMITS);
        Shed {
            permits: Semaphore::new(max),
            max,
        }
    }
}

pub async fn enforce(State(shed): State<Arc<Shed>>, req: Request, next: Next) -> Response {
    let Ok(_permit) = shed.permits.try_acquire() else {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            format!(
                "more than {} requests in flight; retry after the Retry-After delay",
                shed.max
            ),
        )
        .retry_after(1)
        .into_response();
    };
    next.run(req).await
}
