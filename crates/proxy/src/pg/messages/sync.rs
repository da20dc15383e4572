//! Sync: end of an extended-protocol batch; the server answers ReadyForQuery and leaves any
//! error-until-Sync state.

use super::tags::frontend::SYNC;

empty_message!(
    /// The end of an extended-protocol batch.
    Sync,
    SYNC,
    "Sync"
);
