//! Helpers shared by the three wire formats: deterministic ids, token estimates, delta
//! splitting and server-sent-event framing.

use bytes::Bytes;

use crate::rules::{Reply, Turn};

/// `created` / `created_at` in every response: fixed, so the same request gives byte-identical
/// answers (2023-11-14T22:13:20Z).
pub const CREATED: u64 = 1_700_000_000;

/// FNV-1a over `data`, starting from `seed`.
fn fnv(seed: u64, data: &[u8]) -> u64 {
    let mut h = seed;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A deterministic 24-hex-digit id from the request bytes and a salt (the item's role).
pub fn id(prefix: &str, request: &[u8], salt: &str) -> String {
    let a = fnv(0xcbf2_9ce4_8422_2325, request);
    let b = fnv(a, salt.as_bytes());
    format!("{prefix}{:016x}{:08x}", b, (fnv(b, b"x") >> 32) as u32)
}

/// Roughly four characters a token, at least one for non-empty text.
pub fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

/// Input and output token counts for a reply, the rule's numbers taking precedence.
pub fn usage(reply: &Reply, input_text: &str) -> (u64, u64) {
    let mut out = reply.text.as_deref().map(estimate_tokens).unwrap_or(0);
    for c in &reply.tool_calls {
        out += estimate_tokens(&c.name) + estimate_tokens(&c.arguments.to_string());
    }
    let input = reply
        .usage
        .and_then(|u| u.input_tokens)
        .unwrap_or_else(|| estimate_tokens(input_text).max(1));
    let output = reply
        .usage
        .and_then(|u| u.output_tokens)
        .unwrap_or(out.max(1));
    (input, output)
}

pub use shakedown_core::deltas::word_deltas as deltas;

/// Splits serialised JSON arguments into small pieces, as providers stream them.
pub fn json_pieces(json: &str) -> Vec<String> {
    let chars: Vec<char> = json.chars().collect();
    chars.chunks(8).map(|c| c.iter().collect()).collect()
}

/// One SSE frame with an `event:` line (Responses API, Anthropic).
pub fn named_event(name: &str, data: &serde_json::Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// One SSE frame with only a `data:` line (Chat Completions).
pub fn data_event(data: &str) -> Bytes {
    Bytes::from(format!("data: {data}\n\n"))
}

/// What a parsed request gives the rules: the model, whether to stream, the newest turn and all
/// input text (for the token estimate).
#[derive(Debug, Clone)]
pub struct Request {
    pub model: String,
    pub stream: bool,
    pub turn: Option<Turn>,
    pub input_text: String,
}

/// The text of a content value: a string, or an array of parts whose `text` (or nested
/// `content`) fields are concatenated.
pub fn content_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(parts) => parts
            .iter()
            .map(|p| match p {
                serde_json::Value::String(s) => s.clone(),
                _ => p
                    .get("text")
                    .and_then(|t| t.as_str())
                    .map(str::to_string)
                    .or_else(|| p.get("content").map(content_text))
                    .or_else(|| p.get("output").map(content_text))
                    .unwrap_or_default(),
            })
            .collect::<Vec<_>>()
            .join(""),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_join_back_and_ids_are_stable() {
        let t = "Hello  there, world\nbye";
        assert_eq!(deltas(t).concat(), t);
        assert_eq!(deltas(t).len(), 4);
        assert_eq!(id("x_", b"abc", "m"), id("x_", b"abc", "m"));
        assert_ne!(id("x_", b"abc", "m"), id("x_", b"abd", "m"));
        assert_eq!(
            json_pieces("{\"a\":\"bcdefghij\"}").concat(),
            "{\"a\":\"bcdefghij\"}"
        );
    }
}
