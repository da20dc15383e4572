//! Rewrites of the assistant's text: truncation, emptying, seeded garbage, replacement by a
//! payload, and the `response_drift` kinds. Pure functions of (text, seed), so a streamed
//! answer rewritten delta by delta and its final `done` event agree exactly.

use crate::transform::context;
use crate::transform::rng::Rng;
use crate::{ContextAttackKind, DriftKind, Placement, VerbosityDirection};

/// What to do to the assistant's text.
#[derive(Debug, Clone, PartialEq)]
pub enum TextOp {
    /// Keep the first `n` whitespace-separated tokens.
    Truncate(u32),
    Empty,
    /// Seeded random text about as long as the original.
    Garbage {
        seed: u64,
    },
    /// The payload instead of the answer.
    Replace(String),
    Drift(DriftKind),
    /// A context attack on the text (its payload inserted as for a tool result).
    Context {
        kind: ContextAttackKind,
        payload: String,
        placement: Placement,
    },
}

/// Field renames used when a `json_field_rename` drift names none.
const DEFAULT_RENAMES: &[(&str, &str)] = &[
    ("status", "state"),
    ("result", "output"),
    ("id", "identifier"),
    ("name", "title"),
    ("value", "val"),
    ("answer", "response"),
];

/// Garbage alphabet: printable ASCII plus a few multi-byte characters, so clients that assume
/// ASCII or valid structure are exercised too.
const GARBAGE: &[char] = &[
    'a', 'b', 'c', 'x', 'q', 'Z', '0', '7', '9', '{', '}', '[', ']', '"', ':', ',', '\\', '#', '@',
    '%', '~', '|', '<', '>', ' ', ' ', ' ', '\n', 'é', 'ß', '€', '漢', '\u{fffd}', '🙃',
];

impl TextOp {
    /// Whether the answer must be marked as cut by the token limit (`finish_reason: length`,
    /// `stop_reason: max_tokens`, `status: incomplete`).
    pub fn truncates(&self) -> bool {
        matches!(self, TextOp::Truncate(_))
    }

    /// The rewritten text.
    pub fn apply(&self, text: &str) -> String {
        match self {
            TextOp::Truncate(n) => truncate_tokens(text, *n as usize).to_string(),
            TextOp::Empty => String::new(),
            TextOp::Garbage { seed } => {
                let len = text.chars().count().clamp(16, 4096);
                Rng::new(*seed).string(GARBAGE, len)
            }
            TextOp::Replace(payload) => payload.clone(),
            TextOp::Drift(kind) => drift(kind, text),
            TextOp::Context {
                kind,
                payload,
                placement,
            } => context::attack_text(*kind, payload, text, *placement),
        }
    }
}

/// The prefix of `text` holding its first `n` whitespace-separated tokens (with the
/// whitespace between them, without what follows the last one).
pub fn truncate_tokens(text: &str, n: usize) -> &str {
    if n == 0 {
        return "";
    }
    let mut count = 0;
    let mut in_word = false;
    for (i, ch) in text.char_indices() {
        if ch.is_whitespace() {
            if in_word {
                in_word = false;
                if count == n {
                    return &text[..i];
                }
            }
        } else if !in_word {
            in_word = true;
            count += 1;
        }
    }
    text
}

fn drift(kind: &DriftKind, text: &str) -> String {
    match kind {
        DriftKind::JsonFieldRename { renames } => {
            let mut out = text.to_string();
            if renames.is_empty() {
                for (from, to) in DEFAULT_RENAMES {
                    out = rename_field(&out, from, to);
                }
            } else {
                for (from, to) in renames {
                    out = rename_field(&out, from, to);
                }
            }
            out
        }
        DriftKind::VerbosityShift { direction, factor } => verbosity(text, *direction, *factor),
        DriftKind::FormatChange => format_change(text),
        DriftKind::RefusalRephrase => "I'm sorry, but I can't help with that request. \
            If you believe this is a mistake, please rephrase your question."
            .to_string(),
        DriftKind::ToneShift => {
            let body = text.trim();
            format!("Ugh, fine. {body} Honestly, that should have been obvious.")
        }
    }
}

/// Renames a JSON key (`"from":` → `"to":`, whitespace before the colon allowed) wherever it
/// appears in the text; a value that merely equals `from` is left alone.
fn rename_field(text: &str, from: &str, to: &str) -> String {
    let needle = format!("\"{from}\"");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(&needle) {
        let after = &rest[pos + needle.len()..];
        out.push_str(&rest[..pos]);
        if after.trim_start().starts_with(':') {
            out.push('"');
            out.push_str(to);
            out.push('"');
        } else {
            out.push_str(&needle);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Answers over this many words shrink when a `verbosity_shift` names no direction.
const LONG_ANSWER_WORDS: usize = 40;
/// Bound on an expanded answer, whatever the factor.
const MAX_EXPANDED_WORDS: usize = 20_000;

/// The answer `factor` times longer or shorter in words (see [`DriftKind::VerbosityShift`]).
fn verbosity(text: &str, direction: Option<VerbosityDirection>, factor: f64) -> String {
    let words = text.split_whitespace().count();
    let factor = if factor > 0.0 && factor < 1.0 {
        1.0 / factor
    } else {
        factor
    };
    if !factor.is_finite() || factor <= 1.0 {
        return text.to_string();
    }
    let direction = direction.unwrap_or(if words > LONG_ANSWER_WORDS {
        VerbosityDirection::Compress
    } else {
        VerbosityDirection::Expand
    });
    match direction {
        VerbosityDirection::Compress => {
            let keep = ((words as f64) / factor).ceil().max(1.0) as usize;
            truncate_tokens(text, keep).trim().to_string()
        }
        VerbosityDirection::Expand => {
            let target = ((words as f64) * factor)
                .ceil()
                .min(MAX_EXPANDED_WORDS as f64) as usize;
            let t = text.trim();
            let paragraphs = [
                format!("To elaborate further: {t}"),
                "For completeness, here is some additional context: answers like this one depend \
                 on the details of your situation, so it is worth reading every part carefully."
                    .to_string(),
                format!("In other words, restating the key point: {t}"),
                "I hope this comprehensive explanation helps, and please let me know if you would \
                 like even more detail on any point."
                    .to_string(),
            ];
            let mut out = format!("Great question! Let me walk you through this in detail. {t}");
            let mut count = out.split_whitespace().count();
            for p in paragraphs.iter().cycle() {
                if count >= target {
                    break;
                }
                out.push_str("\n\n");
                out.push_str(p);
                count += p.split_whitespace().count();
            }
            out
        }
    }
}

/// JSON answers become a markdown list; prose becomes a JSON object.
fn format_change(text: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(text.trim()) {
        Ok(serde_json::Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("- **{k}**: {s}"),
                other => format!("- **{k}**: {other}"),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Ok(other) => format!("Here is the result: {other}"),
        Err(_) => serde_json::json!({"answer": text.trim(), "format": "json"}).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_keeps_first_tokens() {
        assert_eq!(truncate_tokens("one two  three four", 2), "one two");
        assert_eq!(truncate_tokens("  one two", 1), "  one");
        assert_eq!(truncate_tokens("one two", 5), "one two");
        assert_eq!(truncate_tokens("one", 0), "");
    }

    #[test]
    fn garbage_is_seeded() {
        let a = TextOp::Garbage { seed: 1 }.apply("hello world");
        assert_eq!(a, TextOp::Garbage { seed: 1 }.apply("hello world"));
        assert_ne!(a, TextOp::Garbage { seed: 2 }.apply("hello world"));
        assert_eq!(a.chars().count(), 16);
    }

    #[test]
    fn rename_only_keys() {
        let t = r#"Result: {"status": "ok", "x": "status", "status":1}"#;
        assert_eq!(
            rename_field(t, "status", "state"),
            r#"Result: {"state": "ok", "x": "status", "state":1}"#
        );
        let d = TextOp::Drift(DriftKind::JsonFieldRename { renames: vec![] });
        assert_eq!(
            d.apply(r#"{"id":1,"name":"n"}"#),
            r#"{"identifier":1,"title":"n"}"#
        );
    }

    #[test]
    fn drift_kinds_change_text_deterministically() {
        for kind in [
            DriftKind::VerbosityShift {
                direction: None,
                factor: 3.0,
            },
            DriftKind::FormatChange,
            DriftKind::RefusalRephrase,
            DriftKind::ToneShift,
        ] {
            let op = TextOp::Drift(kind);
            let a = op.apply("The answer is 42.");
            assert_ne!(a, "The answer is 42.");
            assert_eq!(a, op.apply("The answer is 42."));
        }
        let f = TextOp::Drift(DriftKind::FormatChange);
        assert_eq!(f.apply(r#"{"a":"b"}"#), "- **a**: b");
        assert_eq!(f.apply("plain"), r#"{"answer":"plain","format":"json"}"#);
    }

    #[test]
    fn verbosity_shift_follows_direction_and_factor() {
        let shift = |direction, factor: f64, text: &str| {
            TextOp::Drift(DriftKind::VerbosityShift { direction, factor }).apply(text)
        };
        let words = |t: &str| t.split_whitespace().count();
        let short = "The answer is 42 because the tests say so.";
        let long = shift(Some(VerbosityDirection::Expand), 5.0, short);
        assert!(words(&long) >= 5 * words(short), "{long}");
        assert!(words(&long) < 5 * words(short) + 40, "{long}");
        let ten: String = (0..10).map(|i| format!("w{i} ")).collect();
        assert_eq!(
            shift(Some(VerbosityDirection::Compress), 2.0, &ten),
            "w0 w1 w2 w3 w4"
        );
        // A factor below 1 is its inverse; with no direction a short answer grows.
        assert_eq!(
            shift(Some(VerbosityDirection::Compress), 0.5, &ten),
            "w0 w1 w2 w3 w4"
        );
        assert!(words(&shift(None, 2.0, short)) >= 2 * words(short));
        let fifty: String = (0..50).map(|i| format!("w{i} ")).collect();
        assert_eq!(words(&shift(None, 10.0, &fifty)), 5);
        assert_eq!(shift(Some(VerbosityDirection::Expand), 1.0, short), short);
    }
}
