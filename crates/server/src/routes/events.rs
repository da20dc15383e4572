//! `GET /api/events`: the event bus as server-sent events. Each client holds one of
//! `max_event_streams` permits (more get 503); the bus keeps a bounded ring per subscriber, so
//! a client that reads too slowly is told how many events it missed (`event: lagged`) instead
//! of making the server buffer without bound. Streams end on shutdown.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use shakedown_govern::Permission;
use tokio::sync::broadcast::error::RecvError;

use crate::error::{ApiError, ApiResult};
use crate::guard::auth::Caller;
use crate::query::ApiQuery;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    campaign_id: Option<String>,
}

pub async fn stream(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    caller.require_somewhere(Permission::Read)?;
    let permit = Arc::clone(&state.streams)
        .try_acquire_owned()
        .map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too_many_streams",
                format!(
                    "{} event streams are open already; retry later",
                    state.config.max_event_streams
                ),
            )
            .retry_after(5)
        })?;
    let rx = state.bus.subscribe();
    let shutdown = state.shutdown.clone();
    let filter = q.campaign_id;
    let events = futures_util::stream::unfold(
        (rx, permit, shutdown, filter),
        |(mut rx, permit, shutdown, filter)| async move {
            loop {
                let next = tokio::select! {
                    () = shutdown.cancelled() => return None,
                    r = rx.recv() => r,
                };
                let sse = match next {
                    Ok(ev) => {
                        if filter
                            .as_ref()
                            .is_some_and(|f| ev.campaign_id.as_ref() != Some(f))
                        {
                            continue;
                        }
                        let data = serde_json::to_string(&ev).unwrap_or_else(|_| "{}".into());
                        SseEvent::default()
                            .event(ev.event_type.clone())
                            .id(ev.id.to_string())
                            .data(data)
                    }
                    Err(RecvError::Lagged(n)) => SseEvent::default()
                        .event("lagged")
                        .data(format!("{{\"missed\":{n}}}")),
                    Err(RecvError::Closed) => return None,
                };
                return Some((Ok(sse), (rx, permit, shutdown, filter)));
            }
        },
    );
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
