//! Agent chaos runs. One run is a matrix of cells — golden prompts × fault scenarios (always
//! with a no-fault baseline) × repeats — and each cell gets a fresh sandbox: its own database
//! cloned from the scenario's template behind the policing PostgreSQL proxy (and the chaos
//! script, in fault cells), its own HTTP fault proxy, its own working directory, and the agent
//! confined and observed. The cell is then judged (invariants on the answer, state checks on
//! the database and files) and torn down; the run is scored from every cell and every event.

mod agent_url;
mod cell;
mod error;
mod execute;
mod request;
mod services;
mod verdict;

pub use agent_url::check_url;
pub use error::RunError;
pub use execute::execute;
pub use request::{AgentTarget, FaultScenario, Named, RunRequest};

/// A fresh run id: `run-` and 12 hex digits from the operating system's random source.
pub fn new_run_id() -> String {
    let bytes: [u8; 6] = rand::random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("run-{hex}")
}
