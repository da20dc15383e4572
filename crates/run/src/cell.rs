//! One cell of the matrix: a fresh database clone behind the PostgreSQL proxy, a fresh fault
//! proxy, a fresh working directory, the agent run once, then the cell judged and torn down.
//! Nothing of one cell leaks into the next.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use shakedown_agent::invariant::{ChaosState, Observation, evaluate_all};
use shakedown_agent::report::CellReport;
use shakedown_agent::scenario::StateCheckKind;
use shakedown_agent::state::{CheckOutcome, check_file, check_sql};
use shakedown_core::{Event, Severity};
use shakedown_faults::{FaultConfig, FaultFamily};
use shakedown_pgserver::{RunDatabase, SandboxServer};
use shakedown_sandbox::{AgentProcess, AgentSpec, FileSpec, WatchBackend, Watcher, Workdir};
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::request::{AgentTarget, FaultScenario, RunRequest};
use crate::services::{ANTHROPIC_PREFIX, OPENAI_PREFIX, PgSideOptions, start_faults, start_pg};
use crate::{RunError, agent_url};

/// Longest answer kept in a report.
const MAX_REPORTED_OUTPUT: usize = 16 * 1024;
/// How much of the end of the agent's stderr a report keeps.
const MAX_REPORTED_STDERR: usize = 4 * 1024;

/// The last `n` bytes of `s` (on a character boundary).
fn tail(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let mut start = s.len() - n;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    format!("[…] {}", &s[start..])
}

/// Which cell to run.
pub struct CellPlan<'a> {
    pub prompt_index: usize,
    pub prompt: &'a str,
    /// `None` is the no-fault baseline.
    pub scenario: Option<&'a FaultScenario>,
    pub repeat: u32,
    pub template: &'a str,
    /// The same prompt's baseline answer (for `behavior_unchanged`).
    pub baseline: Option<&'a str>,
}

/// A judged cell with every event it produced.
pub struct CellOutput {
    pub report: CellReport,
    pub events: Vec<Event>,
    /// The full answer (the report keeps a capped copy).
    pub output: String,
}

/// Which chaos a fault scenario carries.
pub fn chaos_state(s: Option<&FaultScenario>) -> ChaosState {
    let Some(s) = s else {
        return ChaosState::default();
    };
    let has = |f: &FaultConfig, fam: FaultFamily| f.rules.iter().any(|r| r.family == fam);
    let faults = s.faults.as_ref().map(|f| f.value.as_ref());
    ChaosState {
        tool_faults: faults
            .is_some_and(|f| has(f, FaultFamily::ToolFault) || has(f, FaultFamily::ContextAttack)),
        llm_faults: faults.is_some_and(|f| has(f, FaultFamily::LlmFault)),
        sql_chaos: s.chaos.is_some(),
    }
}

pub(crate) fn cap(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… [{} bytes cut]", &s[..end], s.len() - end)
}

/// A CA bundle for the agent: the system's roots plus the fault proxy's interception CA, so
/// HTTPS through the proxy verifies and nothing else breaks.
fn ca_bundle(dir: &Path, proxy_ca: Option<&Path>) -> Option<std::path::PathBuf> {
    let ca = std::fs::read_to_string(proxy_ca?).ok()?;
    let system = [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
    ]
    .iter()
    .find_map(|p| std::fs::read_to_string(p).ok())
    .unwrap_or_default();
    let path = dir.join("ca-bundle.pem");
    std::fs::write(&path, format!("{system}\n{ca}")).ok()?;
    Some(path)
}

fn file_event(kind: &str, data: serde_json::Value) -> Event {
    file_event_at(kind, data, OffsetDateTime::now_utc())
}

fn file_event_at(kind: &str, data: serde_json::Value, at: OffsetDateTime) -> Event {
    Event::named(kind, None, Some("agent-files"), data, at)
}

/// When the watcher saw the operation (`FsEvent::at_ms`), not when the events were collected
/// after the agent exited: the timeline interleaves file and SQL events by this.
fn observed_at(fs: &shakedown_sandbox::FsEvent) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(fs.at_ms) * 1_000_000)
        .unwrap_or_else(|_| OffsetDateTime::now_utc())
}

/// Runs one cell from start to teardown. Errors are infrastructure failures (the cell could
/// not be judged); an agent that fails is a judged cell.
pub async fn run_cell(
    req: &RunRequest,
    sandbox: &SandboxServer,
    plan: CellPlan<'_>,
    halt: &CancellationToken,
) -> Result<CellOutput, RunError> {
    let scenario_name = plan
        .scenario
        .map_or(shakedown_agent::score::BASELINE, |s| s.name.as_str())
        .to_string();
    let cell_id = format!(
        "{}_{}_{}_{}",
        req.run_id,
        plan.prompt_index,
        cell_slug(&scenario_name),
        plan.repeat
    );
    let db = sandbox.create_run_db(plan.template, &cell_id).await?;
    let result = run_in_db(req, sandbox, &plan, &scenario_name, &cell_id, &db, halt).await;
    // The database goes whatever happened; a failure to drop it is worth saying, not fatal.
    if let Err(e) = sandbox.drop_run_db(&db).await {
        tracing::warn!(run_id = %req.run_id, "cannot drop {}: {e}", db.name);
    }
    result
}

fn cell_slug(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    s.truncate(12);
    s
}

async fn run_in_db(
    req: &RunRequest,
    sandbox: &SandboxServer,
    plan: &CellPlan<'_>,
    scenario_name: &str,
    cell_id: &str,
    db: &RunDatabase,
    halt: &CancellationToken,
) -> Result<CellOutput, RunError> {
    let cell_halt = halt.child_token();
    let events: Arc<Mutex<Vec<Event>>> = Arc::default();
    let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
    let sink = events.clone();
    let run_id = req.run_id.clone();
    let collector = tokio::spawn(async move {
        while let Some(mut e) = rx.recv().await {
            // Agent-run events carry the run id where campaign events carry the campaign id.
            e.campaign_id.get_or_insert_with(|| run_id.clone());
            if let Ok(mut v) = sink.lock() {
                v.push(e);
            }
        }
    });

    let upstream: SocketAddr = format!("{}:{}", db.host, db.port).parse().map_err(|_| {
        RunError::Invalid(format!(
            "the sandbox server address {}:{} is not an IP address",
            db.host, db.port
        ))
    })?;
    let admin_url = sandbox.admin_url(&db.name);
    let chaos = plan
        .scenario
        .and_then(|s| s.chaos.as_ref())
        .map(|c| c.value.clone());
    let pg = start_pg(
        PgSideOptions {
            upstream,
            admin_url: &admin_url,
            policy: req.policy.as_ref().map(|p| p.value.clone()),
            chaos,
            run_id: cell_id,
            seed: req.seed,
        },
        tx.clone(),
        cell_halt.clone(),
    )
    .await?;
    let pg_port = pg.proxy.local_addr().port();

    let files: Vec<FileSpec> = req
        .scenario
        .files
        .iter()
        .map(|f| FileSpec {
            path: f.path.clone().into(),
            content: f.content.clone().into_bytes(),
            honeypot: f.honeypot,
            sentinel: f.sentinel,
            read_only: f.read_only,
        })
        .collect();
    std::fs::create_dir_all(&req.work_root).map_err(|e| {
        RunError::Invalid(format!("cannot create {}: {e}", req.work_root.display()))
    })?;
    let workdir = Workdir::create(&req.work_root, &files)?;
    // The CA lives beside the agent's directory, not inside it.
    let ca_dir = workdir.root().with_extension("ca");
    let faults = plan
        .scenario
        .and_then(|s| s.faults.as_ref())
        .map(|f| f.value.as_ref());
    let fault_proxy = start_faults(
        faults,
        req.llm_upstream.as_deref(),
        &ca_dir,
        req.seed,
        tx.clone(),
        cell_halt.clone(),
    )
    .await;
    let fault_proxy = match fault_proxy {
        Ok(p) => p,
        Err(e) => {
            pg.stop().await;
            return Err(e);
        }
    };
    let proxy_base = format!("http://{}", fault_proxy.addr());
    let database_url = db.url_via("127.0.0.1", pg_port);

    let (output, stderr, latency, completed, exit_code, timed_out, agent_error) = match &req.agent {
        AgentTarget::Command(command) => {
            let mut spec = AgentSpec::new(command.clone(), &workdir, req.scenario.timeout);
            spec.confine = req.fs_sandbox;
            // The agent reaches the database only through the policing proxy and HTTP only
            // through the fault proxy: the server's own port (and every other) is refused.
            spec.connect_tcp = req
                .net_sandbox
                .then(|| vec![pg_port, fault_proxy.addr().port()]);
            spec.deny_read = req.protected.clone();
            spec.launcher = req.launcher.clone();
            spec.stdin = plan.prompt.to_string();
            spec.halt = cell_halt.clone();
            if let Some(p) = &req.fs_policy {
                spec.apply_policy(p, &workdir);
            }
            let mut env = vec![
                ("DATABASE_URL".to_string(), database_url.clone()),
                ("SHAKEDOWN_TASK".into(), plan.prompt.to_string()),
                ("SHAKEDOWN_SCENARIO".into(), req.scenario.name.clone()),
                ("SHAKEDOWN_RUN_ID".into(), req.run_id.clone()),
                ("SHAKEDOWN_CELL".into(), cell_id.to_string()),
                (
                    "OPENAI_BASE_URL".into(),
                    format!("{proxy_base}{OPENAI_PREFIX}/v1"),
                ),
                ("OPENAI_API_KEY".into(), "shakedown-sandbox".into()),
                (
                    "ANTHROPIC_BASE_URL".into(),
                    format!("{proxy_base}{ANTHROPIC_PREFIX}"),
                ),
                ("ANTHROPIC_API_KEY".into(), "shakedown-sandbox".into()),
                ("HTTP_PROXY".into(), proxy_base.clone()),
                ("HTTPS_PROXY".into(), proxy_base.clone()),
                ("http_proxy".into(), proxy_base.clone()),
                ("https_proxy".into(), proxy_base.clone()),
                ("PGCONNECT_TIMEOUT".into(), "10".into()),
            ];
            // In the cell's root (outside `work/`): the data directory around it is unreadable.
            if let Some(bundle) = ca_bundle(workdir.root(), fault_proxy.ca_cert_path()) {
                for var in [
                    "SSL_CERT_FILE",
                    "REQUESTS_CA_BUNDLE",
                    "NODE_EXTRA_CA_CERTS",
                    "CURL_CA_BUNDLE",
                ] {
                    env.push((var.into(), bundle.display().to_string()));
                }
            }
            spec.env = env;
            let watcher = Watcher::start(&workdir, req.fs_policy.as_ref())?;
            let agent = match AgentProcess::spawn(spec) {
                Ok(a) => a,
                Err(e) => {
                    let _ = watcher.stop();
                    fault_proxy.shutdown().await;
                    pg.stop().await;
                    return Err(e.into());
                }
            };
            watcher.attach(agent.pgid());
            let outcome = agent.wait().await;
            let report = watcher.stop();
            for fs in &report.events {
                let kind = serde_json::to_value(fs.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                let _ = tx.send(file_event_at(
                    &kind,
                    serde_json::to_value(fs).unwrap_or_default(),
                    observed_at(fs),
                ));
            }
            for note in &report.notes {
                let _ = tx.send(file_event(
                    "file_watch_note",
                    serde_json::json!({"note": note}),
                ));
            }
            // What the events cannot say themselves becomes an event the verdict reads.
            if report.dropped > 0 || report.dropped_violations > 0 {
                let _ = tx.send(file_event(
                    "file_events_dropped",
                    serde_json::json!({
                        "dropped": report.dropped,
                        "dropped_violations": report.dropped_violations,
                        "kept_at_most": shakedown_sandbox::watch::record::MAX_EVENTS,
                    }),
                ));
            }
            if req.fs_policy.is_some() && report.backend == WatchBackend::Inotify {
                let _ = tx.send(file_event(
                    "file_policy_not_enforced",
                    serde_json::json!({
                        "backend": "inotify",
                        "reason": "fanotify is unavailable (it needs CAP_SYS_ADMIN); the file policy was observed, not enforced",
                    }),
                ));
            }
            let outcome = outcome?;
            let error = if outcome.confine_failed {
                Some(format!(
                    "the agent could not be confined: {}",
                    outcome.stderr.trim()
                ))
            } else {
                None
            };
            (
                outcome.stdout.clone(),
                tail(&outcome.stderr, MAX_REPORTED_STDERR),
                outcome.latency,
                outcome.succeeded(),
                outcome.exit_code,
                outcome.timed_out,
                error,
            )
        }
        AgentTarget::Url(url) => {
            let body = agent_url::request_body(
                plan.prompt,
                &req.scenario.name,
                &req.run_id,
                &database_url,
                &proxy_base,
            );
            let o = agent_url::call(url, body, req.scenario.timeout, &cell_halt).await;
            let completed = o.error.is_none();
            (
                o.output,
                String::new(),
                o.latency,
                completed,
                o.status.map(i32::from),
                o.timed_out,
                o.error,
            )
        }
    };

    for change in workdir.verify_sentinels() {
        let _ = tx.send(file_event(
            "file_violation",
            serde_json::json!({
                "rule": "sentinel",
                "message": "a sentinel file changed during the run",
                "change": change,
            }),
        ));
    }

    // Stop the services first: the chaos script's changes are undone before the state checks
    // look at the database.
    fault_proxy.shutdown().await;
    pg.stop().await;
    drop(tx);
    let _ = collector.await;
    let events = std::mem::take(
        &mut *events
            .lock()
            .map_err(|_| RunError::Invalid("event collector poisoned".into()))?,
    );

    let state_checks = state_checks(req, sandbox, db, &workdir).await?;
    let chaos = chaos_state(plan.scenario);
    let invariants = evaluate_all(
        &req.scenario.invariants,
        &Observation {
            output: &output,
            latency,
            completed,
            chaos,
            baseline: plan.baseline,
        },
    );
    // HTTP faults and chaos-script triggers alike (see `verdict`).
    let faults_fired = events
        .iter()
        .filter(|e| crate::verdict::fired_name(e).is_some())
        .count() as u64;
    let passed = invariants.iter().all(|o| o.passed != Some(false))
        && state_checks.iter().all(|c| c.passed)
        && agent_error.is_none();
    let mut invariants = invariants;
    if let Some(err) = &agent_error {
        invariants.push(shakedown_agent::InvariantOutcome {
            name: "agent_ran".into(),
            kind: "completes".into(),
            severity: shakedown_core::Severity::High,
            passed: Some(false),
            detail: err.clone(),
        });
    }
    if req.keep_workdirs {
        let kept = workdir.keep();
        tracing::info!(run_id = %req.run_id, "kept {}", kept.display());
    } else {
        let _ = workdir.teardown();
    }
    let _ = std::fs::remove_dir_all(&ca_dir);
    Ok(CellOutput {
        report: CellReport {
            prompt_index: plan.prompt_index,
            prompt: plan.prompt.to_string(),
            scenario: scenario_name.to_string(),
            repeat: plan.repeat,
            passed,
            output: cap(&output, MAX_REPORTED_OUTPUT),
            stderr,
            latency_ms: latency.as_millis() as u64,
            exit_code,
            timed_out,
            faults_fired,
            invariants,
            state_checks,
        },
        events,
        output,
    })
}

async fn state_checks(
    req: &RunRequest,
    sandbox: &SandboxServer,
    db: &RunDatabase,
    workdir: &Workdir,
) -> Result<Vec<CheckOutcome>, RunError> {
    let before: BTreeMap<String, String> = workdir
        .records()
        .iter()
        .map(|r| (r.path.display().to_string(), r.sha256.clone()))
        .collect();
    let mut out = Vec::new();
    let mut client = None;
    for check in &req.scenario.state_checks {
        // A query that cannot run (the agent dropped the table, the query hangs on a lock it
        // left) is a failed check, critical whatever the scenario says: the state could not
        // be verified, and the rest of the cell and the run are still reported.
        let unverified = |why: String| {
            (
                false,
                format!("could not run, so the state could not be verified: {why}"),
                Severity::Critical,
            )
        };
        let (passed, detail, severity) = match &check.kind {
            StateCheckKind::Sql { sql, expect } => {
                if client.is_none() {
                    client = Some(sandbox.admin_client(db).await?);
                }
                let c = client.as_ref().expect("set above");
                match tokio::time::timeout(Duration::from_secs(30), check_sql(c, sql, expect)).await
                {
                    Ok(Ok((passed, detail))) => (passed, detail, check.severity),
                    Ok(Err(e)) => unverified(e.to_string()),
                    Err(_) => {
                        // Stop the query, or every later check queues behind it.
                        let _ = c.cancel_token().cancel_query(tokio_postgres::NoTls).await;
                        unverified("no answer within 30 s".into())
                    }
                }
            }
            StateCheckKind::File(a) => {
                let (passed, detail) = check_file(workdir.path(), a, &before);
                (passed, detail, check.severity)
            }
        };
        out.push(CheckOutcome {
            name: check.name.clone(),
            severity,
            passed,
            detail,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use shakedown_sandbox::policy::FsOp;
    use shakedown_sandbox::{FsEvent, FsEventKind, WatchBackend};

    use super::*;

    #[test]
    fn a_file_event_keeps_the_time_it_was_observed() {
        let fs = FsEvent {
            kind: FsEventKind::FileWrite,
            op: FsOp::Write,
            path: "/w/out.txt".into(),
            pid: Some(7),
            at_ms: 1_765_000_000_123,
            elapsed_ms: 5,
            source: WatchBackend::Fanotify,
            blocked: false,
            violations: Vec::new(),
        };
        let at = observed_at(&fs);
        assert_eq!(
            at.unix_timestamp_nanos() / 1_000_000,
            1_765_000_000_123,
            "stamped when seen, not when collected"
        );
    }
}
