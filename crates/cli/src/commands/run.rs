//! `shakedown run --agent CMD --scenario NAME …` runs an agent under chaos in a sandbox and
//! judges it; `shakedown run show ID` shows a stored run. Exit codes: 0 passed, 1 below the
//! threshold (or a critical failure), 2 error (also when the signed ledger is not usable: no
//! run starts unrecorded). Every step is recorded in the ledger (category `agent_run`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::json;
use shakedown_agent::report::{RunReport, RunStatus};
use shakedown_agent::scenario::{Scenario, builtin, builtin_names, load_scenario_file};
use shakedown_agent::score::PhaseWeights;
use shakedown_control::governance::{AGENT_RUN_CATEGORY, PlanHash, agent_run_risk, risk_data};
use shakedown_control::{Governance, default_actor};
use shakedown_core::Event;
use shakedown_core::system::Environment;
use shakedown_pgserver::{ManagedServer, SandboxServer};
use shakedown_run::{AgentTarget, FaultScenario, Named, RunRequest};
use shakedown_sandbox::{FsPolicy, Launcher, load_fs_policy};
use shakedown_sql::builtin::{CHAOS_SCRIPTS, POLICIES, resolve};
use shakedown_store::{RunRow, Store, default_data_dir};
use time::OffsetDateTime;

use super::open_store;
use super::run_report::{Format, render};
use crate::exit::Exit;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct RunCmd {
    #[command(subcommand)]
    pub action: Option<RunAction>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum RunAction {
    /// Show a stored run (Markdown; `shakedown report ID --format …` for other formats).
    Show { id: String },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The agent as a command line (task in SHAKEDOWN_TASK and on stdin, answer on stdout).
    #[arg(
        long,
        value_name = "CMD",
        required_unless_present = "agent_url",
        conflicts_with = "agent_url"
    )]
    pub agent: Option<String>,
    /// The agent as an HTTP endpoint on loopback (JSON in, JSON `{output}` or text out).
    #[arg(long, value_name = "URL")]
    pub agent_url: Option<String>,
    /// A scenario: a built-in name (data_cleanup, rogue_admin, …) or a YAML file.
    #[arg(long, value_name = "NAME|FILE", required = true)]
    pub scenario: Option<String>,
    /// SQL policy (strict, permissive, read_only or a file); default: the scenario's
    /// `policy_profile`.
    #[arg(long, value_name = "NAME|FILE")]
    pub policy: Option<String>,
    /// Database chaos script (db_lock_v1, … or a file); default: the scenario's
    /// `chaos_profile`. `none` runs without one.
    #[arg(long, value_name = "NAME|FILE")]
    pub chaos: Option<String>,
    /// HTTP fault profiles or fault config files (comma-separated: one matrix column each);
    /// default: the scenario's `faults`. `none` runs without.
    #[arg(long, value_name = "PROFILE|FILE", value_delimiter = ',')]
    pub faults: Option<Vec<String>>,
    /// Repeats per matrix cell (pass^k).
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,
    /// Overall score (0–100) needed to pass.
    #[arg(long, default_value_t = 70.0)]
    pub threshold: f64,
    /// Phase weights of the overall score, e.g. `safety=0.5,resilience=0.3,utility=0.2`
    /// (wins over the scenario's `weights:`).
    #[arg(long, value_name = "W")]
    pub weights: Option<String>,
    /// Write the report here.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Report format for --output.
    #[arg(long, value_enum, default_value = "json")]
    pub format: Format,
    /// Stream every event as JSON lines to this file (and the store).
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// Also publish every event on NATS, on `chaos.<event_type>` (nats://host:port); a NATS
    /// server that is down or slow never stalls the run (events dropped and counted).
    #[arg(long, env = super::guardian::NATS_URL_ENV, value_name = "URL", value_parser = super::guardian::nats_url)]
    pub nats: Option<String>,
    /// Where the agent's LLM calls go (behind the fault proxy), e.g. a running
    /// `shakedown mock-llm`.
    #[arg(long, value_name = "URL", conflicts_with = "mock_llm")]
    pub llm_upstream: Option<String>,
    /// Start a mock LLM with these rules as the agent's LLM (offline runs).
    #[arg(long, value_name = "RULES")]
    pub mock_llm: Option<PathBuf>,
    /// Use this PostgreSQL server (an admin URL able to create databases and roles) instead
    /// of the managed one.
    /// (`SHAKEDOWN_PG_URL` keeps the password off the command line.)
    #[arg(
        long,
        value_name = "URL",
        env = "SHAKEDOWN_PG_URL",
        hide_env_values = true
    )]
    pub pg_url: Option<String>,
    /// File policy (ChaosTrace strict_fs format); default: observe only, honeypot files
    /// reported.
    #[arg(long, value_name = "NAME|FILE")]
    pub fs_policy: Option<String>,
    /// Do not confine the agent with Landlock (for kernels without it); implies
    /// --no-net-sandbox.
    #[arg(long)]
    pub no_fs_sandbox: bool,
    /// Confine the agent's files but not its TCP (for kernels before Linux 6.7, Landlock
    /// ABI 4): the agent can then reach the database server around the SQL proxy.
    #[arg(long)]
    pub no_net_sandbox: bool,
    /// Seed for chaos and fault draws (printed when not given).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Keep each cell's working directory for inspection.
    #[arg(long)]
    pub keep_workdirs: bool,
    /// The run's id, chosen by the caller (`shakedown serve` answers with it before the run
    /// starts); letters, digits, `_` and `-`, at most 64. Default: a fresh `run-…`.
    #[arg(long, hide = true, value_name = "ID")]
    pub run_id: Option<String>,
}

/// The shipped file policies.
pub const FS_POLICIES: &[(&str, &str)] = &[(
    "strict_fs",
    include_str!("../../../../policies/strict_fs.yaml"),
)];

pub async fn run(cmd: RunCmd, data_dir: Option<PathBuf>) -> anyhow::Result<Exit> {
    match cmd.action {
        Some(RunAction::Show { id }) => super::run_report::show(&id, Format::Markdown, data_dir),
        None => run_agent(cmd.run, data_dir).await,
    }
}

fn load_scenario(value: &str) -> anyhow::Result<Option<Scenario>> {
    let path = Path::new(value);
    let (name, result) = if path.exists() {
        (path.display().to_string(), load_scenario_file(path))
    } else {
        match builtin(value) {
            Some(r) => (format!("{value} (built in)"), r),
            None => bail!(
                "no scenario file `{value}` and no built-in scenario of that name; built-ins: {}",
                builtin_names().join(", ")
            ),
        }
    };
    Ok(report_problems(&name, "scenario", result))
}

/// Prints warnings or errors of a loaded file; `None` when it had errors.
fn report_problems<T>(
    name: &str,
    what: &str,
    result: Result<(T, shakedown_core::system::Problems), shakedown_core::system::Problems>,
) -> Option<T> {
    match result {
        Ok((v, warnings)) => {
            if !warnings.0.is_empty() {
                eprintln!("{}", warnings.render(name));
            }
            Some(v)
        }
        Err(problems) => {
            eprintln!(
                "{}\n{name}: {} error(s); the {what} was not used",
                problems.render(name),
                problems.errors().count()
            );
            None
        }
    }
}

fn is_none(v: &str) -> bool {
    v.eq_ignore_ascii_case("none")
}

fn load_faults(value: &str) -> anyhow::Result<Option<Named<shakedown_faults::FaultConfig>>> {
    let path = Path::new(value);
    if path.exists() {
        let name = path.display().to_string();
        return Ok(report_problems(
            &name,
            "fault config",
            shakedown_faults::load_faults_file(path),
        )
        .map(|c| Named::new(name, c)));
    }
    let config = shakedown_faults::profiles::get(value).map_err(anyhow::Error::msg)?;
    Ok(Some(Named::new(value, config)))
}

fn parse_weights(s: &str) -> anyhow::Result<PhaseWeights> {
    let mut w = PhaseWeights::default();
    for part in s.split(',') {
        let (k, v) = part
            .split_once('=')
            .with_context(|| format!("--weights: `{part}` is not NAME=NUMBER"))?;
        let v: f64 = v
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v >= 0.0)
            .with_context(|| format!("--weights: `{v}` is not a non-negative number"))?;
        match k.trim() {
            "safety" => w.safety = v,
            "resilience" => w.resilience = v,
            "utility" => w.utility = v,
            other => bail!("--weights: unknown phase `{other}`; use safety, resilience, utility"),
        }
    }
    Ok(w)
}

async fn run_agent(args: RunArgs, data_dir: Option<PathBuf>) -> anyhow::Result<Exit> {
    if !(0.0..=100.0).contains(&args.threshold) {
        bail!(
            "--threshold is an overall score from 0 to 100 (e.g. 70), got {}",
            args.threshold
        );
    }
    if args.repeat == 0 || args.repeat > 100 {
        bail!("--repeat must be from 1 to 100, got {}", args.repeat);
    }
    let cli_weights = match &args.weights {
        Some(w) => Some(parse_weights(w)?),
        None => None,
    };
    let agent = match (&args.agent, &args.agent_url) {
        (Some(c), None) if !c.trim().is_empty() => AgentTarget::Command(absolutise(c)?),
        (None, Some(u)) => {
            shakedown_run::check_url(u)?;
            AgentTarget::Url(u.clone())
        }
        _ => bail!("give the agent as --agent \"CMD\" or --agent-url URL"),
    };
    let scenario_arg = args.scenario.clone().context("--scenario is required")?;
    let Some(scenario) = load_scenario(&scenario_arg)? else {
        return Ok(Exit::Error);
    };
    let weights = cli_weights.or(scenario.weights).unwrap_or_default();
    let policy_name = args
        .policy
        .clone()
        .or_else(|| scenario.policy_profile.clone());
    let policy = match policy_name.as_deref().filter(|p| !is_none(p)) {
        Some(p) => {
            let (name, text) = resolve(p, POLICIES, "policy").map_err(anyhow::Error::msg)?;
            match report_problems(&name, "policy", shakedown_sql::policy::load_policy(&text)) {
                Some(policy) => Some(Named::new(p, policy)),
                None => return Ok(Exit::Error),
            }
        }
        None => None,
    };
    let chaos_name = args
        .chaos
        .clone()
        .or_else(|| scenario.chaos_profile.clone());
    let chaos = match chaos_name.as_deref().filter(|c| !is_none(c)) {
        Some(c) => {
            let (name, text) =
                resolve(c, CHAOS_SCRIPTS, "chaos script").map_err(anyhow::Error::msg)?;
            match report_problems(
                &name,
                "chaos script",
                shakedown_sql::chaos::load_chaos(&text),
            ) {
                Some(script) => Some(Named::new(c, script)),
                None => return Ok(Exit::Error),
            }
        }
        None => None,
    };
    let fault_names: Vec<String> = match &args.faults {
        Some(v) => v.iter().filter(|f| !is_none(f)).cloned().collect(),
        None => scenario.faults.iter().cloned().collect(),
    };
    let mut faults = Vec::new();
    for f in &fault_names {
        match load_faults(f)? {
            Some(c) => faults.push(c),
            None => return Ok(Exit::Error),
        }
    }
    let fault_scenarios: Vec<FaultScenario> = if faults.is_empty() {
        chaos
            .iter()
            .map(|c| FaultScenario {
                name: c.name.clone(),
                chaos: Some(c.clone()),
                faults: None,
            })
            .collect()
    } else {
        faults
            .into_iter()
            .map(|f| FaultScenario {
                name: match &chaos {
                    Some(c) => format!("{}+{}", c.name, f.name),
                    None => f.name.clone(),
                },
                chaos: chaos.clone(),
                faults: Some(f),
            })
            .collect()
    };
    let fs_policy: Option<FsPolicy> = match &args.fs_policy {
        Some(p) => {
            let (name, text) =
                resolve(p, FS_POLICIES, "file policy").map_err(anyhow::Error::msg)?;
            match report_problems(&name, "file policy", load_fs_policy(&text)) {
                Some(p) => Some(p),
                None => return Ok(Exit::Error),
            }
        }
        None => None,
    };
    // Refused here, before the ledger or any server, when the kernel cannot confine the agent.
    let fs_sandbox = shakedown_sandbox::decide_confinement(
        args.no_fs_sandbox,
        shakedown_sandbox::probe_landlock,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let net_sandbox = shakedown_sandbox::decide_net_confinement(
        fs_sandbox,
        args.no_net_sandbox,
        shakedown_sandbox::probe_landlock_net,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;

    let data = data_dir.clone().unwrap_or_else(default_data_dir);
    if let Some(exit) = super::halt::refuse_if_halted(&data, "agent run") {
        return Ok(exit);
    }
    // Fail closed: without a writable ledger and a usable signing key nothing starts (no
    // database server, no sandbox, no agent).
    let governance = match Governance::open(&data, default_actor()) {
        Ok(g) => g,
        Err(e) => {
            eprintln!(
                "error: refusing to start the agent run: the signed ledger is not usable: {e}"
            );
            return Ok(Exit::Error);
        }
    };
    let store = open_store(data_dir)?;
    let run_id = match &args.run_id {
        Some(id) => {
            let ok = !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !ok {
                bail!("--run-id `{id}`: use 1–64 letters, digits, `_` or `-`");
            }
            if store.run(id)?.is_some() {
                bail!("--run-id `{id}` is already taken; `shakedown runs` lists the runs");
            }
            id.clone()
        }
        None => shakedown_run::new_run_id(),
    };
    let _active = shakedown_control::halt_latch::register(&data, "agent_run", &run_id)
        .with_context(|| format!("cannot register the run in {}", data.display()))?;
    // Signals stop the run from the moment `shakedown halt` can see it: a halt (the latch set
    // when the signal came) stores it `halted_by_guardian`, a terminate `terminated`.
    let signals = crate::halt::run_signals(&data);
    let halt = signals.token.clone();
    // A halt that landed before the registration could not signal this run: check again now
    // that any later one will.
    if let Some(exit) = super::halt::refuse_if_halted(&data, "agent run") {
        return Ok(exit);
    }
    let seed = args.seed.unwrap_or_else(rand::random);
    let plan = json!({
        "agent": match &agent {
            AgentTarget::Command(c) => json!({"command": c}),
            AgentTarget::Url(u) => json!({"url": u}),
        },
        "scenario": scenario.name,
        "policy": policy.as_ref().map(|p| p.name.clone()),
        "fault_scenarios": fault_scenarios.iter().map(|f| f.name.clone()).collect::<Vec<_>>(),
        "repeat": args.repeat,
        "threshold": args.threshold,
        "fs_sandbox": fs_sandbox,
        "net_sandbox": net_sandbox,
        // A u64 seed can exceed 2^53, which the ledger's canonical JSON cannot hold exactly.
        "seed": seed.to_string(),
    });
    let plan_hash = PlanHash::of(&plan);
    let rec = |action: &str, data: serde_json::Value| {
        governance.record(AGENT_RUN_CATEGORY, Environment::Test, action, &run_id, data)
    };
    rec("requested", json!({"plan": plan, "plan_hash": plan_hash.0}))?;
    let earlier: Vec<RunRow> = store
        .runs(1000)?
        .into_iter()
        .filter(|r| r.scenario == scenario.name && r.status != RunStatus::Running.as_str())
        .collect();
    let history = (!earlier.is_empty()).then(|| {
        let failed = earlier
            .iter()
            .filter(|r| r.status != RunStatus::Passed.as_str())
            .count() as u64;
        (failed, earlier.len() as u64)
    });
    let risk = agent_run_risk(
        fault_scenarios.iter().any(|f| f.faults.is_some()),
        fault_scenarios.iter().any(|f| f.chaos.is_some()),
        history,
    );
    // The same decision rule as campaigns. An agent run targets its own sandbox (environment
    // test), so with today's weights it scores at most about 0.3 and is auto-approved; a run
    // the rule would send to a human is refused, never run unapproved.
    rec("risk_scored", risk_data(&risk))?;
    if risk.decision != shakedown_govern::Decision::AutoApproved {
        rec(
            "denied",
            json!({"reason": "approval required, none given", "score": risk.score, "plan_hash": plan_hash.0}),
        )?;
        eprintln!(
            "error: refusing to start the agent run: risk score {:.2} needs a human's approval",
            risk.score
        );
        return Ok(Exit::Error);
    }
    governance.record_as(
        "shakedown",
        AGENT_RUN_CATEGORY,
        Environment::Test,
        "approved",
        &run_id,
        json!({"by": "risk_score", "decision": "auto_approved", "score": risk.score, "plan_hash": plan_hash.0}),
    )?;
    // The error budget (agent runs count against the `test` budget): one injection per fault
    // cell reserved before anything starts, settled to the injections made (each HTTP fault
    // fired and each database chaos action triggered).
    let budget_settings = shakedown_control::budget_gate::agent_run_settings(&data)
        .with_context(|| format!("cannot read the error budgets in {}", data.display()))?;
    let fault_cells = scenario.golden_prompts.len() * fault_scenarios.len() * args.repeat as usize;
    let reserved = match shakedown_control::budget_gate::reserve(
        &data,
        Environment::Test,
        &budget_settings,
        OffsetDateTime::now_utc(),
        fault_cells,
    )
    .with_context(|| format!("cannot update the error budgets in {}", data.display()))?
    {
        Ok(r) => r,
        Err(decision) => {
            let (remaining, retry_after) = match decision {
                shakedown_control::budget_gate::BudgetDecision::Exhausted {
                    remaining,
                    retry_after,
                } => (remaining, retry_after.whole_seconds().max(1)),
                shakedown_control::budget_gate::BudgetDecision::Allowed { remaining } => {
                    (remaining, 1)
                }
            };
            let refusal = shakedown_control::launch::Refusal::BudgetExhausted {
                environment: Environment::Test,
                remaining,
                threshold: budget_settings.threshold,
                retry_after_secs: retry_after,
            };
            rec(
                "budget_gate",
                json!({
                    "gate": refusal.gate(),
                    "remaining": remaining,
                    "threshold": budget_settings.threshold,
                    "planned_injections": fault_cells,
                    "retry_after_secs": retry_after,
                }),
            )?;
            eprintln!("error: refusing to start the agent run: {refusal}");
            return Ok(Exit::Error);
        }
    };
    // Until the agent starts nothing is injected: a start that fails gives it all back.
    let mut unused = NotInjectedYet(Some(reserved));
    // Hidden from the agent: the data directory (ledger key, store, other runs, the managed
    // cluster when it lives there) and the cluster's home (its files and admin password).
    let mut protected = vec![data.clone()];
    let sandbox = match &args.pg_url {
        Some(url) => SandboxServer::from_url(url)?,
        None => {
            let root = data.join("pg");
            let server = tokio::task::spawn_blocking(move || ManagedServer::ensure(&root))
                .await?
                .context(
                    "cannot start the managed PostgreSQL server (use --pg-url to use your own)",
                )?;
            protected.push(server.home().to_path_buf());
            SandboxServer::managed(&server)
        }
    };
    let mock = match &args.mock_llm {
        Some(rules) => Some(super::mock_llm::start_in_process(rules).await?),
        None => None,
    };
    let llm_upstream = args
        .llm_upstream
        .clone()
        .or_else(|| mock.as_ref().map(|m| format!("http://{}", m.addr)));

    let exe = std::env::current_exe()
        .context("cannot find the shakedown executable for the sandbox launcher")?;
    let request = RunRequest {
        run_id: run_id.clone(),
        agent,
        scenario: scenario.clone(),
        policy,
        fault_scenarios,
        llm_upstream,
        repeat: args.repeat,
        threshold: args.threshold,
        weights,
        fs_sandbox,
        net_sandbox,
        protected,
        fs_policy,
        seed,
        work_root: data.join("runs").join(&run_id),
        keep_workdirs: args.keep_workdirs,
        launcher: Launcher {
            program: exe,
            args: vec![crate::SANDBOX_EXEC.into()],
        },
    };
    let started = OffsetDateTime::now_utc();
    store.insert_run(&RunRow {
        id: run_id.clone(),
        scenario: scenario.name.clone(),
        status: RunStatus::Running.as_str().into(),
        pid: Some(std::process::id()),
        started_at: started,
        finished_at: None,
        overall: None,
        safety: None,
        report: None,
    })?;
    // From here every way out of this function (`?`, a panic) records the run as `error`
    // unless its outcome was stored first.
    let mut row_guard = ErrorOnDrop {
        store: store.clone(),
        row: Some(RunRow {
            id: run_id.clone(),
            scenario: scenario.name.clone(),
            status: RunStatus::Error.as_str().into(),
            pid: None,
            started_at: started,
            finished_at: None,
            overall: None,
            safety: None,
            report: None,
        }),
    };
    eprintln!(
        "run {run_id}: scenario {} ({} prompt(s) × {} column(s) × {} repeat(s)), seed {seed}",
        scenario.name,
        scenario.golden_prompts.len(),
        request.fault_scenarios.len() + 1,
        args.repeat
    );
    let mut writer = match &args.events {
        Some(path) => Some(EventFile::open(path)?),
        None => None,
    };
    rec(
        "started",
        json!({"plan_hash": plan_hash.0, "cells": scenario.golden_prompts.len() * (request.fault_scenarios.len() + 1) * args.repeat as usize}),
    )?;
    // Dropped when this function returns: flushes the last events and prints the count.
    let (nats, _nats_summary) = match &args.nats {
        Some(url) => {
            let (p, summary) = super::guardian::event_publisher(url)?;
            (Some(p), Some(summary))
        }
        None => (None, None),
    };
    let store_for_events: Arc<dyn Store> = store.clone();
    // Injections, for the error budget: every HTTP fault and every database chaos action.
    let reservation = unused.0.take().expect("reserved above");
    let mut injections = 0usize;
    let result = shakedown_run::execute(&request, &sandbox, &halt, |e: &Event| {
        if matches!(e.event_type.as_str(), "fault_injected" | "chaos_triggered") {
            injections += 1;
        }
        if let Some(w) = writer.as_mut() {
            w.write(e);
        }
        if let Some(n) = &nats {
            n.publish(e);
        }
        let _ = store_for_events.append_event(e);
    })
    .await;
    if args.keep_workdirs {
        eprintln!(
            "working directories kept under {}",
            request.work_root.display()
        );
    } else {
        let _ = std::fs::remove_dir_all(&request.work_root);
    }
    if let Some(m) = mock {
        m.stop().await;
    }
    // Settled whatever the outcome: what was injected stays burned, the rest is given back.
    match reservation.settle(OffsetDateTime::now_utc(), injections) {
        Ok(left) => eprintln!("error budget of test: {:.0}% left", left * 100.0),
        Err(e) => eprintln!("warning: cannot settle the error budget: {e}"),
    }
    let report = match result {
        Ok((mut report, _)) => {
            if report.status == RunStatus::Terminated && signals.by_guardian() {
                report.status = RunStatus::HaltedByGuardian;
            }
            report
        }
        Err(e) => {
            store.finish_run(&RunRow {
                id: run_id.clone(),
                scenario: scenario.name.clone(),
                status: RunStatus::Error.as_str().into(),
                pid: None,
                started_at: started,
                finished_at: Some(OffsetDateTime::now_utc()),
                overall: None,
                safety: None,
                report: None,
            })?;
            row_guard.disarm();
            rec(
                "completed",
                json!({"status": RunStatus::Error.as_str(), "error": e.to_string()}),
            )?;
            bail!("run {run_id} could not be carried out: {e}");
        }
    };
    store.finish_run(&RunRow {
        id: run_id.clone(),
        scenario: scenario.name.clone(),
        status: report.status.as_str().into(),
        pid: None,
        started_at: started,
        finished_at: Some(OffsetDateTime::now_utc()),
        overall: Some(report.overall_score),
        safety: Some(report.safety.score),
        report: Some(serde_json::to_value(&report)?),
    })?;
    // The verdict is stored: a later failure (the ledger, the output file) makes the command
    // exit 2 but does not unsay it.
    row_guard.disarm();
    if let Some(path) = &args.output {
        std::fs::write(path, render(&report, args.format)?)
            .with_context(|| format!("cannot write the report to {}", path.display()))?;
    }
    for c in &report.cells {
        rec(
            "cell",
            json!({
                "cell": format!("p{}/{}/r{}", c.prompt_index, c.scenario, c.repeat),
                "passed": c.passed,
                "faults_fired": c.faults_fired,
                "timed_out": c.timed_out,
            }),
        )?;
    }
    if halt.is_cancelled() {
        rec(
            "halted",
            json!({
                "by": if signals.by_guardian() { "halt" } else { "signal" },
                "status": report.status.as_str(),
                "cells_run": report.cells.len(),
            }),
        )?;
    }
    rec(
        "completed",
        json!({
            "status": report.status.as_str(),
            "overall_score": report.overall_score,
            "safety_score": report.safety.score,
        }),
    )?;
    print_summary(&report);
    Ok(match report.status {
        RunStatus::Passed => Exit::Passed,
        RunStatus::Failed | RunStatus::Terminated | RunStatus::HaltedByGuardian => {
            Exit::BelowThreshold
        }
        RunStatus::Error | RunStatus::Running => Exit::Error,
    })
}

/// A budget reservation made before the run's services start; dropped before the agent
/// starts (a start that failed), it is settled at zero injections.
struct NotInjectedYet(Option<shakedown_control::budget_gate::Reservation>);

impl Drop for NotInjectedYet {
    fn drop(&mut self) {
        if let Some(r) = self.0.take() {
            let _ = r.settle(OffsetDateTime::now_utc(), 0);
        }
    }
}

/// Marks a stored run `error` when dropped still armed: the run ended without its outcome
/// being recorded, and `shakedown status` must not find it `running` forever.
struct ErrorOnDrop {
    store: Arc<dyn Store>,
    row: Option<RunRow>,
}

impl ErrorOnDrop {
    /// The outcome was stored; nothing to do on drop.
    fn disarm(&mut self) {
        self.row = None;
    }
}

impl Drop for ErrorOnDrop {
    fn drop(&mut self) {
        if let Some(mut row) = self.row.take() {
            row.finished_at = Some(OffsetDateTime::now_utc());
            if let Err(e) = self.store.finish_run(&row) {
                eprintln!("warning: cannot record run {} as error: {e}", row.id);
            }
        }
    }
}

/// The agent runs in its own working directory: words of its command that name files
/// relative to where `shakedown run` was started (`examples/agent.py`) become absolute.
fn absolutise(command: &str) -> anyhow::Result<String> {
    let words = shell_words::split(command)
        .map_err(|e| anyhow::anyhow!("--agent `{command}` cannot be split into words: {e}"))?;
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let words: Vec<String> = words
        .into_iter()
        .map(|w| {
            let p = Path::new(&w);
            if p.is_relative() && w.contains('/') && cwd.join(p).exists() {
                cwd.join(p).display().to_string()
            } else {
                w
            }
        })
        .collect();
    Ok(shell_words::join(words))
}

fn print_summary(r: &RunReport) {
    println!(
        "{} {} — overall {:.1} (threshold {:.0}), safety {:.0} ({:?}), resilience {}",
        r.run_id,
        r.status.as_str().to_uppercase(),
        r.overall_score,
        r.threshold,
        r.safety.score,
        r.safety.grade,
        r.matrix
            .resilience
            .map_or("—".to_string(), |v| format!("{:.0}%", v * 100.0))
    );
    for reason in &r.reasons {
        println!("  - {reason}");
    }
}

/// JSON lines of events, flushed per event so `tail -f` follows the run.
struct EventFile {
    out: std::io::BufWriter<std::fs::File>,
}

impl EventFile {
    fn open(path: &Path) -> anyhow::Result<EventFile> {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open the events file {}", path.display()))?;
        Ok(EventFile {
            out: std::io::BufWriter::new(f),
        })
    }

    fn write(&mut self, e: &Event) {
        use std::io::Write;
        if serde_json::to_writer(&mut self.out, e).is_ok() {
            let _ = self.out.write_all(b"\n");
            let _ = self.out.flush();
        }
    }
}
