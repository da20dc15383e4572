//! CloseComplete: A Close succeeded.

use super::tags::backend::CLOSE_COMPLETE;

empty_message!(
    /// A Close succeeded.
    CloseComplete,
    CLOSE_COMPLETE,
    "CloseComplete"
);
