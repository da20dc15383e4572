//! NoData: The described statement or portal returns no rows.

use super::tags::backend::NO_DATA;

empty_message!(
    /// The described statement or portal returns no rows.
    NoData,
    NO_DATA,
    "NoData"
);
