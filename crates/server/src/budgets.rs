//! Reading the error budgets of a data directory (`budgets.json`, written under a lock by
//! `control::budget_gate`) without changing them: the remaining fraction of each environment
//! now, refilled up to this moment.

use std::path::Path;

use serde::Serialize;
use shakedown_govern::{BudgetDecision, ErrorBudget};
use time::OffsetDateTime;

/// One environment's budget as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct BudgetView {
    pub environment: String,
    /// Fraction left now, in [0, 1].
    pub remaining: f64,
    /// Below this, campaigns in the environment are refused (429 BudgetExhausted).
    pub threshold: f64,
    pub refill_window_secs: u64,
    /// Whether a campaign may start now.
    pub exhausted: bool,
    /// Seconds until it may, when exhausted.
    pub retry_after_secs: Option<i64>,
}

/// Every environment that has a budget, by name. The file is replaced by rename, so a read
/// never sees half of a write.
pub fn remaining(data_dir: &Path) -> std::io::Result<Vec<BudgetView>> {
    let path = data_dir.join("budgets.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let all: std::collections::BTreeMap<String, ErrorBudget> = serde_json::from_str(&text)
        .map_err(|e| std::io::Error::other(format!("{} is unreadable: {e}", path.display())))?;
    let now = OffsetDateTime::now_utc();
    Ok(all
        .into_iter()
        .map(|(environment, mut b)| {
            let decision = b.check(now);
            let (remaining, exhausted, retry) = match decision {
                BudgetDecision::Allowed { remaining } => (remaining, false, None),
                BudgetDecision::Exhausted {
                    remaining,
                    retry_after,
                } => (remaining, true, Some(retry_after.whole_seconds())),
            };
            BudgetView {
                environment,
                remaining,
                threshold: b.threshold,
                refill_window_secs: b.refill_window_secs,
                exhausted,
                retry_after_secs: retry,
            }
        })
        .collect())
}
