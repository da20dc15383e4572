//! Invariants: checks on an agent's answer that must hold (Flakestorm's names), each with a
//! severity, a condition on which chaos was active (`when`) and `negate`.

mod eval;
mod model;

pub use eval::{evaluate, evaluate_all};
pub use model::{ChaosState, Invariant, InvariantKind, InvariantOutcome, Observation, When};
