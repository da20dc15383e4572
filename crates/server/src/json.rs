//! Typed JSON bodies: every way a body can be wrong is a 4xx with the error shape, never a 5xx
//! or a half-done action. Not JSON content → 415; not JSON, truncated, bad UTF-8 or nested
//! too deep → 400; JSON of the wrong shape (unknown field, wrong type, missing field) → 422.
//! Handlers validate the meaning of the fields before they touch the store or the ledger.

use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use crate::error::ApiError;
use crate::state::AppState;

/// A required JSON body.
pub struct ApiJson<T>(pub T);

/// A JSON body that may be absent (an empty body means `T::default()`).
pub struct OptionalJson<T>(pub T);

fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

async fn bytes(req: Request, state: &AppState) -> Result<bytes::Bytes, ApiError> {
    crate::guard::body_limit::read_body(
        req.into_body(),
        state.config.max_body,
        state.config.header_timeout,
    )
    .await
    .map_err(|e| {
        let status = match e {
            crate::guard::body_limit::BodyError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            crate::guard::body_limit::BodyError::Stalled(_) => StatusCode::REQUEST_TIMEOUT,
            crate::guard::body_limit::BodyError::Broken(_) => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, "bad_body", e.to_string())
    })
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        Category::Data => ApiError::unprocessable(format!(
            "the JSON body does not match the schema: {e}; /api/openapi.json describes it"
        )),
        Category::Syntax | Category::Eof | Category::Io => ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not valid JSON: {e}"),
        ),
    })
}

fn check_content_type(req: &Request) -> Result<(), ApiError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if ct.is_some_and(is_json) {
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
        check_content_type(&req)?;
        let b = bytes(req, state).await?;
        parse(&b).map(ApiJson)
    }
}

impl<T: DeserializeOwned + Default> FromRequest<AppState> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let has_type = req.headers().contains_key(header::CONTENT_TYPE);
        if has_type {
            check_content_type(&req)?;
        }
        let b = bytes(req, state).await?;
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

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Thing {
        n: i64,
    }

    #[test]
    fn shape_errors_are_422_and_syntax_errors_400() {
        assert!(parse::<Thing>(br#"{"n": 1}"#).is_ok());
        for (body, status) in [
            (&br#"{"n": "#[..], 400),
            (b"{\"n\": \xff}", 400),
            (br#"{"n": null}"#, 422),
            (br#"{"n": "1"}"#, 422),
            (br#"{"n": 1, "x": 2}"#, 422),
            (br#"{}"#, 422),
        ] {
            assert_eq!(
                parse::<Thing>(body).unwrap_err().status.as_u16(),
                status,
                "{body:?}"
            );
        }
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(
            parse::<Thing>(deep.as_bytes())
                .unwrap_err()
                .status
                .is_client_error()
        );
        assert!(is_json("application/json; charset=utf-8"));
        assert!(!is_json("text/plain"));
    }
}
