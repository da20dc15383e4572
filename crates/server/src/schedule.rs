//! The scheduler of `shakedown serve --schedule FILE`: each schedule fires at its times and
//! submits its campaign as the built-in `chaos_agent_service` account through the API's own
//! path ([`crate::routes::chaos::submit`]): RBAC on every planned component, the halt latch,
//! the ledger, the production prerequisites, the error budget, the blast radius and the risk
//! decision. So in test a scheduled campaign starts, in staging it files an approval request
//! for a human, and in production the service account is refused. Every firing is recorded in
//! the ledger (category `schedule`): `fired` with what happened, `skipped` while the previous
//! campaign of the schedule still runs, `refused` with the reason.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use serde_json::json;
use shakedown_control::schedule::Schedule;
use shakedown_core::system::{Environment, load_system};
use shakedown_govern::Account;
use time::OffsetDateTime;

use crate::guard::auth::Caller;
use crate::routes::chaos::{Frozen, submit};
use crate::state::AppState;

/// Ledger category of scheduler entries.
pub const SCHEDULE_CATEGORY: &str = "schedule";
/// Largest system file a schedule reads.
const MAX_SYSTEM_FILE: u64 = 1024 * 1024;

/// Starts one task per schedule; they end with the server (shutdown token).
pub fn start(state: &AppState, schedules: Vec<Schedule>) {
    let started = OffsetDateTime::now_utc();
    for s in schedules {
        let state = Arc::clone(state);
        let tasks = state.tasks.clone();
        tasks.spawn(async move { run(state, s, started).await });
    }
}

async fn run(state: AppState, schedule: Schedule, started: OffsetDateTime) {
    let mut last: Option<String> = None;
    loop {
        let now = OffsetDateTime::now_utc();
        let next = schedule.next_fire(started, now);
        let wait = std::time::Duration::try_from(next - now).unwrap_or_default();
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let st = Arc::clone(&state);
        let s = schedule.clone();
        let prev = last.clone();
        let fired = tokio::task::spawn_blocking(move || fire(&st, &s, prev.as_deref())).await;
        if let Ok(Some(id)) = fired {
            last = Some(id);
        }
    }
}

/// The service account schedules act as.
fn service_caller(schedule: &Schedule) -> Caller {
    Caller {
        account: Account::chaos_agent_service(),
        token_key: format!("schedule:{}", schedule.name),
    }
}

/// The environment a system text declares (test when it cannot be read: the entry is about
/// the schedule, and the refusal names the real problem).
fn environment_of(text: &str) -> Environment {
    load_system(text)
        .map(|(spec, _)| spec.environment)
        .unwrap_or(Environment::Test)
}

/// One firing; returns the campaign id it started, if any.
fn fire(state: &AppState, schedule: &Schedule, previous: Option<&str>) -> Option<String> {
    let caller = service_caller(schedule);
    let gov = state.governance_as(caller.id());
    let record = |env: Environment, action: &str, data: serde_json::Value| {
        if let Err(e) = gov.record(SCHEDULE_CATEGORY, env, action, &schedule.name, data) {
            tracing::error!(schedule = %schedule.name, error = %e, "cannot record the firing");
        }
    };
    if let Some(prev) = previous.filter(|p| state.campaigns.running().iter().any(|r| r == p)) {
        record(
            Environment::Test,
            "skipped",
            json!({"reason": format!("campaign {prev} of this schedule is still running")}),
        );
        return None;
    }
    let path = schedule.system_file.display().to_string();
    let text = match read(&schedule.system_file) {
        Ok(t) => t,
        Err(reason) => {
            record(
                Environment::Test,
                "refused",
                json!({"system_file": path, "reason": reason}),
            );
            return None;
        }
    };
    let env = environment_of(&text);
    let frozen = Frozen {
        system: text,
        system_file: path.clone(),
        targets: schedule.targets.clone(),
        patterns: schedule
            .patterns
            .as_ref()
            .map(|ps| ps.iter().map(|p| p.name().to_string()).collect()),
        threshold: schedule.threshold,
    };
    match submit(state, &caller, frozen, &AtomicBool::new(false)) {
        Ok(accepted) => {
            record(
                env,
                "fired",
                json!({
                    "system_file": path,
                    "status": accepted.status,
                    "campaign_id": accepted.campaign_id,
                    "approval_id": accepted.approval_id,
                    "plan_hash": accepted.plan_hash,
                }),
            );
            accepted.campaign_id
        }
        Err(e) => {
            record(
                env,
                "refused",
                json!({"system_file": path, "status": e.status.as_u16(), "reason": e.message}),
            );
            None
        }
    }
}

fn read(path: &std::path::Path) -> Result<String, String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if meta.len() > MAX_SYSTEM_FILE {
        return Err(format!(
            "{} is {} bytes; at most {MAX_SYSTEM_FILE}",
            path.display(),
            meta.len()
        ));
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}
