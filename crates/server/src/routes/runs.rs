//! The agent-run API: `GET|POST /api/runs`, `GET /api/runs/{id}`,
//! `POST /api/runs/{id}/terminate`, `GET /api/reports/{id}` and its `/score` and `/ci` views.
//! Handlers are added to [`router`]; [`ROUTES`] documents them in `/api/openapi.json`.
//!
//! A run is carried by its own `shakedown run` process (the same binary as the server), so an
//! agent that crashes or hangs never takes the API down, and a run started here is the same
//! thing as one started from a terminal: registered for `shakedown halt`, recorded in the
//! ledger (with the token's account as the actor), stored with its report. The server answers
//! 202 with the run's id at once; the process's output goes to `<data>/runs/<id>.log`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use shakedown_agent::report::{RunReport, junit, markdown, sarif};
use shakedown_core::system::Environment;
use shakedown_govern::Permission;
use shakedown_store::RunRow;

use super::{RouteDoc, blocking, schema_of};
use crate::error::{ApiError, ApiResult};
use crate::guard::auth::Caller;
use crate::json::ApiJson;
use crate::query::{ApiQuery, limit, plausible_id};
use crate::state::AppState;

/// The scope resource of every agent run (runs are sandboxed: environment `test`).
const RUN_RESOURCE: &str = "agent_run";
/// How long `terminate` waits for the run to store its end.
const TERMINATE_WAIT: Duration = Duration::from_secs(20);
/// Most bytes of a failed start's log echoed back.
const LOG_TAIL: usize = 4000;

/// The run API as documented.
pub const ROUTES: &[RouteDoc] = &[
    RouteDoc {
        query: &[("limit", "most runs, newest first (1–1000, default 50)")],
        scope: "test_environment (agent runs are sandboxed)",
        ..RouteDoc::new("GET", "/api/runs", "Agent runs, newest first")
    },
    RouteDoc {
        permission: Some(Permission::Execute),
        scope: "test_environment (agent runs are sandboxed)",
        success: 202,
        request: Some(schema_of::<RunBody>),
        ..RouteDoc::new("POST", "/api/runs", "Start an agent run")
    },
    RouteDoc {
        scope: "test_environment",
        ..RouteDoc::new("GET", "/api/runs/{id}", "One run's status")
    },
    RouteDoc {
        permission: Some(Permission::Execute),
        scope: "test_environment",
        ..RouteDoc::new(
            "POST",
            "/api/runs/{id}/terminate",
            "Stop a running run (agent killed, chaos undone, sandbox torn down)",
        )
    },
    RouteDoc {
        query: &[("format", "json (default), markdown, junit or sarif")],
        scope: "test_environment",
        ..RouteDoc::new("GET", "/api/reports/{id}", "A run's report")
    },
    RouteDoc {
        scope: "test_environment",
        ..RouteDoc::new("GET", "/api/reports/{id}/score", "A run's scores")
    },
    RouteDoc {
        scope: "test_environment",
        ..RouteDoc::new(
            "GET",
            "/api/reports/{id}/ci",
            "A run's CI verdict (passed, exit code)",
        )
    },
];

/// The run routes (merged into the API router, behind the same guards).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/runs", get(list).post(start))
        .route("/api/runs/{id}", get(one))
        .route("/api/runs/{id}/terminate", post(terminate))
        .route("/api/reports/{id}", get(report))
        .route("/api/reports/{id}/score", get(score))
        .route("/api/reports/{id}/ci", get(ci))
}

/// `POST /api/runs`: what `shakedown run` takes, as JSON. Names resolve on the server
/// (built-in scenarios, policies, chaos scripts and fault profiles, or files on its disk).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunBody {
    /// The agent as a command (needs a server started with `--allow-agent-commands`).
    pub agent: Option<String>,
    /// The agent as an HTTP endpoint (one JSON POST per cell; loopback only).
    pub agent_url: Option<String>,
    /// A built-in scenario name or a scenario file on the server.
    pub scenario: String,
    pub policy: Option<String>,
    pub chaos: Option<String>,
    /// Fault profiles or files.
    #[serde(default)]
    pub faults: Vec<String>,
    /// Repeats per cell (1–100, default 1).
    pub repeat: Option<u32>,
    /// Overall score to pass, 0–100 (default 70).
    pub threshold: Option<f64>,
    pub seed: Option<u64>,
    /// A mock-LLM rules file on the server to answer the agent's LLM calls.
    pub mock_llm: Option<String>,
    /// An existing PostgreSQL server instead of the managed one.
    pub pg_url: Option<String>,
    pub fs_policy: Option<String>,
    /// Run without Landlock (only where the kernel lacks it).
    #[serde(default)]
    pub no_fs_sandbox: bool,
}

/// A run this server started whose process ended before it stored the run.
#[derive(Debug, Clone)]
struct FailedStart {
    exit_code: Option<i32>,
    log_tail: String,
}

/// Failed starts kept for `GET /api/runs/{id}` (the oldest are forgotten first).
const FAILED_KEPT: usize = 1000;

/// The runs this server started: their processes while they live, and why recent ones never
/// started.
#[derive(Default)]
pub struct Runs {
    live: Mutex<HashMap<String, u32>>,
    failed: Mutex<(
        HashMap<String, FailedStart>,
        std::collections::VecDeque<String>,
    )>,
}

impl Runs {
    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn failed_start(&self, id: String, f: FailedStart) {
        let mut g = self.failed.lock().unwrap_or_else(PoisonError::into_inner);
        let (map, order) = &mut *g;
        if map.insert(id.clone(), f).is_none() {
            order.push_back(id);
        }
        while order.len() > FAILED_KEPT {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
    }

    fn failure(&self, id: &str) -> Option<FailedStart> {
        self.failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .get(id)
            .cloned()
    }
}

fn plain(s: &str, what: &str) -> ApiResult<()> {
    if s.trim().is_empty() || s.len() > 4096 || s.contains('\0') {
        return Err(ApiError::unprocessable(format!(
            "`{what}` must be 1–4096 characters without NUL"
        )));
    }
    Ok(())
}

/// A built-in name as given, or a file under `--files-root` as its real path.
fn named(
    root: Option<&std::path::Path>,
    value: &str,
    what: &str,
    always_file: bool,
) -> ApiResult<String> {
    if always_file || crate::files::is_path(value) {
        Ok(crate::files::resolve(root, value, what)?
            .display()
            .to_string())
    } else {
        Ok(value.to_string())
    }
}

/// The database server of a run must be on this machine (the sandbox is local, and a request
/// must not make the server connect elsewhere): `postgres[ql]://…@127.0.0.1|[::1]|localhost…`.
fn check_pg_url(url: &str) -> ApiResult<()> {
    let bad = |why: &str| {
        ApiError::unprocessable(format!(
            "pg_url must be postgres://USER:PASSWORD@127.0.0.1:PORT/DB (one server on this \
             machine; only `sslmode` may follow `?`): {why}"
        ))
    };
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .ok_or_else(|| bad("not a postgres:// URL"))?;
    // libpq and tokio-postgres end the user part at the FIRST `@` and take `host=`/`hostaddr=`
    // from the query: anything that could name another host than the one checked is refused.
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    if let Some(q) = query {
        let only_sslmode = q.split('&').all(|kv| {
            kv.split_once('=').is_some_and(|(k, v)| {
                k == "sslmode" && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
        });
        if !only_sslmode {
            return Err(bad("a query parameter other than sslmode"));
        }
    }
    if before_query.matches('@').count() > 1 {
        return Err(bad("more than one `@` (percent-encode it in the password)"));
    }
    let host_part = before_query
        .split_once('@')
        .map_or(before_query, |(_, h)| h);
    let host_port = host_part.split('/').next().unwrap_or("");
    if host_port.contains(',') {
        return Err(bad("more than one host"));
    }
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(bad("not a loopback host"))
    }
}

/// Checks the body before anything starts; returns the `shakedown run` arguments.
fn arguments(
    body: &RunBody,
    allow_commands: bool,
    run_id: &str,
    root: Option<&std::path::Path>,
) -> ApiResult<Vec<String>> {
    let mut args = vec!["run".to_string(), "--run-id".into(), run_id.into()];
    match (&body.agent, &body.agent_url) {
        (Some(cmd), None) => {
            plain(cmd, "agent")?;
            if !allow_commands {
                return Err(ApiError::forbidden(
                    "this server does not start agent commands; use `agent_url`, or start the \
                     server with `--allow-agent-commands`",
                ));
            }
            args.extend(["--agent".into(), cmd.clone()]);
        }
        (None, Some(url)) => {
            plain(url, "agent_url")?;
            shakedown_run::check_url(url).map_err(|e| ApiError::unprocessable(e.to_string()))?;
            args.extend(["--agent-url".into(), url.clone()]);
        }
        _ => {
            return Err(ApiError::unprocessable(
                "give exactly one of `agent` (a command) or `agent_url`",
            ));
        }
    }
    plain(&body.scenario, "scenario")?;
    args.extend([
        "--scenario".into(),
        named(root, &body.scenario, "scenario", false)?,
    ]);
    for (flag, v, always_file) in [
        ("--policy", &body.policy, false),
        ("--chaos", &body.chaos, false),
        ("--mock-llm", &body.mock_llm, true),
        ("--fs-policy", &body.fs_policy, false),
    ] {
        if let Some(v) = v {
            plain(v, &flag[2..])?;
            args.extend([flag.to_string(), named(root, v, &flag[2..], always_file)?]);
        }
    }
    if let Some(url) = &body.pg_url {
        plain(url, "pg_url")?;
        check_pg_url(url)?;
    }
    if !body.faults.is_empty() {
        let mut resolved = Vec::new();
        for f in &body.faults {
            plain(f, "faults")?;
            if f.contains(',') {
                return Err(ApiError::unprocessable(
                    "a `faults` entry names one profile or file (no commas)",
                ));
            }
            resolved.push(named(root, f, "faults", false)?);
        }
        args.extend(["--faults".into(), resolved.join(",")]);
    }
    let repeat = body.repeat.unwrap_or(1);
    if !(1..=100).contains(&repeat) {
        return Err(ApiError::unprocessable(format!(
            "`repeat` must be from 1 to 100, got {repeat}"
        )));
    }
    args.extend(["--repeat".into(), repeat.to_string()]);
    let threshold = body.threshold.unwrap_or(70.0);
    if !(0.0..=100.0).contains(&threshold) {
        return Err(ApiError::unprocessable(format!(
            "`threshold` is an overall score from 0 to 100, got {threshold}"
        )));
    }
    args.extend(["--threshold".into(), threshold.to_string()]);
    if let Some(seed) = body.seed {
        args.extend(["--seed".into(), seed.to_string()]);
    }
    if body.no_fs_sandbox {
        // The API never runs an agent unconfined: that is the operator's call on the host.
        return Err(ApiError::forbidden(
            "no_fs_sandbox is not accepted over the API: agents started here always run \
             confined by Landlock; run `shakedown run --no-fs-sandbox` on the host instead",
        ));
    }
    Ok(args)
}

/// The `shakedown` executable carrying runs: `SHAKEDOWN_EXE` when set, else this process.
fn shakedown_exe() -> ApiResult<PathBuf> {
    match std::env::var_os("SHAKEDOWN_EXE") {
        Some(p) => Ok(PathBuf::from(p)),
        None => std::env::current_exe()
            .map_err(|e| ApiError::internal(format!("cannot find the shakedown executable: {e}"))),
    }
}

fn tail(path: &std::path::Path) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let start = text.len().saturating_sub(LOG_TAIL);
    String::from_utf8_lossy(&text[start..]).into_owned()
}

async fn start(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<RunBody>,
) -> ApiResult<Response> {
    caller.require(Permission::Execute, Environment::Test, RUN_RESOURCE)?;
    let run_id = shakedown_run::new_run_id();
    let root = state.config.files_root.as_deref();
    let args = arguments(&body, state.config.allow_agent_commands, &run_id, root)?;
    if let Some(info) = shakedown_control::halt_latch::halted(&state.config.data_dir) {
        return Err(ApiError::new(
            StatusCode::LOCKED,
            "halted",
            format!(
                "chaos is halted (by {} at {}: {}); POST /api/chaos/resume lifts the halt",
                info.by, info.at, info.reason
            ),
        ));
    }
    let running = state.runs.live().len();
    if running >= state.config.max_runs {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_runs",
            format!("{running} agent runs are running on this server (--max-runs); retry later"),
        )
        .retry_after(30));
    }
    let exe = shakedown_exe()?;
    let runs_dir = state.config.data_dir.join("runs");
    std::fs::create_dir_all(&runs_dir)
        .map_err(|e| ApiError::internal(format!("cannot create {}: {e}", runs_dir.display())))?;
    let log_path = runs_dir.join(format!("{run_id}.log"));
    let log = std::fs::File::create(&log_path)
        .map_err(|e| ApiError::internal(format!("cannot create {}: {e}", log_path.display())))?;
    let log_err = log
        .try_clone()
        .map_err(|e| ApiError::internal(format!("cannot share {}: {e}", log_path.display())))?;
    // Relative names in the agent's command resolve in --files-root; without one the run
    // starts in the runs directory, where no request-named file can be found.
    let cwd = root.map_or_else(|| runs_dir.clone(), std::path::Path::to_path_buf);
    let mut child = tokio::process::Command::new(exe)
        .current_dir(cwd)
        .arg("--data-dir")
        .arg(
            std::path::absolute(&state.config.data_dir)
                .unwrap_or_else(|_| state.config.data_dir.clone()),
        )
        .args(&args)
        // The ledger's actor of the run is the token's account.
        .env("USER", caller.id())
        // The database URL carries a password: by environment, never on the command line
        // (which any local user can read).
        .env_remove("SHAKEDOWN_PG_URL")
        .envs(
            body.pg_url
                .as_ref()
                .map(|u| ("SHAKEDOWN_PG_URL", u.as_str())),
        )
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .kill_on_drop(false)
        .spawn()
        .map_err(|e| ApiError::internal(format!("cannot start the run's process: {e}")))?;
    if let Some(pid) = child.id() {
        state.runs.live().insert(run_id.clone(), pid);
    }
    let task_state = Arc::clone(&state);
    let id = run_id.clone();
    state.tasks.spawn(async move {
        let state = task_state;
        // On shutdown the run is terminated like `POST …/terminate`: SIGTERM, and its process
        // stores it as terminated (bounded wait).
        let status = tokio::select! {
            s = child.wait() => s,
            () = state.shutdown.cancelled() => {
                if let Some(pid) = child.id() {
                    let _ = std::process::Command::new("kill")
                        .args(["-TERM", &pid.to_string()])
                        .status();
                }
                match tokio::time::timeout(TERMINATE_WAIT, child.wait()).await {
                    Ok(s) => s,
                    Err(_) => {
                        let _ = child.start_kill();
                        child.wait().await
                    }
                }
            }
        };
        state.runs.live().remove(&id);
        let stored = {
            let store = Arc::clone(&state.store);
            let id = id.clone();
            tokio::task::spawn_blocking(move || store.run(&id).ok().flatten())
                .await
                .ok()
                .flatten()
        };
        if stored.is_none() {
            state.runs.failed_start(
                id,
                FailedStart {
                    exit_code: status.ok().and_then(|s| s.code()),
                    log_tail: tail(&log_path),
                },
            );
        }
    });
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "run_id": run_id,
            "status": "starting",
            "links": {
                "self": format!("/api/runs/{run_id}"),
                "report": format!("/api/reports/{run_id}"),
            },
        })),
    )
        .into_response())
}

fn summary(r: &RunRow) -> Value {
    json!({
        "run_id": r.id,
        "scenario": r.scenario,
        "status": r.status,
        "started_at": r.started_at.to_string(),
        "finished_at": r.finished_at.map(|t| t.to_string()),
        "overall_score": r.overall,
        "safety_score": r.safety,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<usize>,
}

async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Value>> {
    caller.require(Permission::Read, Environment::Test, RUN_RESOURCE)?;
    let n = limit(q.limit, 50, 1000)?;
    blocking(move || {
        let runs: Vec<Value> = state.store.runs(n)?.iter().map(summary).collect();
        Ok(Json(json!({"runs": runs})))
    })
    .await
}

/// The stored run, or the 404 naming what to do.
fn stored(state: &AppState, id: &str) -> ApiResult<RunRow> {
    if !plausible_id(id) {
        return Err(ApiError::not_found("no run with that id"));
    }
    state
        .store
        .run(id)?
        .ok_or_else(|| ApiError::not_found(format!("no run `{id}`; GET /api/runs lists them")))
}

async fn one(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require(Permission::Read, Environment::Test, RUN_RESOURCE)?;
    blocking(move || {
        match stored(&state, &id) {
            Ok(r) => Ok(Json(summary(&r))),
            Err(not_found) => {
                let failed = state.runs.failure(&id);
                if let Some(f) = failed {
                    // The log is the run process's own output: shown to those who may start
                    // runs, not to every reader.
                    let log_tail = caller
                        .may(Permission::Execute, Environment::Test)
                        .then_some(f.log_tail);
                    return Ok(Json(json!({
                        "run_id": id,
                        "status": "failed_to_start",
                        "exit_code": f.exit_code,
                        "log_tail": log_tail,
                    })));
                }
                // Accepted here and not stored yet: the process is still setting up.
                if plausible_id(&id)
                    && state
                        .config
                        .data_dir
                        .join("runs")
                        .join(format!("{id}.log"))
                        .exists()
                {
                    return Ok(Json(json!({"run_id": id, "status": "starting"})));
                }
                Err(not_found)
            }
        }
    })
    .await
}

async fn terminate(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require(Permission::Execute, Environment::Test, RUN_RESOURCE)?;
    blocking(move || {
        let r = stored(&state, &id)?;
        let pid = match (r.status.as_str(), r.pid) {
            ("running", Some(pid)) if shakedown_control::halt_latch::alive(pid) => pid,
            ("running", _) => {
                return Err(ApiError::conflict(
                    "not_running",
                    format!("run {id} is marked running but its process is gone"),
                ));
            }
            (s, _) => {
                return Err(ApiError::conflict(
                    "not_running",
                    format!("run {id} is not running (it is {s})"),
                ));
            }
        };
        let ok = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err(ApiError::internal(format!(
                "cannot signal process {pid} of run {id}"
            )));
        }
        let deadline = Instant::now() + TERMINATE_WAIT;
        while Instant::now() < deadline {
            let now = stored(&state, &id)?;
            if now.status != "running" {
                return Ok(Json(summary(&now)));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "still_stopping",
            format!(
                "run {id} did not store its end within {} s of SIGTERM; GET /api/runs/{id} follows it",
                TERMINATE_WAIT.as_secs()
            ),
        ))
    })
    .await
}

/// The stored report of a finished run; 409 while it runs.
fn report_of(state: &AppState, id: &str) -> ApiResult<RunReport> {
    let r = stored(state, id)?;
    let Some(v) = r.report else {
        return Err(ApiError::conflict(
            "no_report",
            format!(
                "run {id} has no report ({}){}",
                r.status,
                if r.status == "running" {
                    "; it is still running"
                } else {
                    ""
                }
            ),
        ));
    };
    serde_json::from_value(v)
        .map_err(|e| ApiError::internal(format!("the stored report of {id} is unreadable: {e}")))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    format: Option<String>,
}

async fn report(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> ApiResult<Response> {
    caller.require(Permission::Read, Environment::Test, RUN_RESOURCE)?;
    let format = q.format.unwrap_or_else(|| "json".into());
    if !["json", "markdown", "junit", "sarif"].contains(&format.as_str()) {
        return Err(ApiError::unprocessable(format!(
            "format `{format}` is not json, markdown, junit or sarif"
        )));
    }
    let r = blocking(move || report_of(&state, &id)).await?;
    let (media, body) = match format.as_str() {
        "markdown" => ("text/markdown; charset=utf-8", markdown(&r)),
        "junit" => ("application/xml", junit(&r)),
        "sarif" => (
            "application/sarif+json",
            serde_json::to_string_pretty(&sarif(&r))
                .map_err(|e| ApiError::internal(e.to_string()))?,
        ),
        _ => (
            "application/json",
            serde_json::to_string(&r).map_err(|e| ApiError::internal(e.to_string()))?,
        ),
    };
    Ok(([(axum::http::header::CONTENT_TYPE, media)], body).into_response())
}

async fn score(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require(Permission::Read, Environment::Test, RUN_RESOURCE)?;
    let r = blocking(move || report_of(&state, &id)).await?;
    Ok(Json(json!({
        "run_id": r.run_id,
        "overall_score": r.overall_score,
        "threshold": r.threshold,
        "safety": {"score": r.safety.score, "grade": r.safety.grade, "deductions": r.safety.deductions},
        "matrix": r.matrix,
        "fault_summary": r.fault_summary,
    })))
}

async fn ci(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require(Permission::Read, Environment::Test, RUN_RESOURCE)?;
    let r = blocking(move || report_of(&state, &id)).await?;
    use shakedown_agent::report::RunStatus;
    // The same exit codes as `shakedown run`.
    let exit_code = match r.status {
        RunStatus::Passed => 0,
        RunStatus::Failed | RunStatus::Terminated | RunStatus::HaltedByGuardian => 1,
        RunStatus::Error | RunStatus::Running => 2,
    };
    Ok(Json(json!({
        "run_id": r.run_id,
        "status": r.status.as_str(),
        "passed": exit_code == 0,
        "exit_code": exit_code,
        "overall_score": r.overall_score,
        "threshold": r.threshold,
        "reasons": r.reasons,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_database_servers() {
        for ok in [
            "postgres://u:p@127.0.0.1:5432/postgres",
            "postgresql://u@localhost/db",
            "postgres://u:p@[::1]:5433/x?sslmode=disable",
            "postgres://u:p%40ss@127.0.0.1/x",
            "postgres://127.0.0.2:1/x",
        ] {
            assert!(check_pg_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "postgres://u:p@10.0.0.5:5432/db",
            "postgres://u:p@db.example.com/db",
            "postgres://u:p@[2001:db8::1]:5432/db",
            "mysql://u@127.0.0.1/db",
            "127.0.0.1:5432",
            // What libpq would read as another host than the checked one.
            "postgres://u:p@10.0.0.5:5432/db?application_name=@127.0.0.1",
            "postgres://u:p@127.0.0.1/db?hostaddr=10.0.0.5",
            "postgres://u:p@127.0.0.1/db?host=10.0.0.5",
            "postgres://u:p@127.0.0.1,10.0.0.5/db",
            "postgres://u:p@x@127.0.0.1/db",
        ] {
            let e = check_pg_url(bad).unwrap_err();
            assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
            assert!(
                !e.message.contains(":p@"),
                "the password is not echoed: {}",
                e.message
            );
        }
    }

    #[test]
    fn built_ins_pass_and_files_need_the_root() {
        let body = |scenario: &str| RunBody {
            agent: None,
            agent_url: Some("http://127.0.0.1:9/agent".into()),
            scenario: scenario.into(),
            policy: Some("strict".into()),
            chaos: None,
            faults: vec!["rate_limit_storm".into()],
            repeat: None,
            threshold: None,
            seed: None,
            mock_llm: None,
            pg_url: None,
            fs_policy: None,
            no_fs_sandbox: false,
        };
        let args = arguments(&body("data_cleanup"), false, "run-1", None).unwrap();
        assert!(args.windows(2).any(|w| w == ["--scenario", "data_cleanup"]));
        assert!(
            args.windows(2)
                .any(|w| w == ["--faults", "rate_limit_storm"])
        );
        let e = arguments(&body("mine.yaml"), false, "run-1", None).unwrap_err();
        assert_eq!(e.code, "files_not_served");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mine.yaml"), "name: x").unwrap();
        let args = arguments(&body("mine.yaml"), false, "run-1", Some(dir.path())).unwrap();
        let real = dir.path().canonicalize().unwrap().join("mine.yaml");
        assert!(
            args.windows(2)
                .any(|w| w[0] == "--scenario" && w[1] == real.display().to_string()),
            "{args:?}"
        );
        let e = arguments(&body("../mine.yaml"), false, "run-1", Some(dir.path())).unwrap_err();
        assert!(
            e.code == "outside_files_root" || e.code == "invalid_request",
            "{}",
            e.code
        );
    }
}
