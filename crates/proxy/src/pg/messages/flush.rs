//! Flush: ask the server to send what it has buffered, without ending the batch.

use super::tags::frontend::FLUSH;

empty_message!(
    /// A request to flush pending output.
    Flush,
    FLUSH,
    "Flush"
);
