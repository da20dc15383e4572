//! Running an accepted campaign in the background: its own halt token (cancelled by the halt
//! route, the latch watcher or shutdown), the caller as the ledger actor, the server's clock,
//! the error budget reserved and settled by the runner, and a record of why it never started
//! if it did not.

use std::sync::Arc;

use shakedown_control::{CampaignRunner, NoProgress, RunOptions};
use shakedown_core::system::SystemSpec;

use crate::state::AppState;

/// Starts `spec` with `opts` as `actor`; returns the campaign id at once, or 503 when the
/// server already runs `max_campaigns`.
pub fn campaign(
    state: &AppState,
    actor: &str,
    spec: SystemSpec,
    mut opts: RunOptions,
) -> Result<String, crate::error::ApiError> {
    let id = opts
        .campaign_id
        .clone()
        .unwrap_or_else(shakedown_control::campaign::new_campaign_id);
    opts.campaign_id = Some(id.clone());
    let halt = state.shutdown.child_token();
    state.campaigns.reserve(
        &id,
        spec.environment,
        halt.clone(),
        state.config.max_campaigns,
    )?;
    // A halt that landed between the preflight and now must still stop it.
    if shakedown_control::halt_latch::halted(&state.config.data_dir).is_some() {
        halt.cancel();
    }
    let runner = CampaignRunner::new(
        Arc::clone(&state.store),
        state.bus.clone(),
        state.governance_as(actor),
    )
    .with_progress(Arc::new(NoProgress))
    .with_halt(halt)
    .with_clock(state.config.clock.clone())
    // The runner reserves the budget before the first attack and settles it on every outcome.
    .with_data_dir(state.config.data_dir.clone());
    let task_state = Arc::clone(state);
    let task_id = id.clone();
    // On the server's runtime, tracked so shutdown waits for the campaign to store its end.
    state.tasks.spawn(async move {
        let outcome = runner.run(&spec, &opts).await.map_err(|e| e.to_string());
        // Budget burn and registry updates touch files: off the async workers.
        let _ = tokio::task::spawn_blocking(move || finish(&task_state, &task_id, outcome)).await;
    });
    Ok(id)
}

/// After a campaign: remember a refusal, leave the registry.
fn finish(
    state: &AppState,
    id: &str,
    outcome: Result<shakedown_core::campaign::CampaignRecord, String>,
) {
    match outcome {
        Ok(record) => {
            tracing::info!(campaign_id = %id, status = record.status.as_str(), "campaign ended");
        }
        Err(e) => {
            tracing::warn!(campaign_id = %id, error = %e, "campaign refused");
            state.campaigns.failed_to_start(id, e);
        }
    }
    state.campaigns.remove(id);
}
