//! BindComplete: A Bind succeeded.

use super::tags::backend::BIND_COMPLETE;

empty_message!(
    /// A Bind succeeded.
    BindComplete,
    BIND_COMPLETE,
    "BindComplete"
);
