//! Hooks the executor calls as a campaign advances; the CLI draws progress bars with them.

use shakedown_core::campaign::ComponentScore;
use shakedown_core::{AttackResult, Pattern};

use crate::plan::{Plan, PlannedComponent};

pub trait Progress: Send + Sync {
    fn campaign_started(&self, _plan: &Plan) {}
    fn component_started(&self, _component: &PlannedComponent) {}
    fn attack_started(&self, _component_id: &str, _pattern: Pattern) {}
    fn attack_finished(&self, _result: &AttackResult) {}
    fn component_finished(&self, _score: &ComponentScore) {}
}

/// Progress that shows nothing (tests, the API).
pub struct NoProgress;
impl Progress for NoProgress {}
