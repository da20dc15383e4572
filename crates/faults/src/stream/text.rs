//! Rewrites the assistant text of a streamed LLM answer consistently: text deltas of one
//! content slot are held until the slot ends, the whole text is rewritten with the
//! [`TextOp`], and new deltas are sent in the held deltas' shape; `done` events that repeat the
//! full text get the same rewrite, and truncation marks the end like the API does
//! (`finish_reason: length`, `response.incomplete`, `stop_reason: max_tokens`).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::ApiKind;
use crate::stream::SseEvent;
use crate::stream::stage::{Out, Stage};
use crate::transform::{TextOp, llm};

pub use shakedown_core::deltas::word_deltas;

/// Held deltas of one slot: the first delta event (the template) and the text so far.
struct Held {
    event: Option<String>,
    template: Value,
    text: String,
}

/// The text-rewriting stage for one LLM API.
pub struct TextRewrite {
    api: ApiKind,
    op: TextOp,
    held: BTreeMap<(u64, u64), Held>,
}

impl TextRewrite {
    pub fn new(api: ApiKind, op: TextOp) -> TextRewrite {
        TextRewrite {
            api,
            op,
            held: BTreeMap::new(),
        }
    }

    /// The slot and text of a pure text delta, if `v` is one.
    fn text_delta(&self, ev: &SseEvent, v: &Value) -> Option<((u64, u64), String)> {
        match self.api {
            ApiKind::OpenAiChat => {
                let choices = v.get("choices")?.as_array()?;
                let [choice] = choices.as_slice() else {
                    return None;
                };
                if !choice.get("finish_reason").is_none_or(Value::is_null) {
                    return None;
                }
                let delta = choice.get("delta")?.as_object()?;
                let text = delta.get("content")?.as_str()?;
                let only_content = delta
                    .iter()
                    .all(|(k, v)| k == "content" || (k == "refusal" && v.is_null()));
                if !only_content {
                    return None;
                }
                let index = choice.get("index").and_then(Value::as_u64).unwrap_or(0);
                Some(((index, 0), text.to_string()))
            }
            ApiKind::OpenAiResponses => {
                if ev.event.as_deref() != Some("response.output_text.delta") {
                    return None;
                }
                Some((responses_slot(v), v.get("delta")?.as_str()?.to_string()))
            }
            ApiKind::AnthropicMessages => {
                if ev.event.as_deref() != Some("content_block_delta") {
                    return None;
                }
                let delta = v.get("delta")?;
                if delta.get("type")?.as_str()? != "text_delta" {
                    return None;
                }
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                Some(((index, 0), delta.get("text")?.as_str()?.to_string()))
            }
            ApiKind::Tool => None,
        }
    }

    fn set_delta(&self, template: &mut Value, text: &str) {
        match self.api {
            ApiKind::OpenAiChat => template["choices"][0]["delta"]["content"] = json!(text),
            ApiKind::OpenAiResponses => template["delta"] = json!(text),
            ApiKind::AnthropicMessages => template["delta"]["text"] = json!(text),
            ApiKind::Tool => {}
        }
    }

    fn flush(&mut self, slot: (u64, u64), out: &mut Vec<Out>) {
        let Some(held) = self.held.remove(&slot) else {
            return;
        };
        let new = self.op.apply(&held.text);
        for d in word_deltas(&new) {
            let mut v = held.template.clone();
            self.set_delta(&mut v, &d);
            out.push(Out::Event(SseEvent::build(
                held.event.as_deref(),
                &v.to_string(),
            )));
        }
    }

    fn flush_all(&mut self, out: &mut Vec<Out>) {
        let slots: Vec<_> = self.held.keys().copied().collect();
        for s in slots {
            self.flush(s, out);
        }
    }

    /// Rewrites an event that is not a delta; returns None when it passes unchanged.
    fn rewrite_other(
        &mut self,
        ev: &SseEvent,
        v: &mut Value,
        out: &mut Vec<Out>,
    ) -> Option<String> {
        match self.api {
            ApiKind::OpenAiChat => {
                self.flush_all(out);
                if !self.op.truncates() {
                    return None;
                }
                let mut changed = false;
                for choice in v.get_mut("choices")?.as_array_mut()? {
                    if choice.get("finish_reason").is_some_and(|f| !f.is_null()) {
                        choice["finish_reason"] = json!("length");
                        changed = true;
                    }
                }
                changed.then(|| ev.event.clone().unwrap_or_default())
            }
            ApiKind::OpenAiResponses => {
                let name = ev.event.clone()?;
                match name.as_str() {
                    "response.output_text.done" => {
                        self.flush(responses_slot(v), out);
                        let text = v.get("text")?.as_str()?;
                        v["text"] = json!(self.op.apply(text));
                        Some(name)
                    }
                    "response.content_part.done" => {
                        let part = v.get_mut("part")?;
                        if part.get("type")?.as_str()? != "output_text" {
                            return None;
                        }
                        let text = part.get("text")?.as_str()?;
                        part["text"] = json!(self.op.apply(text));
                        Some(name)
                    }
                    "response.output_item.done" => {
                        llm::responses_output(std::slice::from_mut(v.get_mut("item")?), &self.op);
                        Some(name)
                    }
                    "response.completed" => {
                        self.flush_all(out);
                        let response = v.get_mut("response")?;
                        if let Some(output) =
                            response.get_mut("output").and_then(Value::as_array_mut)
                        {
                            llm::responses_output(output, &self.op);
                        }
                        if self.op.truncates() {
                            llm::responses_incomplete(response);
                            v["type"] = json!("response.incomplete");
                            return Some("response.incomplete".into());
                        }
                        Some(name)
                    }
                    _ => None,
                }
            }
            ApiKind::AnthropicMessages => match ev.event.as_deref()? {
                "content_block_stop" => {
                    let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                    self.flush((index, 0), out);
                    None
                }
                "message_delta" if self.op.truncates() => {
                    v.get_mut("delta")?["stop_reason"] = json!("max_tokens");
                    ev.event.clone()
                }
                _ => None,
            },
            ApiKind::Tool => None,
        }
    }
}

fn responses_slot(v: &Value) -> (u64, u64) {
    (
        v.get("output_index").and_then(Value::as_u64).unwrap_or(0),
        v.get("content_index").and_then(Value::as_u64).unwrap_or(0),
    )
}

impl Stage for TextRewrite {
    fn event(&mut self, ev: SseEvent, out: &mut Vec<Out>) {
        if !ev.is_event() {
            out.push(Out::Event(ev));
            return;
        }
        let Some(mut v) = ev.json() else {
            // `[DONE]` or a non-JSON event: whatever was held ends here.
            self.flush_all(out);
            out.push(Out::Event(ev));
            return;
        };
        if let Some((slot, text)) = self.text_delta(&ev, &v) {
            let held = self.held.entry(slot).or_insert_with(|| Held {
                event: ev.event.clone(),
                template: v.clone(),
                text: String::new(),
            });
            held.text.push_str(&text);
            return;
        }
        match self.rewrite_other(&ev, &mut v, out) {
            Some(name) => {
                let name = (!name.is_empty()).then_some(name);
                out.push(Out::Event(SseEvent::build(name.as_deref(), &v.to_string())));
            }
            None => out.push(Out::Event(ev)),
        }
    }

    fn end(&mut self, out: &mut Vec<Out>) {
        self.flush_all(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_deltas_join_back() {
        let t = " a  bc\nd ";
        assert_eq!(word_deltas(t).concat(), t);
        assert_eq!(word_deltas("a b"), vec!["a", " b"]);
    }
}
