//! The seam between the proxy and the rules: a [`Decider`] numbers each call and says which
//! faults fire on it. The config engine implements it; tests may implement it directly.

use crate::{CallInfo, FiredFault};

/// Decides which faults fire on a call. Implementations must be deterministic for a given
/// seed and sequence of calls.
pub trait Decider: Send + Sync {
    /// Sets `call.call_number` for the call's family and returns the faults that fire, in the
    /// order they apply.
    fn decide(&self, call: &mut CallInfo) -> Vec<FiredFault>;
}
