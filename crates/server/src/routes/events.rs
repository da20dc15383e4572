//! `GET /api/events`: the event log as server-sent events — every event of this data
//! directory (campaigns and runs started by the API, the CLI or a schedule, the proxies'
//! `--events`), followed from the store as it is appended. Each SSE `id` is the event's
//! position in the log, so a client that reconnects with `Last-Event-ID` misses nothing; a new
//! stream starts at the end of the log. Only events of environments the caller may `read` are
//! sent. Each client holds one of `max_event_streams` permits (more get 503); streams end on
//! shutdown.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use shakedown_core::Event;
use shakedown_core::system::Environment;
use shakedown_govern::Permission;

use crate::error::{ApiError, ApiResult};
use crate::guard::auth::Caller;
use crate::query::ApiQuery;
use crate::state::AppState;

/// How often the log is read for new events.
const POLL: Duration = Duration::from_millis(100);
/// Most events read per poll (a reconnecting client far behind catches up in steps).
const BATCH: usize = 500;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    campaign_id: Option<String>,
}

/// Where a stream starts: after `Last-Event-ID` when the client sends one (422 when it is not
/// a position), else at the end of the log.
fn start_cursor(state: &AppState, headers: &HeaderMap) -> ApiResult<i64> {
    match headers.get("last-event-id") {
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .filter(|n| *n >= 0)
            .ok_or_else(|| {
                ApiError::unprocessable(
                    "Last-Event-ID must be the id of an event this stream sent (a number)",
                )
            }),
        None => Ok(state.store.last_event_cursor()?),
    }
}

struct Follow {
    state: AppState,
    cursor: i64,
    pending: std::collections::VecDeque<(i64, Event)>,
    filter: Option<String>,
    seen: Visibility,
    /// When the token was last checked: a stream outlives no revocation, expiry or role
    /// change by more than [`RECHECK`].
    checked: tokio::time::Instant,
    _permit: tokio::sync::OwnedSemaphorePermit,
    _per_token: TokenStream,
}

/// One token's share of the live streams, given back when the stream ends.
struct TokenStream {
    counts: Arc<std::sync::Mutex<HashMap<String, usize>>>,
    key: String,
}

impl TokenStream {
    /// At most a quarter of `max_event_streams` (at least 1) per token, else 503.
    fn claim(state: &AppState, key: &str) -> ApiResult<TokenStream> {
        let cap = (state.config.max_event_streams / 4).max(1);
        let mut counts = state
            .streams_by_token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = counts.entry(key.to_string()).or_default();
        if *n >= cap {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too_many_streams",
                format!("this token holds {cap} event streams already; close one first"),
            )
            .retry_after(5));
        }
        *n += 1;
        Ok(TokenStream {
            counts: Arc::clone(&state.streams_by_token),
            key: key.to_string(),
        })
    }
}

impl Drop for TokenStream {
    fn drop(&mut self) {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = counts.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

/// How often a live stream checks its token again.
const RECHECK: Duration = Duration::from_secs(5);

impl Follow {
    /// Re-reads the token and its account: `false` when the token was revoked, expired or
    /// its account removed (the stream then ends); the account's current roles apply.
    async fn still_allowed(&mut self) -> bool {
        let store = Arc::clone(&self.state.store);
        let key = self.seen.caller.token_key.clone();
        let now = time::OffsetDateTime::now_utc();
        let found = tokio::task::spawn_blocking(move || {
            let token = store.token_by_hash(&key).ok().flatten()?;
            if token.revoked_at.is_some() || token.expires_at.is_some_and(|t| t <= now) {
                return None;
            }
            let row = store.account(&token.account_id).ok().flatten()?;
            shakedown_control::auth::account_of(&row).ok()
        })
        .await
        .ok()
        .flatten();
        match found {
            Some(account) => {
                // Visibility is decided per event from the account, so new roles apply at once.
                self.seen.caller.account = account;
                self.checked = tokio::time::Instant::now();
                true
            }
            None => false,
        }
    }

    /// The next event to send, waiting for the log to grow; `None` on shutdown or when the
    /// store cannot be read any more.
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if self.checked.elapsed() >= RECHECK && !self.still_allowed().await {
                return None;
            }
            while let Some((pos, ev)) = self.pending.pop_front() {
                self.cursor = pos;
                if self
                    .filter
                    .as_ref()
                    .is_some_and(|f| ev.campaign_id.as_ref() != Some(f))
                {
                    continue;
                }
                if !self.seen.may_read(&ev).await {
                    continue;
                }
                let data = serde_json::to_string(&ev).unwrap_or_else(|_| "{}".into());
                return Some(
                    SseEvent::default()
                        .event(ev.event_type.clone())
                        .id(pos.to_string())
                        .data(data),
                );
            }
            let store = Arc::clone(&self.state.store);
            let cursor = self.cursor;
            let read = tokio::task::spawn_blocking(move || store.events_after(cursor, BATCH));
            match read.await {
                Ok(Ok(batch)) if !batch.is_empty() => self.pending.extend(batch),
                Ok(Ok(_)) => {
                    tokio::select! {
                        () = self.state.shutdown.cancelled() => return None,
                        () = tokio::time::sleep(POLL) => {}
                    }
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "event stream: cannot read the log");
                    return None;
                }
                Err(_) => return None,
            }
            if self.state.shutdown.is_cancelled() {
                return None;
            }
        }
    }
}

pub async fn stream(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    caller.require_somewhere(Permission::Read)?;
    let cursor = {
        let state = Arc::clone(&state);
        tokio::task::spawn_blocking(move || start_cursor(&state, &headers))
            .await
            .map_err(|e| ApiError::internal(format!("the request's worker failed: {e}")))??
    };
    let per_token = TokenStream::claim(&state, &caller.token_key)?;
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
    let follow = Follow {
        seen: Visibility {
            state: Arc::clone(&state),
            caller,
            known: HashMap::new(),
        },
        state,
        cursor,
        checked: tokio::time::Instant::now(),
        pending: Default::default(),
        filter: q.campaign_id,
        _permit: permit,
        _per_token: per_token,
    };
    let events = futures_util::stream::unfold(follow, |mut f| async move {
        let ev = f.next().await?;
        Some((Ok(ev), f))
    });
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
