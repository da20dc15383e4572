//! CopyDone: the end of a COPY data stream (sent by either side).

use super::tags::frontend::COPY_DONE;

empty_message!(
    /// End of COPY data.
    CopyDone,
    COPY_DONE,
    "CopyDone"
);
