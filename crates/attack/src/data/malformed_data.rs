//! `malformed_data` (placeholder until the attack lands).

use shakedown_core::result::AttackOutcome;

use crate::context::AttackContext;

pub async fn run(_ctx: &AttackContext) -> AttackOutcome {
    crate::execute::inconclusive("malformed_data is not built yet".into())
}
