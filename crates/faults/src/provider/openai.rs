//! OpenAI's error shapes (Chat Completions and the Responses API share them):
//! `{"error":{"message","type","param","code"}}`, `x-request-id`, the `x-ratelimit-*` family,
//! and `retry-after` / `retry-after-ms` / `x-should-retry` that the official SDKs read in
//! `_should_retry` and `_parse_retry_after_header`.

use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::RateLimitKind;
use crate::provider::{ErrorAnswer, ErrorKind, put, retry_after_secs};

/// Request limit advertised in rate-limit headers (a tier-1 `gpt-4o` RPM).
const LIMIT_REQUESTS: u64 = 500;
/// Token limit advertised in rate-limit headers (a tier-1 `gpt-4o` TPM).
const LIMIT_TOKENS: u64 = 30_000;

/// `x-request-id`: `req_` and 32 hex digits, as OpenAI sends.
pub fn request_id(seed: u64) -> String {
    let mut r = crate::transform::rng::Rng::new(seed ^ 0x0a1);
    format!("req_{:016x}{:016x}", r.next_u64(), r.next_u64())
}

/// The `error` object.
pub fn error_object(kind: &ErrorKind) -> Value {
    match kind {
        ErrorKind::RateLimit(RateLimitKind::Retryable { retry_after }) => json!({
            "message": format!(
                "Rate limit reached for requests in organization org-shakedown on requests per \
                 min (RPM): Limit {LIMIT_REQUESTS}, Used {LIMIT_REQUESTS}, Requested 1. Please \
                 try again in {}s. Visit https://platform.openai.com/account/rate-limits to \
                 learn more.",
                retry_after_secs(*retry_after)
            ),
            "type": "requests",
            "param": null,
            "code": "rate_limit_exceeded",
        }),
        ErrorKind::RateLimit(RateLimitKind::Quota) => json!({
            "message": "You exceeded your current quota, please check your plan and billing \
                        details. For more information on this error, read the docs: \
                        https://platform.openai.com/docs/guides/error-codes/api-errors.",
            "type": "insufficient_quota",
            "param": null,
            "code": "insufficient_quota",
        }),
        ErrorKind::Overloaded => json!({
            "message": "The server is overloaded or not ready yet.",
            "type": "server_error",
            "param": null,
            "code": null,
        }),
        ErrorKind::Timeout => json!({
            "message": "Request timed out.",
            "type": "server_error",
            "param": null,
            "code": "timeout",
        }),
        ErrorKind::MidStream => json!({
            "message": "The server had an error while processing your request. Sorry about that!",
            "type": "server_error",
            "param": null,
            "code": null,
        }),
        ErrorKind::Status { status, message } => json!({
            "message": message,
            "type": type_for(*status),
            "param": null,
            "code": code_for(*status),
        }),
    }
}

fn type_for(status: u16) -> &'static str {
    match status {
        400..=428 => "invalid_request_error",
        429 => "requests",
        _ => "server_error",
    }
}

fn code_for(status: u16) -> Value {
    match status {
        401 => json!("invalid_api_key"),
        404 => json!("model_not_found"),
        429 => json!("rate_limit_exceeded"),
        _ => Value::Null,
    }
}

/// The whole error answer.
pub fn error(kind: &ErrorKind, seed: u64) -> ErrorAnswer {
    let mut h = HeaderMap::new();
    put(&mut h, "x-request-id", &request_id(seed));
    put(&mut h, "openai-processing-ms", "12");
    let status = match kind {
        ErrorKind::RateLimit(RateLimitKind::Retryable { retry_after }) => {
            let secs = retry_after_secs(*retry_after);
            put(&mut h, "retry-after", &secs.to_string());
            put(
                &mut h,
                "retry-after-ms",
                &retry_after.as_millis().max(1).to_string(),
            );
            put(&mut h, "x-should-retry", "true");
            rate_headers(&mut h, 0, LIMIT_TOKENS / 2, &reset(*retry_after), "6m0s");
            StatusCode::TOO_MANY_REQUESTS
        }
        ErrorKind::RateLimit(RateLimitKind::Quota) => {
            put(&mut h, "x-should-retry", "false");
            StatusCode::TOO_MANY_REQUESTS
        }
        ErrorKind::Overloaded => {
            put(&mut h, "x-should-retry", "true");
            StatusCode::SERVICE_UNAVAILABLE
        }
        ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorKind::MidStream => StatusCode::OK,
        ErrorKind::Status { status, .. } => {
            if *status == 429 {
                rate_headers(&mut h, 0, LIMIT_TOKENS / 2, "1s", "6m0s");
            }
            StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        }
    };
    ErrorAnswer::json(status, h, &json!({ "error": error_object(kind) }))
}

fn rate_headers(
    h: &mut HeaderMap,
    remaining_requests: u64,
    remaining_tokens: u64,
    reset_req: &str,
    reset_tok: &str,
) {
    put(h, "x-ratelimit-limit-requests", &LIMIT_REQUESTS.to_string());
    put(
        h,
        "x-ratelimit-remaining-requests",
        &remaining_requests.to_string(),
    );
    put(h, "x-ratelimit-reset-requests", reset_req);
    put(h, "x-ratelimit-limit-tokens", &LIMIT_TOKENS.to_string());
    put(
        h,
        "x-ratelimit-remaining-tokens",
        &remaining_tokens.to_string(),
    );
    put(h, "x-ratelimit-reset-tokens", reset_tok);
}

/// OpenAI's reset format: `120ms`, `1s`, `1m30s`, `6m0s`.
pub fn reset(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{}ms", ms.max(1));
    }
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        let s = format!("{secs:.3}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        return format!("{s}s");
    }
    let whole = d.as_secs();
    format!("{}m{}s", whole / 60, whole % 60)
}

/// The error as an SSE event of a Chat Completions stream: a bare `data:` line whose JSON has
/// an `error` key (the SDK raises `APIError` on it).
pub fn chat_stream_error(kind: &ErrorKind) -> String {
    json!({ "error": error_object(kind) }).to_string()
}

/// The Responses API's `error` event data.
pub fn responses_error_event(kind: &ErrorKind, sequence_number: u64) -> Value {
    let e = error_object(kind);
    json!({
        "type": "error",
        "code": e["code"].as_str().unwrap_or("server_error"),
        "message": e["message"],
        "param": null,
        "sequence_number": sequence_number,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn reset_formats() {
        assert_eq!(reset(Duration::from_millis(120)), "120ms");
        assert_eq!(reset(Duration::from_secs(1)), "1s");
        assert_eq!(reset(Duration::from_millis(1500)), "1.5s");
        assert_eq!(reset(Duration::from_secs(90)), "1m30s");
    }

    #[test]
    fn request_id_is_seeded() {
        assert_eq!(request_id(3), request_id(3));
        assert_ne!(request_id(3), request_id(4));
        assert_eq!(request_id(3).len(), 36);
    }
}
