//! `POST /api/chaos/run`: validate the request and the system file (422 with every problem
//! located), plan, check the caller may execute on every planned component, pass the gates
//! (halt, ledger, production prerequisites, error budget), score the risk; then either start
//! the campaign in the background (auto-approved) or file an approval request with the system
//! text and plan frozen, so approving it runs exactly what was asked.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::json;
use shakedown_control::governance::{CAMPAIGN_CATEGORY, campaign_risk, risk_data};
use shakedown_control::launch::{Refusal, preflight};
use shakedown_control::{CampaignError, RunOptions, planned};
use shakedown_core::Pattern;
use shakedown_core::system::{SystemSpec, load_system};
use shakedown_govern::Clock as _;
use shakedown_govern::{Decision, Permission};
use shakedown_store::ApprovalRequestRow;

use super::blocking;
use crate::error::{ApiError, ApiResult};
use crate::guard::auth::Caller;
use crate::json::ApiJson;
use crate::model::{RunAccepted, RunRequest};
use crate::state::AppState;

/// Largest system file read from the server's disk.
const MAX_SYSTEM_FILE: u64 = 1024 * 1024;
/// Most targets or patterns in one request.
const MAX_LIST: usize = 1000;

/// A request as frozen in an approval request: the system text itself, never a path that
/// could change before approval.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Frozen {
    pub system: String,
    /// Where the text came from (a path, or `<request body>`), for the record.
    pub system_file: String,
    pub targets: Option<Vec<String>>,
    pub patterns: Option<Vec<String>>,
    pub threshold: f64,
}

impl Frozen {
    /// The run options this request means.
    pub fn options(&self) -> ApiResult<RunOptions> {
        let mut opts = RunOptions::new(self.system_file.clone());
        opts.threshold = self.threshold;
        opts.plan.targets = self.targets.clone();
        opts.plan.patterns = match &self.patterns {
            None => None,
            Some(names) => Some(
                names
                    .iter()
                    .map(|n| {
                        Pattern::from_name(n.trim()).ok_or_else(|| {
                            ApiError::unprocessable(format!(
                                "unknown pattern `{n}` in patterns; `shakedown patterns` lists them"
                            ))
                        })
                    })
                    .collect::<ApiResult<Vec<_>>>()?,
            ),
        };
        Ok(opts)
    }

    /// Parses the frozen text (422 with every problem, located).
    pub fn spec(&self) -> ApiResult<SystemSpec> {
        load_system(&self.system)
            .map(|(spec, _warnings)| spec)
            .map_err(|problems| {
                let count = problems.errors().count();
                ApiError::unprocessable(format!(
                    "{}\n{}: {count} error(s); the file was not used",
                    problems.render(&self.system_file),
                    self.system_file
                ))
            })
    }
}

/// Turns the request into a [`Frozen`] one: exactly one source, fields in range.
fn freeze(req: RunRequest, files_root: Option<&std::path::Path>) -> ApiResult<Frozen> {
    let threshold = req.threshold.unwrap_or(0.8);
    if !(0.0..=1.0).contains(&threshold) {
        return Err(ApiError::unprocessable(format!(
            "threshold must be between 0 and 1 (e.g. 0.8), got {threshold}"
        )));
    }
    for (name, list) in [("targets", &req.targets), ("patterns", &req.patterns)] {
        if let Some(list) = list {
            if list.is_empty() || list.len() > MAX_LIST {
                return Err(ApiError::unprocessable(format!(
                    "{name} must list 1 to {MAX_LIST} names, or be left out"
                )));
            }
            if let Some(bad) = list.iter().find(|s| s.trim().is_empty() || s.len() > 256) {
                return Err(ApiError::unprocessable(format!(
                    "{name} holds an empty or over-long name ({} bytes)",
                    bad.len()
                )));
            }
        }
    }
    let (system, system_file) = match (req.system_file, req.system) {
        (Some(path), None) => (read_system_file(files_root, &path)?, path),
        (None, Some(text)) => (text, "<request body>".to_string()),
        _ => {
            return Err(ApiError::unprocessable(
                "give exactly one of system_file (a path on the server) or system (the YAML text)",
            ));
        }
    };
    Ok(Frozen {
        system,
        system_file,
        targets: req.targets,
        patterns: req.patterns,
        threshold,
    })
}

fn read_system_file(root: Option<&std::path::Path>, path: &str) -> ApiResult<String> {
    // Only system files, and only under --files-root: the path is chosen by the client and
    // read with the server's rights, and a parse error quotes lines of the file back.
    let lower = path.to_ascii_lowercase();
    if !(lower.ends_with(".yaml") || lower.ends_with(".yml")) {
        return Err(ApiError::unprocessable(format!(
            "system_file `{path}` is not a .yaml or .yml file; send the text as `system` instead"
        )));
    }
    let real = crate::files::resolve(root, path, "system_file")?;
    let unreadable = |e: std::io::Error| {
        ApiError::unprocessable(format!(
            "cannot read system_file `{path}` on the server: {e}"
        ))
    };
    let meta = std::fs::metadata(&real).map_err(unreadable)?;
    if meta.len() > MAX_SYSTEM_FILE {
        return Err(ApiError::unprocessable(format!(
            "system_file `{path}` is {} bytes; at most {MAX_SYSTEM_FILE}",
            meta.len()
        )));
    }
    std::fs::read_to_string(&real).map_err(unreadable)
}

/// The answer for a planning error.
pub fn plan_error(e: CampaignError) -> ApiError {
    match e {
        CampaignError::Store(s) => s.into(),
        CampaignError::Ledger(l) => l.into(),
        e @ (CampaignError::UnknownTarget { .. }
        | CampaignError::BlastRadius { .. }
        | CampaignError::UnknownPattern { .. }
        | CampaignError::NothingTestable { .. }
        | CampaignError::ProductionNeedsApproval) => ApiError::unprocessable(e.to_string()),
        e => ApiError::internal(e.to_string()),
    }
}

/// The answer for a gate's refusal.
pub fn refusal(r: Refusal) -> ApiError {
    let gate = HeaderName::from_static("x-gate-enforced");
    let gate_value = HeaderValue::from_static(r.gate());
    let msg = format!("refusing to start the campaign: {r}");
    match r {
        Refusal::Halted(_) => ApiError::new(StatusCode::LOCKED, "halted", msg),
        Refusal::LedgerUnusable(_) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "ledger_unusable", msg)
        }
        Refusal::BudgetExhausted {
            retry_after_secs, ..
        } => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "budget_exhausted", msg)
            .retry_after(u64::try_from(retry_after_secs).unwrap_or(1)),
        Refusal::Budgets(_) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "budgets_unreadable", msg)
        }
        Refusal::ProductionPrerequisite(_) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "halt_path_unhealthy", msg)
        }
    }
    .with_header(gate, gate_value)
}

/// A fresh approval request id.
fn new_approval_id() -> String {
    format!("apr_{:016x}", rand::random::<u64>())
}

pub async fn run(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(req): ApiJson<RunRequest>,
) -> ApiResult<(StatusCode, Json<RunAccepted>)> {
    // Nothing is read from disk for a caller who may not execute anywhere.
    caller.require_somewhere(Permission::Execute)?;
    // If the request times out (408) its future is dropped while the blocking work goes on;
    // the flag tells that work not to start anything the client was told failed.
    let abandoned = Arc::new(AtomicBool::new(false));
    let _guard = Abandoned(Arc::clone(&abandoned));
    blocking(move || {
        let frozen = freeze(req, state.config.files_root.as_deref())?;
        submit(&state, &caller, frozen, &abandoned).map(|a| (StatusCode::ACCEPTED, Json(a)))
    })
    .await
}

/// Sets its flag when the request's future is dropped (a timeout, a closed connection).
struct Abandoned(Arc<AtomicBool>);

impl Drop for Abandoned {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn check_wanted(abandoned: &AtomicBool) -> ApiResult<()> {
    if abandoned.load(Ordering::SeqCst) {
        return Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "abandoned",
            "the request timed out before the campaign started; nothing was started",
        ));
    }
    Ok(())
}

/// Plans a frozen request as `caller`, checks RBAC on every planned component and the gates,
/// scores the risk, and starts the campaign or files an approval request. The one path of the
/// API and of schedules (blocking: call it off the async workers).
pub fn submit(
    state: &AppState,
    caller: &Caller,
    frozen: Frozen,
    abandoned: &AtomicBool,
) -> ApiResult<RunAccepted> {
    let spec = frozen.spec()?;
    let opts = frozen.options()?;
    let env = spec.environment;
    let (plan, snapshot, hash) = planned(state.store.as_ref(), &spec, &opts).map_err(plan_error)?;
    for pc in &plan.components {
        caller.require(Permission::Execute, env, &pc.component.id)?;
    }
    let gov = state.governance_as(caller.id());
    preflight(
        &state.config.data_dir,
        &spec,
        &gov,
        &frozen.system_file,
        state.config.clock.now(),
    )
    .map_err(refusal)?;
    let rankings = state.store.rankings()?;
    let risk = campaign_risk(&plan, spec.blast_radius_limit, &rankings);
    if risk.decision == Decision::AutoApproved {
        check_wanted(abandoned)?;
        let id = crate::spawn::campaign(state, caller.id(), spec, opts)?;
        return Ok(RunAccepted {
            status: "running".into(),
            campaign_id: Some(id),
            approval_id: None,
            risk: risk_data(&risk),
            plan_hash: hash.0,
        });
    }
    let id = new_approval_id();
    let components: Vec<&str> = plan
        .components
        .iter()
        .map(|c| c.component.id.as_str())
        .collect();
    let row = ApprovalRequestRow {
        id: id.clone(),
        kind: "campaign".into(),
        environment: env.as_str().to_string(),
        resource: components.join(","),
        requested_by: caller.id().to_string(),
        created_at: state.config.clock.now(),
        status: "pending".into(),
        plan: snapshot.clone(),
        plan_hash: hash.0.clone(),
        risk: risk_data(&risk),
        request: serde_json::to_value(&frozen)
            .map_err(|e| ApiError::internal(format!("cannot freeze the request: {e}")))?,
        decided_by: None,
        decided_at: None,
        reason: None,
    };
    check_wanted(abandoned)?;
    state.store.insert_approval_request(&row)?;
    let recorded = gov.record(
        CAMPAIGN_CATEGORY,
        env,
        "approval_requested",
        &id,
        json!({
            "system_file": frozen.system_file,
            "plan": snapshot,
            "plan_hash": hash.0,
            "risk": row.risk,
        }),
    );
    if let Err(e) = recorded {
        // Unrecorded, it must not be approvable: withdraw it (fail closed).
        let _ = state.store.decide_approval_request(
            &id,
            "denied",
            "shakedown",
            state.config.clock.now(),
            Some("the ledger could not record the request"),
        );
        return Err(e.into());
    }
    Ok(RunAccepted {
        status: "pending_approval".into(),
        campaign_id: None,
        approval_id: Some(id),
        risk: row.risk,
        plan_hash: hash.0,
    })
}
