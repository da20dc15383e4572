//! What every handler shares: configuration, store, ledger, event bus, metrics, the registry
//! of campaigns this server runs, and the shutdown token.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use shakedown_control::{EventBus, Governance};
use shakedown_core::system::Environment;
use shakedown_store::Store;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::ServerConfig;
use crate::metrics::{Gauges, Metrics};

/// Campaigns whose start failed after they were accepted, kept for `GET` by id.
const FAILED_KEPT: usize = 1000;

/// The handlers' state.
pub type AppState = Arc<Shared>;

/// Shared by every request.
pub struct Shared {
    pub config: ServerConfig,
    pub store: Arc<dyn Store>,
    /// The ledger; its actor is `shakedown`, requests record as their token's account.
    pub governance: Governance,
    pub bus: EventBus,
    pub metrics: Metrics,
    pub campaigns: Campaigns,
    /// Agent runs this server started, by id (their processes).
    pub runs: crate::routes::runs::Runs,
    /// Permits for live `/api/events` streams.
    pub streams: Arc<Semaphore>,
    /// Live `/api/events` streams per token (by token hash): one token may hold at most a
    /// quarter of them, so it cannot take every stream.
    pub streams_by_token: Arc<Mutex<HashMap<String, usize>>>,
    /// Cancelled on shutdown: streams end, campaigns stop as halted.
    pub shutdown: CancellationToken,
    /// Background campaigns, so shutdown can wait for them to store their end.
    pub tasks: TaskTracker,
}

impl Shared {
    /// The governance of one request: the same ledger, `account` as the actor.
    pub fn governance_as(&self, account: &str) -> Governance {
        Governance {
            ledger: Arc::clone(&self.governance.ledger),
            actor: account.to_string(),
        }
    }

    /// The gauges of `/metrics` and `/api/chaos/status`, read now.
    pub fn gauges(&self) -> Gauges {
        Gauges {
            campaigns_running: self.campaigns.running().len(),
            halted: shakedown_control::halt_latch::halted(&self.config.data_dir).is_some(),
            budgets: crate::budgets::remaining(&self.config.data_dir)
                .unwrap_or_default()
                .into_iter()
                .map(|b| (b.environment, b.remaining))
                .collect::<BTreeMap<_, _>>(),
            event_streams: self
                .config
                .max_event_streams
                .saturating_sub(self.streams.available_permits()),
        }
    }
}

/// Campaigns running in this process, each with its own halt token.
#[derive(Default)]
pub struct Campaigns {
    /// Each campaign's environment (what its readers must be allowed to read) and halt token.
    running: Mutex<HashMap<String, (Environment, CancellationToken)>>,
    failed: Mutex<(HashMap<String, String>, VecDeque<String>)>,
}

impl Campaigns {
    /// Removes a campaign that ended.
    pub fn remove(&self, id: &str) {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }

    /// Ids of the campaigns running now, sorted.
    pub fn running(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        ids.sort();
        ids
    }

    /// Ids of the campaigns running now whose environment `visible` admits, sorted.
    pub fn running_in(&self, visible: impl Fn(Environment) -> bool) -> Vec<String> {
        let mut ids: Vec<String> = self
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(_, (env, _))| visible(*env))
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// 503 when `max` campaigns run here already.
    pub fn check_room(&self, max: usize) -> Result<(), crate::error::ApiError> {
        let n = self
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        if n < max {
            return Ok(());
        }
        Err(Self::full(n, max))
    }

    /// Registers a campaign about to start if fewer than `max` run here — checked and
    /// registered under one lock, so concurrent requests never exceed the cap.
    pub fn reserve(
        &self,
        id: &str,
        environment: Environment,
        halt: CancellationToken,
        max: usize,
    ) -> Result<(), crate::error::ApiError> {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        if running.len() >= max {
            return Err(Self::full(running.len(), max));
        }
        running.insert(id.to_string(), (environment, halt));
        Ok(())
    }

    fn full(n: usize, max: usize) -> crate::error::ApiError {
        crate::error::ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "too_many_campaigns",
            format!(
                "{n} campaigns are running on this server (at most {max}); retry when one ends"
            ),
        )
        .retry_after(10)
    }

    /// Cancels every running campaign (halt); returns their ids.
    pub fn cancel_all(&self) -> Vec<String> {
        let map = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        for (_, token) in map.values() {
            token.cancel();
        }
        let mut ids: Vec<String> = map.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Remembers why an accepted campaign never started (bounded: the oldest are forgotten).
    pub fn failed_to_start(&self, id: &str, reason: String) {
        let mut f = self.failed.lock().unwrap_or_else(PoisonError::into_inner);
        let (map, order) = &mut *f;
        map.insert(id.to_string(), reason);
        order.push_back(id.to_string());
        while order.len() > FAILED_KEPT {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
    }

    /// Why an accepted campaign never started, if it did not.
    pub fn failure(&self, id: &str) -> Option<String> {
        self.failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .get(id)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_campaigns_are_listed_by_environment_and_all_are_cancelled() {
        let c = Campaigns::default();
        let tokens: Vec<CancellationToken> = (0..3).map(|_| CancellationToken::new()).collect();
        c.reserve("chaos_b", Environment::Production, tokens[0].clone(), 10)
            .unwrap();
        c.reserve("chaos_a", Environment::Test, tokens[1].clone(), 10)
            .unwrap();
        c.reserve("chaos_c", Environment::Staging, tokens[2].clone(), 10)
            .unwrap();
        assert_eq!(c.running(), ["chaos_a", "chaos_b", "chaos_c"]);
        assert_eq!(
            c.running_in(|e| e != Environment::Production),
            ["chaos_a", "chaos_c"]
        );
        assert!(c.running_in(|_| false).is_empty());
        let e = c
            .reserve("chaos_d", Environment::Test, CancellationToken::new(), 3)
            .unwrap_err();
        assert_eq!(e.status, axum::http::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(c.cancel_all(), ["chaos_a", "chaos_b", "chaos_c"]);
        assert!(tokens.iter().all(CancellationToken::is_cancelled));
        c.remove("chaos_b");
        assert_eq!(c.running(), ["chaos_a", "chaos_c"]);
    }
}
