//! The report of an agent run: one serialisable record (its JSON Schema is
//! `schemas/run-report.schema.json`) and its renderings as Markdown, JUnit XML and SARIF 2.1.0.

mod junit;
mod markdown;
mod model;
mod sarif;

pub use junit::junit;
pub use markdown::markdown;
pub use model::{
    AgentDescription, CellReport, FaultSummary, RunReport, RunStatus, TimelineEntry,
    run_report_schema,
};
pub use sarif::sarif;
