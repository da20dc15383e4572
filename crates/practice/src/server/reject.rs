//! The guarded server's answer to connections beyond its cap: a 503 with `Connection: close`.
//! Reading the head, answering and draining, each bounded, is
//! [`shakedown_httpguard::reject`]'s.

use bytes::Bytes;
use shakedown_httpguard::reject::json_503;

const BODY: &str = r#"{"error":"too many connections; retry later"}"#;

/// The whole answer, head and body.
pub fn response() -> Bytes {
    json_503(&[], BODY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_is_the_practice_error_shape() {
        let v: serde_json::Value = serde_json::from_str(BODY).unwrap();
        assert_eq!(v["error"], "too many connections; retry later");
        assert!(response().ends_with(BODY.as_bytes()));
    }
}
