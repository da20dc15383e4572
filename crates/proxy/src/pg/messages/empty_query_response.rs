//! EmptyQueryResponse: The query string was empty.

use super::tags::backend::EMPTY_QUERY_RESPONSE;

empty_message!(
    /// The query string was empty.
    EmptyQueryResponse,
    EMPTY_QUERY_RESPONSE,
    "EmptyQueryResponse"
);
