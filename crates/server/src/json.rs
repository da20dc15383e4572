//! Typed JSON bodies: every way a body can be wrong is a 4xx with the error shape, never a 5xx
//! or a half-done action. Not JSON content → 415; not JSON, truncated, bad UTF-8 or nested
//! too deep → 400; JSON of the wrong shape (unknown field, wrong type, missing field) → 422.
//! Handlers validate the meaning of the fields before they touch the store or the ledger.
//! The 400 / 422 split is [`shakedown_httpguard::json`]'s; the wording is the API's.

use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use shakedown_httpguard::json::{JsonError, has_json_content_type, parse_json};

use crate::error::ApiError;
use crate::guard::body_limit::{message, read_body};
use crate::state::AppState;

/// A required JSON body.
pub struct ApiJson<T>(pub T);

/// A JSON body that may be absent (an empty body means `T::default()`).
pub struct OptionalJson<T>(pub T);

async fn bytes(req: Request, state: &AppState) -> Result<bytes::Bytes, ApiError> {
    read_body(
        req.into_body(),
        state.config.max_body,
        state.config.header_timeout,
    )
    .await
    .map_err(|e| ApiError::new(e.status(), "bad_body", message(&e)))
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    parse_json(bytes).map_err(|e| match e {
        JsonError::Mismatch(e) => ApiError::unprocessable(format!(
            "the JSON body does not match the schema: {e}; /api/openapi.json describes it"
        )),
        JsonError::Malformed(e) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not valid JSON: {e}"),
        ),
    })
}

fn check_content_type(req: &Request) -> Result<(), ApiError> {
    if has_json_content_type(req.headers()) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with Content-Type: application/json",
        ))
    }
}

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        // The body is read (bounded) before the type is judged: answering with unread bytes
        // in the socket makes the close a reset that can destroy the answer.
        let wrong_type = check_content_type(&req).err();
        let b = bytes(req, state).await?;
        if let Some(e) = wrong_type {
            return Err(e);
        }
        parse(&b).map(ApiJson)
    }
}

impl<T: DeserializeOwned + Default> FromRequest<AppState> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let has_type = req.headers().contains_key(header::CONTENT_TYPE);
        let wrong_type = if has_type {
            check_content_type(&req).err()
        } else {
            None
        };
        let b = bytes(req, state).await?;
        if let Some(e) = wrong_type {
            return Err(e);
        }
        if b.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        if !has_type {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        parse(&b).map(OptionalJson)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_is_400_and_a_schema_mismatch_422_in_the_api_shape() {
        assert_eq!(parse::<Vec<i64>>(b"[1, 2]").ok(), Some(vec![1, 2]));
        let e = parse::<Vec<i64>>(b"[1, ").unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (400, "malformed_json"));
        assert!(
            e.message.starts_with("the body is not valid JSON: "),
            "{}",
            e.message
        );
        let e = parse::<Vec<i64>>(br#"{"n": 1}"#).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (422, "invalid_request"));
        assert!(
            e.message
                .starts_with("the JSON body does not match the schema: ")
                && e.message.ends_with("; /api/openapi.json describes it"),
            "{}",
            e.message
        );
    }
}
