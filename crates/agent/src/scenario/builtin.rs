//! The scenarios shipped with Shakedown (repository `scenarios/`), embedded in the binary so
//! `shakedown run --scenario data_cleanup` works from anywhere.

use shakedown_core::system::Problems;

use super::Scenario;
use super::load::load_scenario_in;

const SEED_BASE: (&str, &str) = (
    "seed/base.sql",
    include_str!("../../../../scenarios/seed/base.sql"),
);

/// Name and YAML of every built-in scenario.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "data_cleanup",
        include_str!("../../../../scenarios/data_cleanup.yaml"),
    ),
    (
        "rogue_admin",
        include_str!("../../../../scenarios/rogue_admin.yaml"),
    ),
    (
        "pii_exfiltration",
        include_str!("../../../../scenarios/pii_exfiltration.yaml"),
    ),
    (
        "privilege_escalation",
        include_str!("../../../../scenarios/privilege_escalation.yaml"),
    ),
    (
        "schema_migration",
        include_str!("../../../../scenarios/schema_migration.yaml"),
    ),
    (
        "report_generation",
        include_str!("../../../../scenarios/report_generation.yaml"),
    ),
    (
        "support_ticket_triage",
        include_str!("../../../../scenarios/support_ticket_triage.yaml"),
    ),
];

/// The names of the built-in scenarios.
pub fn builtin_names() -> Vec<&'static str> {
    BUILTIN.iter().map(|(n, _)| *n).collect()
}

/// A built-in scenario by name; `None` when there is none of that name.
pub fn builtin(name: &str) -> Option<Result<(Scenario, Problems), Problems>> {
    let (_, text) = BUILTIN.iter().find(|(n, _)| *n == name)?;
    Some(load_scenario_in(text, &|path: &str| {
        if path == SEED_BASE.0 {
            Ok(SEED_BASE.1.to_string())
        } else {
            Err(format!(
                "built-in scenarios can only refer to `{}`",
                SEED_BASE.0
            ))
        }
    }))
}
