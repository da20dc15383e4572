//! `chaos_triggered` and `chaos_completed`: what the runtime reports about each fired action.
//! Every action produces exactly one of each, in that order, sharing an `id`.

use std::time::Duration;

use serde::Serialize;
use shakedown_sql::SqlEventType;
use shakedown_sql::chaos::{ChaosAction, TriggerType};
use tokio::sync::mpsc;

/// How an action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChaosOutcome {
    /// Its duration ran out; it was undone.
    Expired,
    /// A one-shot action (`simulate_timeout` without a duration) hit its statement.
    Consumed,
    /// The script ended (runtime shut down or halted) while it was active; it was undone.
    Shutdown,
    /// The guardian's halt (`shakedown halt`) removed it while it was active; it was undone.
    HaltedByGuardian,
    /// It never started: the runtime stopped (or was halted) during its `delay_seconds`.
    Cancelled,
    /// It could not be applied; nothing was changed (`error` says why).
    Failed,
    /// It was applied but could not be undone: the database may still be changed (`error`
    /// says what is left).
    UndoFailed,
}

impl ChaosOutcome {
    /// Whether the action ran and left nothing behind.
    pub fn ok(self) -> bool {
        matches!(
            self,
            Self::Expired | Self::Consumed | Self::Shutdown | Self::HaltedByGuardian
        )
    }
}

/// One chaos observation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ChaosEvent {
    /// A trigger fired (sent before the action's delay and before it is applied).
    ChaosTriggered {
        /// Pairs this event with its `chaos_completed`.
        id: u64,
        trigger: String,
        trigger_type: TriggerType,
        /// What was met, in words.
        condition: String,
        /// How many times this trigger has fired, this one included.
        fire_count: u32,
        /// The session whose event fired it (`None` for time triggers).
        session: Option<u64>,
        /// The action with its rendered parameters.
        action: ChaosAction,
        /// `delay_seconds`.
        delay: Duration,
    },
    /// The action ended: undone, expired, consumed, or failed.
    ChaosCompleted {
        id: u64,
        trigger: String,
        session: Option<u64>,
        action: ChaosAction,
        outcome: ChaosOutcome,
        /// Why it failed or could not be undone.
        error: Option<String>,
        /// For actions that act on statements: how many statements (or responses) it hit.
        affected: Option<u64>,
        /// How long it was in force (from applied to undone; for a failure, how long the
        /// attempt took).
        duration: Duration,
    },
}

impl ChaosEvent {
    /// `chaos_triggered` or `chaos_completed`.
    pub fn event_type(&self) -> SqlEventType {
        match self {
            Self::ChaosTriggered { .. } => SqlEventType::ChaosTriggered,
            Self::ChaosCompleted { .. } => SqlEventType::ChaosCompleted,
        }
    }

    /// The action's id.
    pub fn id(&self) -> u64 {
        match self {
            Self::ChaosTriggered { id, .. } | Self::ChaosCompleted { id, .. } => *id,
        }
    }

    /// The action.
    pub fn action(&self) -> &ChaosAction {
        match self {
            Self::ChaosTriggered { action, .. } | Self::ChaosCompleted { action, .. } => action,
        }
    }
}

/// Where events go. The runtime waits when the channel is full (evidence is never dropped),
/// so the receiver must be drained; a closed receiver is ignored.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChaosSink(pub(crate) Option<mpsc::Sender<ChaosEvent>>);

impl ChaosSink {
    pub(crate) async fn emit(&self, event: ChaosEvent) {
        match &event {
            ChaosEvent::ChaosTriggered {
                trigger, action, ..
            } => tracing::info!(%trigger, action = %action.kind(), "chaos triggered"),
            ChaosEvent::ChaosCompleted {
                trigger,
                action,
                outcome,
                error,
                ..
            } => {
                if outcome.ok() {
                    tracing::info!(%trigger, action = %action.kind(), ?outcome, "chaos completed");
                } else {
                    tracing::warn!(%trigger, action = %action.kind(), ?outcome, error = error.as_deref().unwrap_or(""), "chaos completed");
                }
            }
        }
        if let Some(tx) = &self.0 {
            let _ = tx.send(event).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shakedown_sql::TableName;

    #[test]
    fn events_serialise_as_tagged_json() {
        let action = ChaosAction::LockTable {
            table: TableName::new(Some("app"), "users"),
            mode: "SHARE",
            duration: Duration::from_secs(2),
        };
        let e = ChaosEvent::ChaosCompleted {
            id: 3,
            trigger: "t".into(),
            session: Some(9),
            action,
            outcome: ChaosOutcome::UndoFailed,
            error: Some("boom".into()),
            affected: None,
            duration: Duration::from_millis(1500),
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["event"], "chaos_completed");
        assert_eq!(v["action"]["type"], "lock_table");
        assert_eq!(v["action"]["mode"], "SHARE");
        assert_eq!(v["outcome"], "undo_failed");
        assert_eq!(v["session"], 9);
        assert_eq!(e.event_type(), SqlEventType::ChaosCompleted);
        assert!(!ChaosOutcome::UndoFailed.ok() && ChaosOutcome::Expired.ok());
    }
}
