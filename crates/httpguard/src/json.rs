//! JSON request bodies: which content types count as JSON, and the split of a bad body into
//! malformed (not JSON, truncated, bad UTF-8, nested deeper than serde_json's recursion limit
//! of 128 → 400) and mismatched (valid JSON of the wrong shape: types, nulls, missing or
//! unknown fields → 422). The wording of the answer is the caller's.

use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::error::Category;

/// True for `application/json` and `application/*+json`, with any parameters.
pub fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// True when the request declares a JSON `Content-Type`.
pub fn has_json_content_type(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(is_json)
}

/// Why a body is not a `T`. Displays as serde_json's own message (line and column).
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// Not JSON at all: syntax, truncation, bad UTF-8, too deep.
    #[error(transparent)]
    Malformed(serde_json::Error),
    /// Valid JSON of the wrong shape.
    #[error(transparent)]
    Mismatch(serde_json::Error),
}

impl JsonError {
    /// 400 for a malformed body, 422 for a mismatched one.
    pub fn status(&self) -> StatusCode {
        match self {
            JsonError::Malformed(_) => StatusCode::BAD_REQUEST,
            JsonError::Mismatch(_) => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }
}

/// Deserialises `bytes` as `T`.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonError> {
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        Category::Data => JsonError::Mismatch(e),
        Category::Syntax | Category::Eof | Category::Io => JsonError::Malformed(e),
    })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Thing {
        n: i64,
    }

    fn status(body: &[u8]) -> u16 {
        match parse_json::<Thing>(body) {
            Ok(_) => 200,
            Err(e) => e.status().as_u16(),
        }
    }

    #[test]
    fn shape_errors_are_422_and_syntax_errors_400() {
        for (body, expected) in [
            (&br#"{"n": 1}"#[..], 200),
            (br#"{"n": "#, 400),
            (b"{\"n\": \xff}", 400),
            (br#"{"n": 1e400}"#, 400),
            (br#"{"n": null}"#, 422),
            (br#"{"n": "1"}"#, 422),
            (br#"{"n": 99999999999999999999}"#, 422),
            (br#"{"n": 1, "x": 2}"#, 422),
            (br#"{"n": 1, "__proto__": {}}"#, 422),
            (br#"{}"#, 422),
        ] {
            assert_eq!(
                status(body),
                expected,
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn nesting_too_deep_is_a_client_error() {
        // Either answer is a 4xx; what matters is no stack overflow and no 5xx.
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(matches!(status(deep.as_bytes()), 400 | 422));
        let deep_object = format!("{}1{}", "{\"n\":".repeat(10_000), "}".repeat(10_000));
        assert!(matches!(status(deep_object.as_bytes()), 400 | 422));
    }

    #[test]
    fn the_message_is_serde_jsons_own() {
        let e = parse_json::<Thing>(br#"{"n": "1"}"#).unwrap_err();
        assert!(e.to_string().contains("line 1 column"), "{e}");
    }

    #[test]
    fn json_content_types() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(is_json("application/vnd.x+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json("text/json+xml"));
        assert!(!is_json(""));
        let mut h = HeaderMap::new();
        assert!(!has_json_content_type(&h));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        assert!(has_json_content_type(&h));
    }
}
