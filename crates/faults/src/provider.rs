//! Provider-faithful error answers: status, headers and body exactly as OpenAI, Anthropic or a
//! plain tool server would send them, so official SDKs classify and retry them as they would
//! in production. Request ids derive from the fault's seed (same seed, same ids).

pub mod anthropic;
pub mod openai;
pub mod tool;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::Value;

use crate::transform::rng::Rng;
use crate::{ApiKind, RateLimitKind, Step, Synthetic};

/// Which failure to describe.
#[derive(Debug, Clone, PartialEq)]
pub enum ErrorKind {
    /// A 429: retryable (per-minute limit) or quota exhausted.
    RateLimit(RateLimitKind),
    /// The provider is overloaded (Anthropic 529, OpenAI 503).
    Overloaded,
    /// The gateway gave up waiting (504).
    Timeout,
    /// A configured status and message (`error` faults).
    Status { status: u16, message: String },
    /// A server error reported after a 200 (the body of a `mid_stream_error` on a whole answer,
    /// and the error event of a stream).
    MidStream,
}

/// A complete error answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorAnswer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl ErrorAnswer {
    /// A JSON answer with `content-type` and `content-length` set.
    pub(crate) fn json(status: StatusCode, mut headers: HeaderMap, body: &Value) -> ErrorAnswer {
        let body = Bytes::from(body.to_string());
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        ErrorAnswer {
            status,
            headers,
            body,
        }
    }

    /// As an answer the proxy sends without asking the upstream.
    pub fn into_synthetic(self) -> Synthetic {
        Synthetic {
            status: self.status,
            headers: self.headers,
            body: vec![Step::Data(self.body)],
        }
    }
}

/// The error answer for `api`. `rpc_id` is the JSON-RPC id of a tool request that was
/// JSON-RPC (tool errors then carry a JSON-RPC error object).
pub fn error_answer(
    api: ApiKind,
    kind: &ErrorKind,
    seed: u64,
    rpc_id: Option<&Value>,
) -> ErrorAnswer {
    match api {
        ApiKind::OpenAiChat | ApiKind::OpenAiResponses => openai::error(kind, seed),
        ApiKind::AnthropicMessages => anthropic::error(kind, seed),
        ApiKind::Tool => tool::error(kind, seed, rpc_id),
    }
}

/// The JSON-RPC id of a request body, when the body is a JSON-RPC 2.0 request (`null` when
/// the request had no id).
pub fn rpc_id(request_body: &[u8]) -> Option<Value> {
    if request_body.is_empty() {
        return None;
    }
    let v: Value = serde_json::from_slice(request_body).ok()?;
    v.get("jsonrpc")?;
    v.get("method")?;
    Some(v.get("id").cloned().unwrap_or(Value::Null))
}

/// `n` characters of base62 from the seed, for request ids.
pub(crate) fn seeded_id(seed: u64, salt: u64, n: usize) -> String {
    const ALPHABET: &[char] = &[
        '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H',
        'J', 'K', 'L', 'M', 'N', 'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'a', 'b',
        'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'm', 'n', 'o', 'p', 'q', 'r', 's', 't', 'u',
        'v', 'w', 'x', 'y', 'z',
    ];
    Rng::new(seed ^ salt).string(ALPHABET, n)
}

/// Inserts a header from a string known to be a valid header value.
pub(crate) fn put(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// The retry-after seconds a client should see: whole seconds, at least 1 (HTTP's
/// `Retry-After` is an integer).
pub(crate) fn retry_after_secs(d: std::time::Duration) -> u64 {
    d.as_millis().div_ceil(1000).max(1) as u64
}
