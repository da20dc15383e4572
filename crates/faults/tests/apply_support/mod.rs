//! Shared helpers for the apply / stream / provider tests: calls described as the proxy
//! describes them, upstream answers recorded from the mock LLM's real wire code, and a runner
//! that pushes an answer through a plan's shaper in arbitrary chunk sizes.

#![allow(dead_code)]

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};
use shakedown_faults::stream::{SseEvent, SseParser};
use shakedown_faults::{ApiKind, CallInfo, CallPlan, Fault, FaultFamily, FiredFault, Step};
use shakedown_mockllm::{Reply, ToolCall, anthropic, chat, responses};

/// A call as the proxy describes it.
pub fn call(api: ApiKind, stream: bool) -> CallInfo {
    let (path, body) = match api {
        ApiKind::OpenAiChat => ("/v1/chat/completions", chat_request(stream)),
        ApiKind::OpenAiResponses => ("/v1/responses", responses_request(stream)),
        ApiKind::AnthropicMessages => ("/v1/messages", anthropic_request(stream)),
        ApiKind::Tool => ("/tools/search", json!({"q": "weather"})),
    };
    shakedown_faults::detect::describe(
        Method::POST,
        format!("http://127.0.0.1:9/{}", path.trim_start_matches('/')),
        path.to_string(),
        path,
        HeaderMap::new(),
        body.to_string().as_bytes(),
        None,
    )
}

pub fn fired(fault: Fault, seed: u64) -> FiredFault {
    FiredFault {
        rule: "test".into(),
        family: FaultFamily::LlmFault,
        call_number: 1,
        fault,
        seed,
    }
}

pub fn chat_request(stream: bool) -> Value {
    json!({"model": "gpt-test", "stream": stream,
           "messages": [{"role": "user", "content": "What is the weather in Paris?"}]})
}

pub fn responses_request(stream: bool) -> Value {
    json!({"model": "gpt-test", "stream": stream, "input": "What is the weather in Paris?"})
}

pub fn anthropic_request(stream: bool) -> Value {
    json!({"model": "claude-test", "max_tokens": 100, "stream": stream,
           "messages": [{"role": "user", "content": "What is the weather in Paris?"}]})
}

pub const TEXT: &str = "The weather in Paris is sunny with a high of 21 degrees today.";

pub fn text_reply() -> Reply {
    Reply::text(TEXT)
}

pub fn tool_reply() -> Reply {
    Reply {
        text: None,
        tool_calls: vec![ToolCall {
            name: "get_weather".into(),
            arguments: json!({"city": "Paris \"FR\"", "days": 12345, "units": "metric"}),
        }],
        usage: None,
    }
}

/// The mock LLM's whole answer for `api`.
pub fn whole(api: ApiKind, reply: &Reply) -> Value {
    match api {
        ApiKind::OpenAiChat => {
            let body = chat_request(false);
            let raw = body.to_string();
            chat::complete(reply, &chat::read(&body).unwrap(), raw.as_bytes())
        }
        ApiKind::OpenAiResponses => {
            let body = responses_request(false);
            let raw = body.to_string();
            responses::complete(reply, &responses::read(&body).unwrap(), raw.as_bytes())
        }
        ApiKind::AnthropicMessages => {
            let body = anthropic_request(false);
            let raw = body.to_string();
            anthropic::complete(reply, &anthropic::read(&body).unwrap(), raw.as_bytes())
        }
        ApiKind::Tool => json!({"results": [TEXT]}),
    }
}

/// The mock LLM's streamed answer for `api`, as the bytes on the wire.
pub fn streamed(api: ApiKind, reply: &Reply) -> Vec<u8> {
    let frames = match api {
        ApiKind::OpenAiChat => {
            let body = chat_request(true);
            let raw = body.to_string();
            chat::stream(reply, &chat::read(&body).unwrap(), raw.as_bytes(), &body)
        }
        ApiKind::OpenAiResponses => {
            let body = responses_request(true);
            let raw = body.to_string();
            responses::stream(reply, &responses::read(&body).unwrap(), raw.as_bytes())
        }
        ApiKind::AnthropicMessages => {
            let body = anthropic_request(true);
            let raw = body.to_string();
            anthropic::stream(reply, &anthropic::read(&body).unwrap(), raw.as_bytes())
        }
        ApiKind::Tool => vec![Bytes::from(format!(
            "event: message\ndata: {}\n\n",
            json!({"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":reply.text.as_deref().unwrap_or(TEXT)}]}})
        ))],
    };
    frames.iter().flat_map(|b| b.to_vec()).collect()
}

pub fn json_headers(len: usize) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h
}

pub fn sse_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    h
}

/// What the client receives after the plan's shaper.
#[derive(Debug)]
pub struct Received {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub steps: Vec<Step>,
}

impl Received {
    pub fn body(&self) -> Vec<u8> {
        self.steps
            .iter()
            .filter_map(|s| match s {
                Step::Data(b) => Some(b.to_vec()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body()).expect("body is JSON")
    }

    pub fn events(&self) -> Vec<SseEvent> {
        events(&self.body())
    }

    pub fn sleeps(&self) -> Vec<Duration> {
        self.steps
            .iter()
            .filter_map(|s| match s {
                Step::Sleep(d) => Some(*d),
                _ => None,
            })
            .collect()
    }

    pub fn aborted(&self) -> bool {
        self.steps.last() == Some(&Step::Abort)
    }
}

/// Parses SSE bytes into events (data-less blocks dropped, as clients do).
pub fn events(bytes: &[u8]) -> Vec<SseEvent> {
    let mut p = SseParser::new();
    let mut out = Vec::new();
    p.push(bytes, &mut out);
    assert!(p.finish().is_none(), "stream ends on an event boundary");
    out.into_iter().filter(SseEvent::is_event).collect()
}

/// Pushes `body` through the plan's shaper in chunks of `chunk` bytes.
pub fn run(
    plan: CallPlan,
    status: StatusCode,
    headers: HeaderMap,
    body: &[u8],
    chunk: usize,
) -> Received {
    assert!(plan.respond.is_none(), "plan answers by itself");
    let mut shaper = plan.shaper.expect("plan has a shaper");
    let (mut status, mut headers) = (status, headers);
    shaper.head(&mut status, &mut headers);
    let mut steps = Vec::new();
    for c in body.chunks(chunk.max(1)) {
        shaper.chunk(Bytes::copy_from_slice(c), &mut steps);
    }
    shaper.end(&mut steps);
    Received {
        status,
        headers,
        steps,
    }
}

/// The text a client reassembles from a streamed answer's text deltas.
pub fn streamed_text(api: ApiKind, evs: &[SseEvent]) -> String {
    let mut out = String::new();
    for e in evs {
        let Some(v) = e.json() else { continue };
        match api {
            ApiKind::OpenAiChat => {
                if let Some(t) = v
                    .pointer("/choices/0/delta/content")
                    .and_then(Value::as_str)
                {
                    out.push_str(t);
                }
            }
            ApiKind::OpenAiResponses => {
                if e.event.as_deref() == Some("response.output_text.delta") {
                    out.push_str(v["delta"].as_str().unwrap());
                }
            }
            ApiKind::AnthropicMessages => {
                if v.pointer("/delta/type").and_then(Value::as_str) == Some("text_delta") {
                    out.push_str(v["delta"]["text"].as_str().unwrap());
                }
            }
            ApiKind::Tool => {}
        }
    }
    out
}

/// The tool-call arguments a client reassembles, and how many deltas carried them.
pub fn streamed_args(api: ApiKind, evs: &[SseEvent]) -> (String, usize) {
    let mut out = String::new();
    let mut n = 0;
    for e in evs {
        let Some(v) = e.json() else { continue };
        let piece = match api {
            ApiKind::OpenAiChat => v
                .pointer("/choices/0/delta/tool_calls/0/function/arguments")
                .and_then(Value::as_str)
                .filter(|_| v.pointer("/choices/0/delta/tool_calls/0/id").is_none()),
            ApiKind::OpenAiResponses => (e.event.as_deref()
                == Some("response.function_call_arguments.delta"))
            .then(|| v["delta"].as_str())
            .flatten(),
            ApiKind::AnthropicMessages => v.pointer("/delta/partial_json").and_then(Value::as_str),
            ApiKind::Tool => None,
        };
        if let Some(p) = piece {
            out.push_str(p);
            n += 1;
        }
    }
    (out, n)
}

pub const LLM_APIS: [ApiKind; 3] = [
    ApiKind::OpenAiChat,
    ApiKind::OpenAiResponses,
    ApiKind::AnthropicMessages,
];
