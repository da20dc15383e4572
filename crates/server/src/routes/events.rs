//! `GET /api/events`: the event bus as server-sent events. Each client holds one of
//! `max_event_streams` permits (more get 503); the bus keeps a bounded ring per subscriber, so
//! a client that reads too slowly is told how many events it missed (`event: lagged`) instead
//! of making the server buffer without bound. Streams end on shutdown.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use shakedown_core::Event;
use shakedown_core::system::Environment;
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
    let seen = Visibility {
        state: Arc::clone(&state),
        caller,
        known: HashMap::new(),
    };
    let events = futures_util::stream::unfold(
        (rx, permit, shutdown, filter, seen),
        |(mut rx, permit, shutdown, filter, mut seen)| async move {
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
                        if !seen.may_read(&ev).await {
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
                return Some((Ok(sse), (rx, permit, shutdown, filter, seen)));
            }
        },
    );
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Which events a caller may see: those of campaigns in environments where it may `read`
/// (events without a campaign are not environment-bound). The environment of a campaign is
/// learnt from its `campaign.started` event or, failing that, the store, once per campaign.
struct Visibility {
    state: AppState,
    caller: Caller,
    known: HashMap<String, Option<Environment>>,
}

impl Visibility {
    async fn may_read(&mut self, ev: &Event) -> bool {
        let Some(id) = ev.campaign_id.clone() else {
            return true;
        };
        if !self.known.contains_key(&id) {
            let from_event = ev
                .data
                .get("environment")
                .and_then(|v| serde_json::from_value::<Environment>(v.clone()).ok());
            let env = match from_event {
                Some(env) => Some(env),
                None => {
                    let store = Arc::clone(&self.state.store);
                    let lookup = id.clone();
                    tokio::task::spawn_blocking(move || {
                        store
                            .campaign(&lookup)
                            .ok()
                            .flatten()
                            .map(|c| c.environment)
                    })
                    .await
                    .ok()
                    .flatten()
                }
            };
            // A bounded cache: a long-lived stream sees many campaigns.
            if self.known.len() >= 10_000 {
                self.known.clear();
            }
            self.known.insert(id.clone(), env);
        }
        match self.known.get(&id).copied().flatten() {
            Some(env) => self.caller.may(Permission::Read, env),
            // Unknown campaign (not stored, e.g. an agent run's events): readable by whoever
            // may read in the test environment, where runs live.
            None => self.caller.may(Permission::Read, Environment::Test),
        }
    }
}
