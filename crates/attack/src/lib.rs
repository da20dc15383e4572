//! The attack engine. Each pattern is one module with one `run` function that sends real
//! traffic to the target and returns a verdict with evidence. [`execute`] wraps an attack with
//! the health probe before and the recovery check after.

pub mod context;
pub mod evidence;
pub mod execute;
pub mod health;
pub mod http;
pub mod input;
pub mod scope;

pub mod data;
pub mod load;
pub mod owasp;

pub use context::{AttackContext, Limits, Target};
pub use execute::{execute, run_pattern};
pub use scope::{ScopeError, resolve_target};
