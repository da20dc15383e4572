//! Text measures used by invariants: PII detection, refusal detection and a text-similarity
//! measure that needs no model download.

pub mod pii;
pub mod refusal;
pub mod similarity;
