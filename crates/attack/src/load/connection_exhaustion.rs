//! `connection_exhaustion` (placeholder until the attack lands).

use shakedown_core::result::AttackOutcome;

use crate::context::AttackContext;

pub async fn run(_ctx: &AttackContext) -> AttackOutcome {
    crate::execute::inconclusive("connection_exhaustion is not built yet".into())
}
