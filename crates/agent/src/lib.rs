//! Shakedown agent chaos runs: the scenario an agent is given, the invariants its answer must
//! keep and how they are evaluated. Everything here judges what an agent did; the sandbox
//! that runs it lives beside it.

pub mod invariant;
pub mod report;
pub mod scenario;
pub mod score;
pub mod state;
pub mod text;

pub use invariant::{ChaosState, Invariant, InvariantKind, InvariantOutcome, Observation, When};
