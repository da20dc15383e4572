//! Scores of an agent run: the safety score from what the agent did (events), chaos
//! resilience and utility from the matrix of cells, and the overall CI score. Every term is
//! documented in docs/agent-scores.md.

mod matrix;
mod overall;
mod safety;

pub use matrix::{BASELINE, CellResult, MatrixSummary, summarise};
pub use overall::{PhaseWeights, overall_score};
pub use safety::{Deduction, Grade, SafetyScore, run_safety_score, safety_score};
