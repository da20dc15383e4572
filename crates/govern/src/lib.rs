//! Governance: who may do what where (RBAC with scopes), how risky a chaos action is and who
//! must approve it, approvals bound to the exact plan and expiring, and error budgets that gate
//! chaos when an environment has had enough. Pure logic with an injectable clock; the control
//! plane stores and serves it.

pub mod approval;
pub mod budget;
pub mod clock;
pub mod rbac;
pub mod risk;
pub mod token;

pub use approval::{Approval, ApprovalError, PlanHash, Signer};
pub use budget::{BudgetDecision, ErrorBudget};
pub use clock::{Clock, FixedClock, SharedClock, SystemClock};
pub use rbac::{Account, AccountKind, Denied, Permission, Role, ScopePattern};
pub use risk::{Decision, RiskAction, RiskInput, RiskScore, risk_score};
