//! Query strings, with the error shape: an unknown parameter or a value of the wrong type is a
//! 422 naming it (axum's own rejection is plain text).

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A typed query string.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Query::<T>::try_from_uri(&parts.uri)
            .map(|q| ApiQuery(q.0))
            .map_err(|e| {
                ApiError::unprocessable(format!(
                    "invalid query string: {}; /api/openapi.json lists the parameters",
                    e.body_text()
                ))
            })
    }
}

/// Checks a `limit` parameter: 1..=max, `default` when absent.
pub fn limit(given: Option<usize>, default: usize, max: usize) -> Result<usize, ApiError> {
    match given {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::unprocessable(format!(
            "limit must be between 1 and {max}, got {n}"
        ))),
    }
}

/// Whether an id from a path can name anything we store (letters, digits, `_`, `-`, `.`; at
/// most 128). Anything else is answered 404 without a lookup.
pub fn plausible_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}
