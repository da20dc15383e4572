//! The event-level stages shared by all APIs: cut, malformed chunk, slow chunks, provider
//! error event, and content edits of SSE tool results. A stage sees each event once, in
//! order, and says what to send instead.

use std::time::Duration;

use serde_json::{Value, json};

use crate::ApiKind;
use crate::provider::{self, ErrorKind};
use crate::stream::SseEvent;
use crate::transform::context::{self, ToolEdit};
use crate::transform::{TextOp, malformed};
use crate::{ContextAttackKind, Placement};

/// What a stage sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    Event(SseEvent),
    Sleep(Duration),
    /// End the client's body cleanly now and stop reading the upstream.
    Finish,
}

/// One fault applied event by event.
pub trait Stage: Send {
    /// One event (or comment block) from upstream.
    fn event(&mut self, ev: SseEvent, out: &mut Vec<Out>);
    /// The upstream stream ended.
    fn end(&mut self, _out: &mut Vec<Out>) {}
}

/// Whether `ev` is the event that tells a client the answer is complete.
pub fn is_terminal(api: ApiKind, ev: &SseEvent) -> bool {
    match api {
        ApiKind::OpenAiChat => ev.data.as_deref().is_some_and(|d| d.trim() == "[DONE]"),
        ApiKind::OpenAiResponses => matches!(
            ev.event.as_deref(),
            Some("response.completed" | "response.incomplete" | "response.failed")
        ),
        ApiKind::AnthropicMessages => ev.event.as_deref() == Some("message_stop"),
        ApiKind::Tool => false,
    }
}

/// Ends the stream after `after` events, or at the terminal event if that comes first, so the
/// client never sees `[DONE]` / `message_stop` / `response.completed`. The body then ends
/// cleanly at once ([`Out::Finish`]): SDK iterators stop without a completion, and the client
/// is not held until the upstream ends its answer. Streams without a terminal event (tools)
/// are read one event ahead, so a stream shorter than `after` still loses its last event.
pub struct Cut {
    api: ApiKind,
    after: u32,
    seen: u32,
    done: bool,
    /// The newest data event (and blocks after it), not sent until another event arrives.
    held: Vec<SseEvent>,
}

impl Cut {
    pub fn new(api: ApiKind, after: u32) -> Cut {
        Cut {
            api,
            after,
            seen: 0,
            done: false,
            held: Vec::new(),
        }
    }
}

impl Stage for Cut {
    fn event(&mut self, ev: SseEvent, out: &mut Vec<Out>) {
        if self.done {
            return;
        }
        let lookahead = self.api == ApiKind::Tool;
        if !ev.is_event() {
            if lookahead && !self.held.is_empty() {
                self.held.push(ev);
            } else {
                out.push(Out::Event(ev));
            }
            return;
        }
        out.extend(self.held.drain(..).map(Out::Event));
        if self.seen >= self.after || is_terminal(self.api, &ev) {
            self.done = true;
            // The client's body ends here, not when the upstream finishes its answer.
            out.push(Out::Finish);
            return;
        }
        self.seen += 1;
        if lookahead {
            self.held.push(ev);
        } else {
            out.push(Out::Event(ev));
        }
    }

    fn end(&mut self, _out: &mut Vec<Out>) {
        // Whatever is still held is the stream's last event: it is the one cut.
        self.held.clear();
    }
}

/// Replaces event number `at` (0-based, counting events with data) with data that is not
/// valid JSON; if the stream reaches its terminal event first, that one is corrupted (tool
/// streams, which have none, are read one event ahead and lose their last event instead).
pub struct MalformedChunk {
    api: ApiKind,
    at: u32,
    seen: u32,
    done: bool,
    held: Vec<SseEvent>,
}

impl MalformedChunk {
    pub fn new(api: ApiKind, at: u32) -> MalformedChunk {
        MalformedChunk {
            api,
            at,
            seen: 0,
            done: false,
            held: Vec::new(),
        }
    }
}

fn corrupt(ev: &SseEvent) -> SseEvent {
    ev.with_data(&malformed::corrupt_str(
        ev.data.as_deref().unwrap_or_default(),
    ))
}

impl Stage for MalformedChunk {
    fn event(&mut self, ev: SseEvent, out: &mut Vec<Out>) {
        if self.done {
            out.push(Out::Event(ev));
            return;
        }
        let lookahead = self.api == ApiKind::Tool;
        if !ev.is_event() {
            if lookahead && !self.held.is_empty() {
                self.held.push(ev);
            } else {
                out.push(Out::Event(ev));
            }
            return;
        }
        out.extend(self.held.drain(..).map(Out::Event));
        let hit = self.seen == self.at || is_terminal(self.api, &ev);
        self.seen += 1;
        if hit {
            self.done = true;
            out.push(Out::Event(corrupt(&ev)));
        } else if lookahead {
            self.held.push(ev);
        } else {
            out.push(Out::Event(ev));
        }
    }

    fn end(&mut self, out: &mut Vec<Out>) {
        let mut held = std::mem::take(&mut self.held).into_iter();
        if let Some(last) = held.next() {
            out.push(Out::Event(corrupt(&last)));
            out.extend(held.map(Out::Event));
        }
    }
}

/// Sleeps `delay` before every event.
pub struct Slow {
    pub delay: Duration,
}

impl Stage for Slow {
    fn event(&mut self, ev: SseEvent, out: &mut Vec<Out>) {
        if ev.is_event() {
            out.push(Out::Sleep(self.delay));
        }
        out.push(Out::Event(ev));
    }
}

/// After `after` events (or in place of the terminal event) sends the provider's error event
/// and ends the body at once ([`Out::Finish`]), dropping the rest of the stream.
pub struct ErrorEvent {
    api: ApiKind,
    after: u32,
    seen: u32,
    done: bool,
    rpc_id: Option<Value>,
    /// The last `response` object a Responses stream announced, for `response.failed`.
    response: Option<Value>,
    last_sequence: Option<u64>,
}

impl ErrorEvent {
    pub fn new(api: ApiKind, after: u32, rpc_id: Option<Value>) -> ErrorEvent {
        ErrorEvent {
            api,
            after,
            seen: 0,
            done: false,
            rpc_id,
            response: None,
            last_sequence: None,
        }
    }

    fn error_events(&self) -> Vec<SseEvent> {
        let kind = ErrorKind::MidStream;
        match self.api {
            ApiKind::OpenAiChat => vec![SseEvent::build(
                None,
                &provider::openai::chat_stream_error(&kind),
            )],
            ApiKind::OpenAiResponses => {
                let seq = self.last_sequence.map(|s| s + 1).unwrap_or(0);
                let err = provider::openai::responses_error_event(&kind, seq);
                let mut response = self
                    .response
                    .clone()
                    .unwrap_or_else(|| json!({"object": "response", "output": []}));
                response["status"] = json!("failed");
                response["error"] = json!({"code": err["code"], "message": err["message"]});
                let failed = json!({
                    "type": "response.failed",
                    "sequence_number": seq + 1,
                    "response": response,
                });
                vec![
                    SseEvent::build(Some("error"), &err.to_string()),
                    SseEvent::build(Some("response.failed"), &failed.to_string()),
                ]
            }
            ApiKind::AnthropicMessages => vec![SseEvent::build(
                Some("error"),
                &provider::anthropic::stream_error(&kind),
            )],
            ApiKind::Tool => {
                let body = provider::tool::body(&kind, self.rpc_id.as_ref());
                let name = if self.rpc_id.is_some() {
                    "message"
                } else {
                    "error"
                };
                vec![SseEvent::build(Some(name), &body.to_string())]
            }
        }
    }
}

impl Stage for ErrorEvent {
    fn event(&mut self, ev: SseEvent, out: &mut Vec<Out>) {
        if self.done {
            return;
        }
        if ev.is_event() {
            if self.seen >= self.after || is_terminal(self.api, &ev) {
                self.done = true;
                out.extend(self.error_events().into_iter().map(Out::Event));
                out.push(Out::Finish);
                return;
            }
            self.seen += 1;
            if self.api == ApiKind::OpenAiResponses
                && let Some(v) = ev.json()
            {
                if let Some(r) = v.get("response") {
                    self.response = Some(r.clone());
                }
                self.last_sequence = v.get("sequence_number").and_then(Value::as_u64);
            }
        }
        out.push(Out::Event(ev));
    }

    fn end(&mut self, out: &mut Vec<Out>) {
        // A stream shorter than `after` with no terminal event still gets its error.
        if !self.done {
            self.done = true;
            out.extend(self.error_events().into_iter().map(Out::Event));
        }
    }
}

/// What a tool-stream content edit does.
#[derive(Debug, Clone)]
pub enum ToolStreamEdit {
    Attack {
        kind: ContextAttackKind,
        payload: String,
        placement: Placement,
    },
    Text(TextOp),
}

/// Applies a context attack or text edit to the first event of an SSE tool result that
/// carries content (MCP streamable HTTP sends its JSON-RPC result this way).
pub struct ToolContent {
    pub edit: ToolStreamEdit,
    pub done: bool,
}

impl Stage for ToolContent {
    fn event(&mut self, ev: SseEvent, out: &mut Vec<Out>) {
        if self.done || !ev.is_event() {
            out.push(Out::Event(ev));
            return;
        }
        let edit = match &self.edit {
            ToolStreamEdit::Attack {
                kind,
                payload,
                placement,
            } => ToolEdit::Attack {
                kind: *kind,
                payload,
                placement: *placement,
            },
            ToolStreamEdit::Text(op) => ToolEdit::Text(op),
        };
        let data = ev.data.as_deref().unwrap_or_default();
        match serde_json::from_str::<Value>(data) {
            Ok(mut v) => {
                if context::edit_content(&mut v, edit) {
                    self.done = true;
                    out.push(Out::Event(ev.with_data(&v.to_string())));
                } else {
                    out.push(Out::Event(ev));
                }
            }
            Err(_) => {
                self.done = true;
                let new = match edit {
                    ToolEdit::Attack {
                        kind,
                        payload,
                        placement,
                    } => context::attack_text(kind, payload, data, placement),
                    ToolEdit::Text(op) => op.apply(data),
                };
                out.push(Out::Event(ev.with_data(&new)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stage: &mut dyn Stage, evs: &[SseEvent]) -> Vec<Out> {
        let mut out = Vec::new();
        for e in evs {
            stage.event(e.clone(), &mut out);
        }
        stage.end(&mut out);
        out
    }

    fn chat_events() -> Vec<SseEvent> {
        vec![
            SseEvent::build(None, r#"{"a":1}"#),
            SseEvent::build(None, r#"{"a":2}"#),
            SseEvent::build(None, "[DONE]"),
        ]
    }

    #[test]
    fn cut_drops_terminal_even_when_after_is_large() {
        let evs = chat_events();
        let mut cut = Cut::new(ApiKind::OpenAiChat, 10);
        let out = run(&mut cut, &evs);
        assert_eq!(
            out,
            vec![
                Out::Event(evs[0].clone()),
                Out::Event(evs[1].clone()),
                Out::Finish
            ]
        );
    }

    #[test]
    fn tool_streams_lose_their_last_event() {
        let evs = vec![
            SseEvent::build(None, r#"{"a":1}"#),
            SseEvent::build(None, r#"{"a":2}"#),
        ];
        let out = run(&mut Cut::new(ApiKind::Tool, 5), &evs);
        assert_eq!(out, vec![Out::Event(evs[0].clone())]);
        let out = run(&mut Cut::new(ApiKind::Tool, 1), &evs);
        assert_eq!(out, vec![Out::Event(evs[0].clone()), Out::Finish]);
        let out = run(&mut MalformedChunk::new(ApiKind::Tool, 5), &evs);
        assert_eq!(out[0], Out::Event(evs[0].clone()));
        let Out::Event(last) = &out[1] else { panic!() };
        assert!(last.json().is_none());
    }

    #[test]
    fn error_event_replaces_rest() {
        let evs = chat_events();
        let mut st = ErrorEvent::new(ApiKind::OpenAiChat, 1, None);
        let out = run(&mut st, &evs);
        assert_eq!(out.len(), 3);
        let Out::Event(e) = &out[1] else { panic!() };
        assert_eq!(e.json().unwrap()["error"]["type"], "server_error");
        assert_eq!(out[2], Out::Finish);
    }
}
