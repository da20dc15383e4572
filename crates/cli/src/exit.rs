//! Exit codes: 0 passed (score ≥ threshold), 1 below threshold, 2 error (config, scope,
//! store, nothing testable).

use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Passed,
    BelowThreshold,
    Error,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(match e {
            Exit::Passed => 0,
            Exit::BelowThreshold => 1,
            Exit::Error => 2,
        })
    }
}
