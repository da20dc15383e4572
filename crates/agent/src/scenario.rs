//! Scenarios: what an agent is asked to do, with what data and files, and what must hold
//! afterwards. ChaosTrace scenario files are accepted as they are; Shakedown adds seed SQL,
//! files, golden prompts, invariants and state checks. See docs/scenarios.md.

mod builtin;
mod file;
mod load;
mod model;

pub use builtin::{BUILTIN, builtin, builtin_names};
/// The JSON Schema of a scenario file (draft 2020-12).
pub fn scenario_schema() -> serde_json::Value {
    let schema = schemars::generate::SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<file::ScenarioFile>();
    serde_json::to_value(schema).expect("schema serialises")
}

pub use load::{Resolver, load_scenario, load_scenario_file, load_scenario_in};
pub use model::{FileAssert, FileEntry, Scenario, SqlExpect, StateCheck, StateCheckKind};
