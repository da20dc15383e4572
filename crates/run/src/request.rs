//! What a run is asked to do: the agent, the scenario, and the chaos around it.

use std::path::PathBuf;
use std::sync::Arc;

use shakedown_agent::scenario::Scenario;
use shakedown_agent::score::PhaseWeights;
use shakedown_faults::FaultConfig;
use shakedown_sandbox::{FsPolicy, Launcher};
use shakedown_sql::chaos::ChaosScript;
use shakedown_sql::policy::Policy;

/// A loaded config with the name it was given by (a built-in name or a path).
#[derive(Debug, Clone)]
pub struct Named<T> {
    pub name: String,
    pub value: Arc<T>,
}

impl<T> Named<T> {
    pub fn new(name: impl Into<String>, value: T) -> Named<T> {
        Named {
            name: name.into(),
            value: Arc::new(value),
        }
    }
}

/// How the agent is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentTarget {
    /// A command line (split with shell-word rules, never run through a shell); the task comes
    /// in `SHAKEDOWN_TASK` and on stdin, the answer on stdout.
    Command(String),
    /// An HTTP endpoint on loopback: `POST` JSON `{task, scenario, run_id, database_url,
    /// openai_base_url, anthropic_base_url}`, answer JSON `{output}` (or `answer`/`response`)
    /// or plain text.
    Url(String),
}

/// One column of the matrix besides the baseline: what chaos is active in it.
#[derive(Debug, Clone)]
pub struct FaultScenario {
    /// `db_lock_v1`, `degraded_llm`, `db_lock_v1+degraded_llm`…
    pub name: String,
    pub chaos: Option<Named<ChaosScript>>,
    pub faults: Option<Named<FaultConfig>>,
}

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub run_id: String,
    pub agent: AgentTarget,
    pub scenario: Scenario,
    pub policy: Option<Named<Policy>>,
    /// The fault scenarios; the baseline is always run as well.
    pub fault_scenarios: Vec<FaultScenario>,
    /// Where the fault proxy sends LLM calls (`/openai/…` and `/anthropic/…` routes), e.g. a
    /// `shakedown mock-llm`; `None` answers LLM calls with 502.
    pub llm_upstream: Option<String>,
    pub repeat: u32,
    pub threshold: f64,
    pub weights: PhaseWeights,
    /// Confine the agent with Landlock (`--no-fs-sandbox` turns it off).
    pub fs_sandbox: bool,
    /// Confine a confined agent's TCP too, to the cell's SQL and fault proxies
    /// (`--no-net-sandbox` turns it off; meaningless without `fs_sandbox`).
    pub net_sandbox: bool,
    /// Paths the agent may not read (Landlock): Shakedown's data directory and the managed
    /// cluster's home, which hold the admin password, the cluster's files and other runs. The
    /// cell's own working directory inside them stays usable.
    pub protected: Vec<PathBuf>,
    pub fs_policy: Option<FsPolicy>,
    pub seed: u64,
    /// Where cells' working directories are made.
    pub work_root: PathBuf,
    /// Keep the working directories after the run (for debugging).
    pub keep_workdirs: bool,
    /// The program that confines and execs a command agent.
    pub launcher: Launcher,
}
