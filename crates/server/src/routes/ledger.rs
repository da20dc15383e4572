//! `GET /api/ledger` (entries, paged by seq) and `GET /api/ledger/verify`.

use std::io::{BufRead, BufReader};

use axum::extract::State;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use shakedown_core::system::Environment;
use shakedown_govern::Permission;
use shakedown_ledger::Entry;

use super::blocking;
use crate::error::{ApiError, ApiResult};
use crate::guard::auth::Caller;
use crate::query::{ApiQuery, limit};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntriesQuery {
    after: Option<u64>,
    limit: Option<usize>,
}

pub async fn entries(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<EntriesQuery>,
) -> ApiResult<Json<Value>> {
    caller.require_somewhere(Permission::Read)?;
    let n = limit(q.limit, 100, 1000)?;
    let after = q.after.unwrap_or(0);
    blocking(move || {
        let path = state.governance.ledger.path();
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Json(json!({"entries": [], "next_after": null})));
            }
            Err(e) => {
                return Err(ApiError::internal(format!(
                    "cannot read {}: {e}",
                    path.display()
                )));
            }
        };
        // A shared lock: appends (exclusive) wait, so no torn last line is read.
        file.lock_shared()
            .map_err(|e| ApiError::internal(format!("cannot lock {}: {e}", path.display())))?;
        let mut out: Vec<Entry> = Vec::new();
        let mut more = false;
        for (i, line) in BufReader::new(&file).lines().enumerate() {
            let line = line
                .map_err(|e| ApiError::internal(format!("cannot read {}: {e}", path.display())))?;
            let entry = Entry::parse_line(&line).map_err(|reason| {
                ApiError::conflict(
                    "ledger_damaged",
                    format!(
                        "line {} of the ledger is not an entry ({reason}); GET /api/ledger/verify",
                        i + 1
                    ),
                )
            })?;
            if entry.seq <= after || !visible(&caller, &entry) {
                continue;
            }
            if out.len() == n {
                more = true;
                break;
            }
            out.push(entry);
        }
        let next = if more {
            out.last().map(|e| e.seq)
        } else {
            None
        };
        Ok(Json(json!({"entries": out, "next_after": next})))
    })
    .await
}

/// Entries of an environment the caller may not read are left out (the subcategory of
/// campaign and control entries is their environment).
fn visible(caller: &Caller, e: &Entry) -> bool {
    let env = match e.subcategory.as_str() {
        "test" => Environment::Test,
        "staging" => Environment::Staging,
        "production" => Environment::Production,
        _ => return true,
    };
    caller.may(Permission::Read, env)
}

pub async fn verify(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Value>> {
    caller.require_somewhere(Permission::Read)?;
    blocking(move || {
        let report = state.governance.ledger.verify()?;
        Ok(Json(json!({"ok": report.is_ok(), "report": report})))
    })
    .await
}
