//! OpenAI Chat Completions (`POST /v1/chat/completions`): request reading and the response,
//! whole (`chat.completion`) or streamed (`chat.completion.chunk` frames, then `[DONE]`).

use bytes::Bytes;
use serde_json::{Value, json};

use crate::rules::{Reply, Subject, Turn};
use crate::wire::{self, CREATED, Request};

/// Reads the fields the rules need. The newest `user` or `tool` message is the turn.
pub fn read(body: &Value) -> Result<Request, String> {
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .ok_or("`model` is required")?
        .to_string();
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("`messages` must be an array")?;
    let mut input_text = String::new();
    let mut turn = None;
    for m in messages {
        let text = wire::content_text(m.get("content").unwrap_or(&Value::Null));
        input_text.push_str(&text);
        match m.get("role").and_then(Value::as_str) {
            Some("user") => {
                turn = Some(Turn {
                    subject: Subject::User,
                    text,
                })
            }
            Some("tool") => {
                turn = Some(Turn {
                    subject: Subject::ToolResult,
                    text,
                })
            }
            _ => {}
        }
    }
    Ok(Request {
        model,
        stream: body.get("stream").and_then(Value::as_bool).unwrap_or(false),
        turn,
        input_text,
    })
}

fn tool_calls(reply: &Reply, raw: &[u8]) -> Vec<Value> {
    reply
        .tool_calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({
                "id": wire::id("call_", raw, &format!("call{i}")),
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments.to_string()},
            })
        })
        .collect()
}

fn finish_reason(reply: &Reply) -> &'static str {
    if reply.tool_calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    }
}

fn usage_json(reply: &Reply, req: &Request) -> Value {
    let (input, output) = wire::usage(reply, &req.input_text);
    json!({"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output})
}

/// The whole `chat.completion` object.
pub fn complete(reply: &Reply, req: &Request, raw: &[u8]) -> Value {
    let mut message = json!({
        "role": "assistant",
        "content": reply.text,
        "refusal": null,
    });
    if !reply.tool_calls.is_empty() {
        message["tool_calls"] = Value::Array(tool_calls(reply, raw));
    }
    json!({
        "id": wire::id("chatcmpl-", raw, "chat"),
        "object": "chat.completion",
        "created": CREATED,
        "model": req.model,
        "system_fingerprint": "fp_shakedown",
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": finish_reason(reply),
        }],
        "usage": usage_json(reply, req),
    })
}

/// The SSE frames of a streamed completion. The usage chunk (empty `choices`) is sent when the
/// request asked for it with `stream_options.include_usage`, as OpenAI does.
pub fn stream(reply: &Reply, req: &Request, raw: &[u8], body: &Value) -> Vec<Bytes> {
    let id = wire::id("chatcmpl-", raw, "chat");
    let chunk = |delta: Value, finish: Value| {
        let v = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": req.model,
            "system_fingerprint": "fp_shakedown",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        wire::data_event(&v.to_string())
    };
    let mut out = vec![chunk(
        json!({"role": "assistant", "content": "", "refusal": null}),
        Value::Null,
    )];
    if let Some(text) = &reply.text {
        for d in wire::deltas(text) {
            out.push(chunk(json!({"content": d}), Value::Null));
        }
    }
    for (i, call) in tool_calls(reply, raw).into_iter().enumerate() {
        out.push(chunk(
            json!({"tool_calls": [{
                "index": i,
                "id": call["id"],
                "type": "function",
                "function": {"name": call["function"]["name"], "arguments": ""},
            }]}),
            Value::Null,
        ));
        let args = call["function"]["arguments"].as_str().unwrap_or("{}");
        for piece in wire::json_pieces(args) {
            out.push(chunk(
                json!({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}),
                Value::Null,
            ));
        }
    }
    out.push(chunk(json!({}), json!(finish_reason(reply))));
    let include_usage = body
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if include_usage {
        let v = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": req.model,
            "system_fingerprint": "fp_shakedown",
            "choices": [],
            "usage": usage_json(reply, req),
        });
        out.push(wire::data_event(&v.to_string()));
    }
    out.push(wire::data_event("[DONE]"));
    out
}
