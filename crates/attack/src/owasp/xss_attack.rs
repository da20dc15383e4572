//! `xss_attack` (placeholder until the attack lands).

use shakedown_core::result::AttackOutcome;

use crate::context::AttackContext;

pub async fn run(_ctx: &AttackContext) -> AttackOutcome {
    crate::execute::inconclusive("xss_attack is not built yet".into())
}
