//! [`FaultShaper`]: one forwarded-response fault as a [`ResponseShaper`]. At the head it
//! decides how to act: event by event on an SSE answer (a [`Stage`]), on the buffered body of
//! a whole answer, or not at all (an upstream error or a compressed body is forwarded as is —
//! faults rewrite successful answers only, except slow chunks, which delay anything).

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use crate::provider::{self, ErrorKind};
use crate::stream::split::SplitArgs;
use crate::stream::sse::{SseEvent, SseParser};
use crate::stream::stage::{self, Out, Stage, ToolStreamEdit};
use crate::stream::text::TextRewrite;
use crate::transform::context::{self, ToolEdit};
use crate::transform::{TextOp, llm, malformed};
use crate::{ApiKind, ContextAttackKind, Placement, ResponseShaper, Step, StreamFault};

/// Events let through before a `mid_stream_error` on a stream: the answer has visibly begun
/// (role chunk / `response.created` / `message_start` and a little text) when it fails.
pub const MID_STREAM_AFTER_EVENTS: u32 = 3;

/// Event (0-based) a plain `malformed` fault corrupts on a streamed answer: the first one
/// after the stream's opening event.
pub const MALFORMED_STREAM_EVENT: u32 = 1;

/// What one fault does to a forwarded answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Rewrite the assistant text (LLM) or the content (tool result).
    Text(TextOp),
    /// LLM: the payload becomes the assistant text. Tool: the payload becomes the whole body.
    Malicious(String),
    /// Insert the payload into the content the agent reads.
    Context {
        kind: ContextAttackKind,
        payload: String,
        placement: Placement,
    },
    /// Make the body (or one event) invalid JSON.
    Malformed,
    /// A 200 whose body is the provider's error, or an error event mid-stream.
    MidStreamError,
    /// A stream fault.
    Stream(StreamFault),
}

enum WholeEdit {
    Llm(TextOp),
    Tool(ToolStreamEdit),
    Replace(String),
    Malformed,
    ErrorBody,
    /// Half the body, then the connection drops.
    CutAbort,
}

enum Mode {
    Pending,
    Pass,
    Whole {
        buf: Vec<u8>,
        json: bool,
        edit: WholeEdit,
    },
    SlowWhole(Duration),
    Sse {
        parser: SseParser,
        stage: Box<dyn Stage>,
        next_seq: Option<u64>,
    },
}

/// Applies one [`Action`] to the upstream answer of one call.
pub struct FaultShaper {
    api: ApiKind,
    action: Action,
    seed: u64,
    rpc_id: Option<Value>,
    mode: Mode,
}

impl FaultShaper {
    /// `seed` drives any randomness (garbage text, split points); `rpc_id` is the JSON-RPC id
    /// of a tool request that was JSON-RPC.
    pub fn new(api: ApiKind, action: Action, seed: u64, rpc_id: Option<Value>) -> FaultShaper {
        FaultShaper {
            api,
            action,
            seed,
            rpc_id,
            mode: Mode::Pending,
        }
    }

    fn sse_stage(&self) -> Option<Box<dyn Stage>> {
        let api = self.api;
        let text = |op: TextOp| -> Box<dyn Stage> {
            if api.is_llm() {
                Box::new(TextRewrite::new(api, op))
            } else {
                Box::new(stage::ToolContent {
                    edit: ToolStreamEdit::Text(op),
                    done: false,
                })
            }
        };
        let cut = |after| stage::Cut::new(api, after);
        let malformed = |at| stage::MalformedChunk::new(api, at);
        Some(match &self.action {
            Action::Text(op) => text(op.clone()),
            Action::Malicious(p) => text(TextOp::Replace(p.clone())),
            Action::Context {
                kind,
                payload,
                placement,
            } if !api.is_llm() => Box::new(stage::ToolContent {
                edit: ToolStreamEdit::Attack {
                    kind: *kind,
                    payload: payload.clone(),
                    placement: *placement,
                },
                done: false,
            }),
            Action::Context {
                kind,
                payload,
                placement,
            } => text(TextOp::Context {
                kind: *kind,
                payload: payload.clone(),
                placement: *placement,
            }),
            Action::Malformed => Box::new(malformed(MALFORMED_STREAM_EVENT)),
            Action::MidStreamError => Box::new(stage::ErrorEvent::new(
                api,
                MID_STREAM_AFTER_EVENTS,
                self.rpc_id.clone(),
            )),
            Action::Stream(StreamFault::Cut { after_events }) => Box::new(cut(*after_events)),
            Action::Stream(StreamFault::MalformedChunk { at_event }) => {
                Box::new(malformed(*at_event))
            }
            Action::Stream(StreamFault::SlowChunks { delay }) => {
                Box::new(stage::Slow { delay: *delay })
            }
            Action::Stream(StreamFault::ErrorEvent { after_events }) => Box::new(
                stage::ErrorEvent::new(api, *after_events, self.rpc_id.clone()),
            ),
            Action::Stream(StreamFault::SplitToolArgs) if api.is_llm() => {
                Box::new(SplitArgs::new(api, self.seed))
            }
            Action::Stream(StreamFault::SplitToolArgs) => return None,
        })
    }

    fn whole_edit(&self) -> Option<WholeEdit> {
        let llm = self.api.is_llm();
        Some(match &self.action {
            Action::Text(op) if llm => WholeEdit::Llm(op.clone()),
            Action::Text(op) => WholeEdit::Tool(ToolStreamEdit::Text(op.clone())),
            Action::Malicious(p) if llm => WholeEdit::Llm(TextOp::Replace(p.clone())),
            Action::Malicious(p) => WholeEdit::Replace(p.clone()),
            Action::Context {
                kind,
                payload,
                placement,
            } if llm => WholeEdit::Llm(TextOp::Context {
                kind: *kind,
                payload: payload.clone(),
                placement: *placement,
            }),
            Action::Context {
                kind,
                payload,
                placement,
            } => WholeEdit::Tool(ToolStreamEdit::Attack {
                kind: *kind,
                payload: payload.clone(),
                placement: *placement,
            }),
            Action::Malformed | Action::Stream(StreamFault::MalformedChunk { .. }) => {
                WholeEdit::Malformed
            }
            Action::MidStreamError | Action::Stream(StreamFault::ErrorEvent { .. }) => {
                WholeEdit::ErrorBody
            }
            Action::Stream(StreamFault::Cut { .. }) => WholeEdit::CutAbort,
            Action::Stream(StreamFault::SlowChunks { .. } | StreamFault::SplitToolArgs) => {
                return None;
            }
        })
    }

    fn emit(&mut self, outs: Vec<Out>, out: &mut Vec<Step>) {
        let Mode::Sse { next_seq, .. } = &mut self.mode else {
            return;
        };
        for o in outs {
            match o {
                Out::Sleep(d) => out.push(Step::Sleep(d)),
                Out::Finish => out.push(Step::Finish),
                Out::Event(ev) if self.api == ApiKind::OpenAiResponses => {
                    out.push(Step::Data(renumber(ev, next_seq).raw))
                }
                Out::Event(ev) => out.push(Step::Data(ev.raw)),
            }
        }
    }
}

/// Keeps Responses `sequence_number`s consecutive after events were added or removed. Every
/// event takes a number, even one a fault made unreadable.
fn renumber(ev: SseEvent, next: &mut Option<u64>) -> SseEvent {
    if !ev.is_event() {
        return ev;
    }
    let parsed = ev.json();
    let seq = parsed
        .as_ref()
        .and_then(|v| v.get("sequence_number"))
        .and_then(Value::as_u64);
    let Some(expected) = next.or(seq) else {
        return ev;
    };
    *next = Some(expected + 1);
    match (parsed, seq) {
        (Some(mut v), Some(seq)) if seq != expected => {
            v["sequence_number"] = json!(expected);
            ev.with_data(&v.to_string())
        }
        _ => ev,
    }
}

fn is_sse(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("text/event-stream")
        })
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("json"))
}

fn is_encoded(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !v.trim().eq_ignore_ascii_case("identity"))
}

impl ResponseShaper for FaultShaper {
    fn head(&mut self, status: &mut StatusCode, headers: &mut HeaderMap) {
        let sse = is_sse(headers);
        if let Action::Stream(StreamFault::SlowChunks { delay }) = self.action {
            self.mode = if sse {
                Mode::Sse {
                    parser: SseParser::new(),
                    stage: Box::new(stage::Slow { delay }),
                    next_seq: None,
                }
            } else {
                Mode::SlowWhole(delay)
            };
            return;
        }
        if !status.is_success() || is_encoded(headers) {
            // Faults rewrite successful answers; a compressed body cannot be rewritten (the
            // proxy asks upstreams for identity encoding when a shaper is planned).
            self.mode = Mode::Pass;
            return;
        }
        let tool_replace = matches!(self.action, Action::Malicious(_)) && !self.api.is_llm();
        if sse && !tool_replace {
            self.mode = match self.sse_stage() {
                Some(stage) => {
                    headers.remove(header::CONTENT_LENGTH);
                    Mode::Sse {
                        parser: SseParser::new(),
                        stage,
                        next_seq: None,
                    }
                }
                None => Mode::Pass,
            };
            return;
        }
        let Some(edit) = self.whole_edit() else {
            self.mode = Mode::Pass;
            return;
        };
        let json = is_json(headers);
        match &edit {
            // The declared length stays, so the client sees the body end short.
            WholeEdit::CutAbort => {}
            WholeEdit::ErrorBody => {
                *status = StatusCode::OK;
                headers.remove(header::CONTENT_LENGTH);
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
            }
            WholeEdit::Replace(payload) => {
                headers.remove(header::CONTENT_LENGTH);
                let ct = if serde_json::from_str::<Value>(payload).is_ok() {
                    "application/json"
                } else {
                    "text/plain; charset=utf-8"
                };
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            }
            _ => {
                headers.remove(header::CONTENT_LENGTH);
            }
        }
        self.mode = Mode::Whole {
            buf: Vec::new(),
            json,
            edit,
        };
    }

    fn chunk(&mut self, data: Bytes, out: &mut Vec<Step>) {
        match &mut self.mode {
            Mode::Pending | Mode::Pass => out.push(Step::Data(data)),
            Mode::SlowWhole(d) => {
                out.push(Step::Sleep(*d));
                out.push(Step::Data(data));
            }
            Mode::Whole { buf, .. } => buf.extend_from_slice(&data),
            Mode::Sse { parser, stage, .. } => {
                let mut events = Vec::new();
                parser.push(&data, &mut events);
                let mut outs = Vec::new();
                for ev in events {
                    stage.event(ev, &mut outs);
                }
                self.emit(outs, out);
            }
        }
    }

    fn end(&mut self, out: &mut Vec<Step>) {
        match &mut self.mode {
            Mode::Pending | Mode::Pass | Mode::SlowWhole(_) => {}
            Mode::Sse { parser, stage, .. } => {
                let mut outs = Vec::new();
                if let Some(rest) = parser.finish() {
                    stage.event(rest, &mut outs);
                }
                stage.end(&mut outs);
                self.emit(outs, out);
            }
            Mode::Whole { buf, json, edit } => {
                let body = std::mem::take(buf);
                let new = match edit {
                    WholeEdit::Llm(op) => match serde_json::from_slice::<Value>(&body) {
                        Ok(mut v) => {
                            if llm::rewrite(self.api, &mut v, op) {
                                v.to_string().into_bytes()
                            } else {
                                body
                            }
                        }
                        Err(_) => body,
                    },
                    WholeEdit::Tool(edit) => {
                        let edit = match edit {
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
                        context::rewrite_body(&body, *json, edit)
                    }
                    WholeEdit::Replace(payload) => payload.clone().into_bytes(),
                    WholeEdit::Malformed => malformed::corrupt(&body),
                    WholeEdit::ErrorBody => provider::error_answer(
                        self.api,
                        &ErrorKind::MidStream,
                        self.seed,
                        self.rpc_id.as_ref(),
                    )
                    .body
                    .to_vec(),
                    WholeEdit::CutAbort => {
                        let half = body.len() / 2;
                        out.push(Step::Data(Bytes::copy_from_slice(&body[..half])));
                        out.push(Step::Abort);
                        return;
                    }
                };
                out.push(Step::Data(Bytes::from(new)));
            }
        }
    }
}
