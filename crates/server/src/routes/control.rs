//! The safety lever and the state of the control plane: `POST /api/chaos/halt|resume`,
//! `GET /api/chaos/status`, `GET /api/budgets`. Halt sets the data directory's latch (nothing
//! new starts, here or in any process), signals every registered campaign or run process,
//! cancels this server's own campaigns at once, and records it as the caller.
//!
//! The reads show only what the caller's `read` scopes cover: budgets of the environments it
//! may read, campaigns (here and in other processes) of those environments, agent runs when
//! it may read `test`. The halt latch and the ledger's health are shown to every reader: they
//! say why nothing may start, wherever.

use axum::extract::State;
use axum::{Extension, Json};
use serde_json::{Value, json};
use shakedown_control::halt;
use shakedown_core::system::Environment;
use shakedown_govern::Permission;

use super::blocking;
use crate::error::{ApiError, ApiResult};
use crate::guard::auth::{Caller, ENVIRONMENTS};
use crate::json::OptionalJson;
use crate::model::{HaltRequest, check_reason};
use crate::state::AppState;

pub async fn halt(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    OptionalJson(req): OptionalJson<HaltRequest>,
) -> ApiResult<Json<Value>> {
    caller.require_somewhere(Permission::Halt)?;
    check_reason(req.reason.as_deref()).map_err(ApiError::unprocessable)?;
    let reason = req.reason.unwrap_or_else(|| "halt via the API".to_string());
    // Our own campaigns are not in the signal registry (that would signal this server): they
    // are cancelled first, at once and whatever happens next, and the latch watcher covers
    // halts from elsewhere.
    let cancelled = state.campaigns.cancel_all();
    // The latch, signals and ledger on a thread of their own, not in the shared blocking
    // pool: a queue of slow reads must never delay the halt lever.
    let (tx, rx) = tokio::sync::oneshot::channel();
    let data_dir = state.config.data_dir.clone();
    let actor = caller.id().to_string();
    std::thread::Builder::new()
        .name("halt".into())
        .spawn(move || {
            let _ = tx.send(halt::halt_all(&data_dir, &actor, &reason));
        })
        .map_err(|e| ApiError::internal(format!("cannot start the halt: {e}")))?;
    let out = rx
        .await
        .map_err(|_| ApiError::internal("the halt's thread ended without an answer"))?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(json!({
        "halted": true,
        "halt": out.info,
        "accepted_at": out.accepted_at.to_string(),
        "cancelled_here": cancelled,
        "signalled": out.signalled,
        "signal_errors": out.signal_errors,
        "ledger_seq": out.ledger.as_ref().ok(),
        "ledger_error": out.ledger.as_ref().err(),
    })))
}

pub async fn resume(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Value>> {
    caller.require_everywhere(Permission::Halt)?;
    blocking(move || {
        let out = halt::resume(&state.config.data_dir, caller.id())
            .map_err(|e| ApiError::internal(e.to_string()))?;
        Ok(Json(json!({
            "resumed": out.lifted.is_some(),
            "lifted": out.lifted,
            "ledger_seq": out.ledger.as_ref().ok().filter(|s| **s > 0),
            "ledger_error": out.ledger.as_ref().err(),
        })))
    })
    .await
}

pub async fn status(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Value>> {
    caller.require_somewhere(Permission::Read)?;
    blocking(move || {
        let data = &state.config.data_dir;
        let ledger = match state.governance.ledger.check_writable() {
            Ok(()) => json!({"writable": true}),
            Err(e) => json!({"writable": false, "error": e.to_string()}),
        };
        let mut active = Vec::new();
        for a in shakedown_control::halt_latch::active(data) {
            let env = match a.kind.as_str() {
                "agent_run" => Some(Environment::Test),
                // Registered before it is stored: unknown yet, so only for those who may
                // read everywhere.
                _ => state.store.campaign_environment(&a.id)?,
            };
            let visible = match env {
                Some(e) => caller.may(Permission::Read, e),
                None => caller.require_everywhere(Permission::Read).is_ok(),
            };
            if visible {
                active.push(a);
            }
        }
        Ok(Json(json!({
            "halted": shakedown_control::halt_latch::halted(data),
            "campaigns_running_here": state
                .campaigns
                .running_in(|e| caller.may(Permission::Read, e)),
            "active_processes": active,
            "ledger": ledger,
            "budgets": visible_budgets(data, &caller)?,
        })))
    })
    .await
}

pub async fn budgets(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Vec<crate::budgets::BudgetView>>> {
    caller.require_somewhere(Permission::Read)?;
    blocking(move || visible_budgets(&state.config.data_dir, &caller).map(Json)).await
}

/// The budgets of the environments the caller may read.
fn visible_budgets(
    data_dir: &std::path::Path,
    caller: &Caller,
) -> ApiResult<Vec<crate::budgets::BudgetView>> {
    let all = crate::budgets::remaining(data_dir)
        .map_err(|e| ApiError::internal(format!("cannot read the error budgets: {e}")))?;
    Ok(all
        .into_iter()
        .filter(|b| {
            ENVIRONMENTS
                .iter()
                .find(|e| e.as_str() == b.environment)
                .is_some_and(|e| caller.may(Permission::Read, *e))
        })
        .collect())
}
