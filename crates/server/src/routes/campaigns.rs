//! Reading campaigns and rankings: `GET /api/chaos/campaigns[/{id}]`, `/resilience`,
//! `/components`. Everything is filtered by the caller's `read` scope per environment: a
//! campaign by its environment, a component's ranking (an EWMA that blends every campaign
//! that scored it) only when the caller may read every environment it was scored in.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use shakedown_govern::Permission;
use shakedown_store::Ranking;

use super::blocking;
use crate::error::{ApiError, ApiResult};
use crate::guard::auth::Caller;
use crate::query::{ApiQuery, limit, plausible_id};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<usize>,
}

pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Value>> {
    caller.require_somewhere(Permission::Read)?;
    let n = limit(q.limit, 50, 1000)?;
    blocking(move || {
        let all = state.store.campaigns(n)?;
        let visible: Vec<_> = all
            .into_iter()
            .filter(|c| caller.may(Permission::Read, c.environment))
            .collect();
        Ok(Json(
            json!({"campaigns": visible, "running_here": state.campaigns.running_in(|e| caller.may(Permission::Read, e))}),
        ))
    })
    .await
}

pub async fn one(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require_somewhere(Permission::Read)?;
    if !plausible_id(&id) {
        return Err(ApiError::not_found("no campaign with that id"));
    }
    blocking(move || {
        if let Some(c) = state.store.campaign(&id)? {
            caller.require(Permission::Read, c.environment, "*")?;
            return Ok(Json(serde_json::to_value(&c).map_err(|e| {
                ApiError::internal(format!("cannot encode the campaign: {e}"))
            })?));
        }
        // Accepted but not stored yet (approval and scope checks run first), or refused
        // after it was accepted.
        if let Some(reason) = state.campaigns.failure(&id) {
            return Ok(Json(
                json!({"campaign_id": id, "status": "failed_to_start", "error": reason}),
            ));
        }
        if state
            .campaigns
            .running_in(|e| caller.may(Permission::Read, e))
            .contains(&id)
        {
            return Ok(Json(json!({"campaign_id": id, "status": "starting"})));
        }
        Err(ApiError::not_found(format!(
            "no campaign `{id}`; GET /api/chaos/campaigns lists them"
        )))
    })
    .await
}

/// The rankings the caller may read, weakest first: those of components scored only in
/// environments the caller may read.
fn visible_rankings(state: &AppState, caller: &Caller) -> ApiResult<Vec<Ranking>> {
    let envs = state.store.component_environments()?;
    Ok(state
        .store
        .rankings()?
        .into_iter()
        .filter(|r| {
            // A ranking without a campaign behind it (never written by the runner) is shown
            // only to those who may read everywhere.
            envs.get(&r.component_id).map_or_else(
                || caller.require_everywhere(Permission::Read).is_ok(),
                |es| es.iter().all(|e| caller.may(Permission::Read, *e)),
            )
        })
        .collect())
}

pub async fn resilience(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Value>> {
    caller.require_somewhere(Permission::Read)?;
    blocking(move || {
        Ok(Json(
            json!({"rankings": visible_rankings(&state, &caller)?}),
        ))
    })
    .await
}

pub async fn components(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Value>> {
    caller.require_somewhere(Permission::Read)?;
    blocking(move || {
        let mut out = Vec::new();
        for r in visible_rankings(&state, &caller)? {
            let history = state.store.history(&r.component_id)?;
            out.push(json!({"ranking": r, "history": history}));
        }
        Ok(Json(json!({"components": out})))
    })
    .await
}
