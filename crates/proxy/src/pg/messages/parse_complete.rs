//! ParseComplete: A Parse succeeded.

use super::tags::backend::PARSE_COMPLETE;

empty_message!(
    /// A Parse succeeded.
    ParseComplete,
    PARSE_COMPLETE,
    "ParseComplete"
);
