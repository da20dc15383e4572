//! Anthropic's error shapes: `{"type":"error","error":{"type","message"},"request_id"}` with a
//! `request-id` header, `anthropic-ratelimit-*` headers on 429s, 529 `overloaded_error`, 500
//! `api_error`, 504 `timeout_error`. The official SDK maps the status to a class
//! (`RateLimitError`, `OverloadedError`, …) and obeys `x-should-retry` before the status.

use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

use crate::RateLimitKind;
use crate::provider::{ErrorAnswer, ErrorKind, put, retry_after_secs, seeded_id};

const LIMIT_REQUESTS: u64 = 50;
const LIMIT_TOKENS: u64 = 40_000;
const LIMIT_INPUT_TOKENS: u64 = 30_000;
const LIMIT_OUTPUT_TOKENS: u64 = 8_000;

/// `request-id`: `req_011C` and 20 base62 characters, as Anthropic sends.
pub fn request_id(seed: u64) -> String {
    format!("req_011C{}", seeded_id(seed, 0x0a2, 20))
}

/// The inner `error` object (`type`, `message`).
pub fn error_object(kind: &ErrorKind) -> Value {
    let (ty, message) = match kind {
        ErrorKind::RateLimit(RateLimitKind::Retryable { .. }) => (
            "rate_limit_error",
            "This request would exceed the rate limit for your organization of 50 requests per \
             minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can \
             see the response headers for current usage. Please reduce the prompt length or the \
             maximum tokens requested, or try again later."
                .to_string(),
        ),
        ErrorKind::RateLimit(RateLimitKind::Quota) => (
            "rate_limit_error",
            "You have reached your specified API usage limits. You will regain access on the \
             first day of next month at 00:00 UTC."
                .to_string(),
        ),
        ErrorKind::Overloaded | ErrorKind::MidStream => {
            ("overloaded_error", "Overloaded".to_string())
        }
        ErrorKind::Timeout => ("timeout_error", "Request timed out".to_string()),
        ErrorKind::Status { status, message } => (type_for(*status), message.clone()),
    };
    json!({"type": ty, "message": message})
}

fn type_for(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        529 => "overloaded_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

/// The whole error answer.
pub fn error(kind: &ErrorKind, seed: u64) -> ErrorAnswer {
    let id = request_id(seed);
    let mut h = HeaderMap::new();
    put(&mut h, "request-id", &id);
    let status = match kind {
        ErrorKind::RateLimit(RateLimitKind::Retryable { retry_after }) => {
            let secs = retry_after_secs(*retry_after);
            put(&mut h, "retry-after", &secs.to_string());
            put(&mut h, "x-should-retry", "true");
            rate_headers(&mut h, secs);
            StatusCode::TOO_MANY_REQUESTS
        }
        ErrorKind::RateLimit(RateLimitKind::Quota) => {
            put(&mut h, "x-should-retry", "false");
            StatusCode::TOO_MANY_REQUESTS
        }
        ErrorKind::Overloaded => {
            put(&mut h, "x-should-retry", "true");
            overloaded()
        }
        ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorKind::MidStream => StatusCode::OK,
        ErrorKind::Status { status, .. } => {
            if *status == 429 {
                put(&mut h, "retry-after", "1");
                rate_headers(&mut h, 1);
            }
            StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        }
    };
    ErrorAnswer::json(
        status,
        h,
        &json!({"type": "error", "error": error_object(kind), "request_id": id}),
    )
}

/// 529, Anthropic's own "overloaded" status.
pub fn overloaded() -> StatusCode {
    StatusCode::from_u16(529).unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
}

fn rate_headers(h: &mut HeaderMap, secs: u64) {
    // Reset times are RFC 3339 instants; only these depend on the clock, never the body.
    let at = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc())
        + time::Duration::seconds(secs as i64);
    let at = at.format(&Rfc3339).unwrap_or_default();
    for (kind, limit, remaining) in [
        ("requests", LIMIT_REQUESTS, 0),
        ("tokens", LIMIT_TOKENS, LIMIT_TOKENS / 4),
        ("input-tokens", LIMIT_INPUT_TOKENS, LIMIT_INPUT_TOKENS / 4),
        (
            "output-tokens",
            LIMIT_OUTPUT_TOKENS,
            LIMIT_OUTPUT_TOKENS / 4,
        ),
    ] {
        for (suffix, value) in [
            ("limit", limit.to_string()),
            ("remaining", remaining.to_string()),
            ("reset", at.clone()),
        ] {
            let name = format!("anthropic-ratelimit-{kind}-{suffix}");
            if let (Ok(n), Ok(v)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_str(&value),
            ) {
                h.insert(n, v);
            }
        }
    }
}

/// The `error` event data of a stream.
pub fn stream_error(kind: &ErrorKind) -> String {
    json!({"type": "error", "error": error_object(kind)}).to_string()
}
