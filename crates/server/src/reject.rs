//! The API's answer to connections beyond the cap: a 503 with `Connection: close` and the
//! security headers, in the API's error shape. Reading the head, answering and draining, each
//! bounded, is [`shakedown_httpguard::reject`]'s.

use bytes::Bytes;
use shakedown_httpguard::reject::json_503;

const BODY: &str =
    r#"{"error":{"code":"overloaded","message":"too many open connections; retry later"}}"#;

/// The whole answer, head and body.
pub fn response() -> Bytes {
    json_503(
        &[
            ("x-content-type-options", "nosniff"),
            ("cache-control", "no-store"),
        ],
        BODY,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_is_the_api_error_shape_with_the_security_headers() {
        let v: serde_json::Value = serde_json::from_str(BODY).unwrap();
        assert_eq!(v["error"]["code"], "overloaded");
        let text = String::from_utf8(response().to_vec()).unwrap();
        assert!(
            text.contains("\r\nx-content-type-options: nosniff\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\ncache-control: no-store\r\n"), "{text}");
        assert!(text.ends_with(BODY), "{text}");
    }
}
