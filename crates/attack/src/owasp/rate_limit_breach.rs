//! `rate_limit_breach` (placeholder until the attack lands).

use shakedown_core::result::AttackOutcome;

use crate::context::AttackContext;

pub async fn run(_ctx: &AttackContext) -> AttackOutcome {
    crate::execute::inconclusive("rate_limit_breach is not built yet".into())
}
