//! Approval requests: `GET /api/approvals`, `POST /api/approvals/{id}/approve|deny`. Approving
//! needs `approve` on every planned component in the request's environment, and never by the
//! requester. The frozen system text is planned again now: if the plan changed since the
//! request (rankings moved, so other components would be picked), the approval is refused and
//! recorded. Otherwise the request is decided with a compare-and-set (two approvers racing
//! cannot both win), a signed approval of the frozen plan is granted with the ledger key, and
//! the campaign starts with it — so the runner checks the signature, plan and expiry again.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use shakedown_control::approval_signer::LedgerSigner;
use shakedown_control::governance::CAMPAIGN_CATEGORY;
use shakedown_control::launch::preflight;
use shakedown_control::planned;
use shakedown_core::system::Environment;
use shakedown_govern::{Approval, Clock, Permission, PlanHash};
use shakedown_store::ApprovalRequestRow;

use super::blocking;
use super::chaos::{Frozen, plan_error, refusal};
use crate::error::{ApiError, ApiResult};
use crate::guard::auth::Caller;
use crate::json::OptionalJson;
use crate::model::{DecisionRequest, RunAccepted, check_reason};
use crate::query::{ApiQuery, limit, plausible_id};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<String>,
    limit: Option<usize>,
}

const STATUSES: [&str; 4] = ["pending", "approved", "denied", "expired"];

fn environment(name: &str) -> ApiResult<Environment> {
    match name {
        "test" => Ok(Environment::Test),
        "staging" => Ok(Environment::Staging),
        "production" => Ok(Environment::Production),
        other => Err(ApiError::internal(format!(
            "approval request with unknown environment `{other}`"
        ))),
    }
}

fn view(r: &ApprovalRequestRow, ttl: Duration) -> Value {
    let expires = r.created_at + ttl;
    json!({
        "id": r.id,
        "kind": r.kind,
        "environment": r.environment,
        "resource": r.resource,
        "requested_by": r.requested_by,
        "created_at": r.created_at.to_string(),
        "expires_at": expires.to_string(),
        "status": r.status,
        "plan": r.plan,
        "plan_hash": r.plan_hash,
        "risk": r.risk,
        "request": r.request,
        "decided_by": r.decided_by,
        "decided_at": r.decided_at.map(|t| t.to_string()),
        "reason": r.reason,
    })
}

pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Value>> {
    caller.require_somewhere(Permission::Read)?;
    let n = limit(q.limit, 100, 1000)?;
    if let Some(s) = q.status.as_deref().filter(|s| !STATUSES.contains(s)) {
        return Err(ApiError::unprocessable(format!(
            "status `{s}` is not one of {}",
            STATUSES.join(", ")
        )));
    }
    blocking(move || {
        let rows = state.store.approval_requests(q.status.as_deref(), n)?;
        let mut out = Vec::new();
        for r in &rows {
            if caller.may(Permission::Read, environment(&r.environment)?) {
                out.push(view(r, state.config.request_ttl));
            }
        }
        Ok(Json(json!({"approvals": out})))
    })
    .await
}

/// Loads a request and checks the caller may decide it; the pending check is the caller's.
fn decidable(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> ApiResult<(ApprovalRequestRow, Environment)> {
    if !plausible_id(id) {
        return Err(ApiError::not_found("no approval request with that id"));
    }
    let row = state.store.approval_request(id)?.ok_or_else(|| {
        ApiError::not_found(format!(
            "no approval request `{id}`; GET /api/approvals lists them"
        ))
    })?;
    let env = environment(&row.environment)?;
    caller.require(Permission::Approve, env, "*").or_else(|_| {
        // Scoped approvers: every component of the plan must be theirs.
        let comps: Vec<String> = row.plan["components"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        if comps.is_empty() {
            return caller.require(Permission::Approve, env, &row.resource);
        }
        comps
            .iter()
            .try_for_each(|c| caller.require(Permission::Approve, env, c))
    })?;
    if row.status != "pending" {
        return Err(ApiError::conflict(
            "not_pending",
            format!(
                "approval request `{id}` is already {} (by {}); file a new request to run it again",
                row.status,
                row.decided_by.as_deref().unwrap_or("nobody")
            ),
        ));
    }
    Ok((row, env))
}

/// Expires a request past its time; true when it did.
fn expire_if_old(
    state: &AppState,
    caller: &Caller,
    row: &ApprovalRequestRow,
    env: Environment,
) -> ApiResult<bool> {
    let now = state.config.clock.now();
    if now < row.created_at + state.config.request_ttl {
        return Ok(false);
    }
    if state.store.decide_approval_request(
        &row.id,
        "expired",
        "shakedown",
        now,
        Some("not decided in time"),
    )? {
        state.governance_as(caller.id()).record(
            CAMPAIGN_CATEGORY,
            env,
            "approval_expired",
            &row.id,
            json!({"created_at": row.created_at.to_string(), "plan_hash": row.plan_hash}),
        )?;
    }
    Ok(true)
}

pub async fn approve(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<DecisionRequest>,
) -> ApiResult<(StatusCode, Json<RunAccepted>)> {
    check_reason(body.reason.as_deref()).map_err(ApiError::unprocessable)?;
    blocking(move || {
        let (row, env) = decidable(&state, &caller, &id)?;
        if row.requested_by == caller.id() {
            return Err(ApiError::forbidden(format!(
                "{} requested `{id}` and may not approve it; another account holding `approve` must",
                caller.id()
            )));
        }
        if row.kind != "campaign" {
            return Err(ApiError::unprocessable(format!(
                "approval request `{id}` is a {}; only campaign requests are approved here",
                row.kind
            )));
        }
        let gov = state.governance_as(caller.id());
        if expire_if_old(&state, &caller, &row, env)? {
            return Err(ApiError::conflict(
                "expired",
                format!("approval request `{id}` expired before it was decided; file a new one"),
            ));
        }
        let frozen: Frozen = serde_json::from_value(row.request.clone())
            .map_err(|e| ApiError::internal(format!("the frozen request is unreadable: {e}")))?;
        let spec = frozen.spec()?;
        let mut opts = frozen.options()?;
        let (_, _, now_hash) = planned(state.store.as_ref(), &spec, &opts).map_err(plan_error)?;
        if now_hash.0 != row.plan_hash {
            let reason = format!(
                "the plan changed since it was requested (requested {}, now {}); file a new request",
                row.plan_hash, now_hash.0
            );
            if state.store.decide_approval_request(
                &id,
                "denied",
                caller.id(),
                state.config.clock.now(),
                Some(&reason),
            )? {
                gov.record(
                    CAMPAIGN_CATEGORY,
                    env,
                    "approval_refused",
                    &id,
                    json!({"reason": "plan_changed", "requested_plan_hash": row.plan_hash, "plan_hash_now": now_hash.0}),
                )?;
            }
            return Err(ApiError::conflict("plan_changed", reason));
        }
        // Gates again: a halt or an exhausted budget since the request keeps it pending.
        preflight(&state.config.data_dir, &spec, &gov, &id, state.config.clock.now())
            .map_err(refusal)?;
        state.campaigns.check_room(state.config.max_campaigns)?;
        if !state.store.decide_approval_request(
            &id,
            "approved",
            caller.id(),
            state.config.clock.now(),
            body.reason.as_deref(),
        )? {
            return Err(ApiError::conflict(
                "not_pending",
                format!("approval request `{id}` was decided by someone else just now"),
            ));
        }
        let ttl = time::Duration::try_from(state.config.approval_ttl)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let approval = Approval::grant(
            PlanHash(row.plan_hash.clone()),
            caller.id(),
            ttl,
            &state.config.clock,
            &LedgerSigner(gov.ledger.keys()),
        );
        gov.record(
            CAMPAIGN_CATEGORY,
            env,
            "approval_granted",
            &id,
            json!({
                "plan_hash": row.plan_hash,
                "requested_by": row.requested_by,
                "approver": approval.approver,
                "expires_at": approval.expires_at.to_string(),
                "key_id": approval.key_id,
                "reason": body.reason,
            }),
        )?;
        opts.approval = Some(approval);
        // The runner checks the approver against the requester, not against itself.
        opts.requested_by = Some(row.requested_by.clone());
        let campaign_id = crate::spawn::campaign(&state, caller.id(), spec, opts)?;
        Ok((
            StatusCode::ACCEPTED,
            Json(RunAccepted {
                status: "running".into(),
                campaign_id: Some(campaign_id),
                approval_id: Some(id),
                risk: row.risk,
                plan_hash: row.plan_hash,
            }),
        ))
    })
    .await
}

pub async fn deny(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<DecisionRequest>,
) -> ApiResult<Json<Value>> {
    check_reason(body.reason.as_deref()).map_err(ApiError::unprocessable)?;
    blocking(move || {
        let (row, env) = decidable(&state, &caller, &id)?;
        let gov = state.governance_as(caller.id());
        // The record must be possible before the decision is made.
        gov.ledger.check_writable()?;
        if !state.store.decide_approval_request(
            &id,
            "denied",
            caller.id(),
            state.config.clock.now(),
            body.reason.as_deref(),
        )? {
            return Err(ApiError::conflict(
                "not_pending",
                format!("approval request `{id}` was decided by someone else just now"),
            ));
        }
        gov.record(
            CAMPAIGN_CATEGORY,
            env,
            "approval_denied",
            &id,
            json!({"plan_hash": row.plan_hash, "requested_by": row.requested_by, "reason": body.reason}),
        )?;
        Ok(Json(json!({"approval_id": id, "status": "denied"})))
    })
    .await
}
