//! The guard: the [`Interceptor`] that classifies every statement (simple, extended and
//! function-call), enforces a ChaosTrace-format policy, turns row limits into row checks that
//! lose nothing, reports the `sql_*` and `honeypot_accessed` events, and feeds a chaos
//! script's runtime (which may delay, fail, blackhole or slow statements). With no policy it
//! only observes.

mod catalog;
mod events;
mod session;

use std::sync::Arc;

use shakedown_core::Event;
use shakedown_sql::policy::{Catalog, Policy};
use tokio::sync::mpsc;

use super::chaos::ChaosRuntime;
use super::interceptor::InterceptorFactory;
use super::session_info::SessionInfo;

pub use catalog::read_catalog;
pub use session::GuardSession;

/// Where guard events go: an unbounded channel drained by a writer task, so the hot path only
/// pays for building the event (and nothing at all when there is no sink).
pub type GuardEvents = mpsc::UnboundedSender<Event>;

/// What every session of one proxy shares.
#[derive(Default)]
pub struct GuardConfig {
    /// The policy; `None` = observe only.
    pub policy: Option<Arc<Policy>>,
    /// The database catalog (for `fail_on_unknown_table` and `*` against honeypot columns).
    pub catalog: Option<Arc<Catalog>>,
    /// Where events go; `None` = no events.
    pub events: Option<GuardEvents>,
    /// The chaos script's runtime: fed every SQL event, consulted before every statement and
    /// on every response.
    pub chaos: Option<Arc<ChaosRuntime>>,
}

/// The factory: one [`GuardSession`] per client session.
#[derive(Clone, Default)]
pub struct Guard {
    config: Arc<GuardConfig>,
}

impl Guard {
    pub fn new(config: GuardConfig) -> Guard {
        Guard {
            config: Arc::new(config),
        }
    }
}

impl InterceptorFactory for Guard {
    type Interceptor = GuardSession;

    fn session(&self, session: &SessionInfo) -> GuardSession {
        GuardSession::new(self.config.clone(), session)
    }
}

/// Forwards the chaos runtime's events into the guard's event stream as `chaos_triggered` /
/// `chaos_completed` events, until the runtime drops its sender.
pub fn bridge_chaos_events(
    mut rx: mpsc::Receiver<super::chaos::ChaosEvent>,
    tx: GuardEvents,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(ev) = rx.recv().await {
            let data = serde_json::to_value(&ev).unwrap_or(serde_json::Value::Null);
            let event = Event::named(
                ev.event_type().as_str(),
                None,
                None,
                data,
                time::OffsetDateTime::now_utc(),
            );
            if tx.send(event).is_err() {
                break;
            }
        }
    })
}
