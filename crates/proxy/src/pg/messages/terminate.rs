//! Terminate: the client is closing the session.

use super::tags::frontend::TERMINATE;

empty_message!(
    /// The client's goodbye.
    Terminate,
    TERMINATE,
    "Terminate"
);
