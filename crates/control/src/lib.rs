//! The control plane: turns a system file into a plan, runs it under the environment rule,
//! scores and ranks the results, persists them, publishes events and renders reports.

pub mod approval_signer;
pub mod auth;
pub mod budget_gate;
pub mod campaign;
pub mod error;
pub mod events;
pub mod governance;
pub mod halt;
pub mod halt_latch;
pub mod launch;
pub mod nats;
pub mod plan;
pub mod progress;
pub mod report;
pub mod schedule;

pub use campaign::{CampaignRunner, RunOptions, planned};
pub use error::CampaignError;
pub use events::EventBus;
pub use governance::{Governance, default_actor};
pub use plan::{Plan, PlanOptions, PlannedComponent, plan};
pub use progress::{NoProgress, Progress};
