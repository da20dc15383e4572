//! Shakedown's domain model: what a system file says, which attacks exist, what an attack
//! result looks like, and how results become scores. Pure: no I/O, no async runtime.

pub mod campaign;
pub mod component;
pub mod deltas;
pub mod event;
pub mod guardrail;
pub mod located;
pub mod pattern;
pub mod result;
pub mod score;
pub mod select;
pub mod severity;
pub mod system;
pub mod units;
pub mod xml;

pub use component::ComponentKind;
pub use event::{Event, EventType};
pub use guardrail::Guardrails;
pub use pattern::{Family, Pattern};
pub use result::{AttackOutcome, AttackResult, Evidence, Verdict};
pub use severity::Severity;
pub use system::{Component, SystemSpec};
pub use units::{ByteSize, HumanDuration};
