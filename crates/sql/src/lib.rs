//! Shakedown's SQL layer: classify every statement an agent sends, judge it against a
//! ChaosTrace-compatible policy, and decide when chaos-script actions fire. Pure and fast: no
//! I/O, no async runtime, no regex compiled per call. The proxy (`shakedown-proxy`) feeds it
//! statements and executes what it decides.

pub mod builtin;
pub mod chaos;
pub mod classify;
pub mod event;
pub mod policy;

pub use chaos::{ChaosEngine, ChaosScript, FiredAction, SqlEvent, load_chaos};
pub use classify::{
    Classification, ClassifyOptions, RiskLevel, StatementType, TableAction, TableName, TableOp,
    classify,
};
pub use event::SqlEventType;
pub use policy::{
    Catalog, Decision, Policy, PolicyAction, PolicySeverity, SessionState, Violation, evaluate,
    load_policy,
};
