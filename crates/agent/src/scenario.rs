//! Scenarios: what an agent is asked to do, with what data and files, and what must hold
//! afterwards. ChaosTrace scenario files are accepted as they are; Shakedown adds seed SQL,
//! files, golden prompts, invariants and state checks. See docs/scenarios.md.

mod builtin;
mod file;
mod load;
mod model;

pub use builtin::{BUILTIN, builtin, builtin_names};
pub use load::{Resolver, load_scenario, load_scenario_file, load_scenario_in};
pub use model::{FileAssert, FileEntry, Scenario, SqlExpect, StateCheck, StateCheckKind};
