//! `split_tool_args`: tool-call argument deltas re-split at odd places — single characters,
//! empty deltas, cuts inside escapes and numbers — with their concatenation unchanged. Chat
//! Completions `tool_calls[].function.arguments`, Responses
//! `response.function_call_arguments.delta`, Anthropic `input_json_delta.partial_json`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::ApiKind;
use crate::stream::SseEvent;
use crate::stream::stage::{Out, Stage};
use crate::transform::rng::Rng;

/// Splits `s` into seeded odd pieces whose concatenation is `s`. Empty pieces appear, never
/// two in a row, so the number of pieces stays below `2 * chars + 1`.
pub fn odd_pieces(s: &str, rng: &mut Rng) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut last_empty = false;
    while i < chars.len() {
        let len = match rng.below(10) {
            0 | 1 if !last_empty => 0,
            6 | 7 => 2,
            8 => 3,
            9 => 11,
            _ => 1,
        };
        let end = (i + len).min(chars.len());
        out.push(chars[i..end].iter().collect::<String>());
        last_empty = len == 0;
        i = end;
    }
    out
}

struct Held {
    event: Option<String>,
    template: Value,
    args: String,
}

/// The re-splitting stage for one LLM API.
pub struct SplitArgs {
    api: ApiKind,
    rng: Rng,
    held: BTreeMap<u64, Held>,
}

impl SplitArgs {
    pub fn new(api: ApiKind, seed: u64) -> SplitArgs {
        SplitArgs {
            api,
            rng: Rng::new(seed),
            held: BTreeMap::new(),
        }
    }

    /// The slot and argument text of a pure argument delta.
    fn args_delta(&self, ev: &SseEvent, v: &Value) -> Option<(u64, String)> {
        match self.api {
            ApiKind::OpenAiChat => {
                let [choice] = v.get("choices")?.as_array()?.as_slice() else {
                    return None;
                };
                let [call] = choice.pointer("/delta/tool_calls")?.as_array()?.as_slice() else {
                    return None;
                };
                if call.get("id").is_some_and(|i| !i.is_null())
                    || call.pointer("/function/name").is_some_and(|n| !n.is_null())
                {
                    return None;
                }
                let args = call.pointer("/function/arguments")?.as_str()?;
                Some((
                    call.get("index").and_then(Value::as_u64).unwrap_or(0),
                    args.into(),
                ))
            }
            ApiKind::OpenAiResponses => {
                if ev.event.as_deref() != Some("response.function_call_arguments.delta") {
                    return None;
                }
                let index = v.get("output_index").and_then(Value::as_u64).unwrap_or(0);
                Some((index, v.get("delta")?.as_str()?.to_string()))
            }
            ApiKind::AnthropicMessages => {
                if ev.event.as_deref() != Some("content_block_delta") {
                    return None;
                }
                let delta = v.get("delta")?;
                if delta.get("type")?.as_str()? != "input_json_delta" {
                    return None;
                }
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                Some((index, delta.get("partial_json")?.as_str()?.to_string()))
            }
            ApiKind::Tool => None,
        }
    }

    fn set(&self, v: &mut Value, piece: &str) {
        match self.api {
            ApiKind::OpenAiChat => {
                v["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"] = json!(piece)
            }
            ApiKind::OpenAiResponses => v["delta"] = json!(piece),
            ApiKind::AnthropicMessages => v["delta"]["partial_json"] = json!(piece),
            ApiKind::Tool => {}
        }
    }

    fn flush_all(&mut self, out: &mut Vec<Out>) {
        let held = std::mem::take(&mut self.held);
        for (_, h) in held {
            for piece in odd_pieces(&h.args, &mut self.rng) {
                let mut v = h.template.clone();
                self.set(&mut v, &piece);
                out.push(Out::Event(SseEvent::build(
                    h.event.as_deref(),
                    &v.to_string(),
                )));
            }
        }
    }
}

impl Stage for SplitArgs {
    fn event(&mut self, ev: SseEvent, out: &mut Vec<Out>) {
        if !ev.is_event() {
            out.push(Out::Event(ev));
            return;
        }
        if let Some(v) = ev.json()
            && let Some((slot, args)) = self.args_delta(&ev, &v)
        {
            let held = self.held.entry(slot).or_insert_with(|| Held {
                event: ev.event.clone(),
                template: v,
                args: String::new(),
            });
            held.args.push_str(&args);
            return;
        }
        // Any other event closes the held arguments (Chat: the next call or the finish chunk;
        // Responses: `…arguments.done`; Anthropic: `content_block_stop`).
        self.flush_all(out);
        out.push(Out::Event(ev));
    }

    fn end(&mut self, out: &mut Vec<Out>) {
        self.flush_all(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_concat_back_and_are_odd() {
        let s = r#"{"city":"Paris \"FR\"","n":12345}"#;
        let mut rng = Rng::new(5);
        let p = odd_pieces(s, &mut rng);
        assert_eq!(p.concat(), s);
        assert!(p.iter().any(String::is_empty));
        assert!(p.iter().any(|x| x.chars().count() == 1));
        assert!(p.len() < 2 * s.len() + 1);
        assert_eq!(p, odd_pieces(s, &mut Rng::new(5)));
    }
}
