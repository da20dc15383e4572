//! PortalSuspended: An Execute hit its row limit; the portal can be resumed.

use super::tags::backend::PORTAL_SUSPENDED;

empty_message!(
    /// An Execute hit its row limit; the portal can be resumed.
    PortalSuspended,
    PORTAL_SUSPENDED,
    "PortalSuspended"
);
