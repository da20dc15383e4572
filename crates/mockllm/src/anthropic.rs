//! Anthropic Messages (`POST /v1/messages`): request reading and the `message` object, whole
//! or streamed (`message_start`, content blocks, `message_delta`, `message_stop`).

use bytes::Bytes;
use serde_json::{Value, json};

use crate::rules::{Reply, Subject, Turn};
use crate::wire::{self, Request};

/// Reads the fields the rules need. The newest user message is the turn: a tool-result turn
/// when it carries `tool_result` blocks (their text), a user turn otherwise.
pub fn read(body: &Value) -> Result<Request, String> {
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .ok_or("model: Field required")?
        .to_string();
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("messages: Field required")?;
    let mut input_text = wire::content_text(body.get("system").unwrap_or(&Value::Null));
    let mut turn = None;
    for m in messages {
        let content = m.get("content").unwrap_or(&Value::Null);
        let all = wire::content_text(content);
        input_text.push_str(&all);
        if m.get("role").and_then(Value::as_str) != Some("user") {
            continue;
        }
        let results: Vec<&Value> = content
            .as_array()
            .map(|blocks| {
                blocks
                    .iter()
                    .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
                    .collect()
            })
            .unwrap_or_default();
        turn = Some(match results.last() {
            Some(r) => Turn {
                subject: Subject::ToolResult,
                text: wire::content_text(r.get("content").unwrap_or(&Value::Null)),
            },
            None => Turn {
                subject: Subject::User,
                text: all,
            },
        });
    }
    Ok(Request {
        model,
        stream: body.get("stream").and_then(Value::as_bool).unwrap_or(false),
        turn,
        input_text,
    })
}

fn blocks(reply: &Reply, raw: &[u8]) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(text) = &reply.text {
        out.push(json!({"type": "text", "text": text}));
    }
    for (i, c) in reply.tool_calls.iter().enumerate() {
        out.push(json!({
            "type": "tool_use",
            "id": wire::id("toolu_", raw, &format!("tool{i}")),
            "name": c.name,
            "input": c.arguments,
        }));
    }
    out
}

fn stop_reason(reply: &Reply) -> &'static str {
    if reply.tool_calls.is_empty() {
        "end_turn"
    } else {
        "tool_use"
    }
}

fn message(req: &Request, raw: &[u8], content: Vec<Value>, stop: Value, usage: Value) -> Value {
    json!({
        "id": wire::id("msg_", raw, "message"),
        "type": "message",
        "role": "assistant",
        "model": req.model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": null,
        "usage": usage,
    })
}

fn usage_json(input: u64, output: u64) -> Value {
    json!({
        "input_tokens": input,
        "output_tokens": output,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    })
}

/// The whole `message` object.
pub fn complete(reply: &Reply, req: &Request, raw: &[u8]) -> Value {
    let (input, output) = wire::usage(reply, &req.input_text);
    message(
        req,
        raw,
        blocks(reply, raw),
        json!(stop_reason(reply)),
        usage_json(input, output),
    )
}

/// The SSE events of a streamed message.
pub fn stream(reply: &Reply, req: &Request, raw: &[u8]) -> Vec<Bytes> {
    let (input, output) = wire::usage(reply, &req.input_text);
    let mut out = Vec::new();
    let mut emit = |kind: &str, mut data: Value| {
        data["type"] = json!(kind);
        out.push(wire::named_event(kind, &data));
    };
    emit(
        "message_start",
        json!({"message": message(req, raw, Vec::new(), Value::Null, usage_json(input, 1))}),
    );
    emit("ping", json!({}));
    for (index, block) in blocks(reply, raw).into_iter().enumerate() {
        if block["type"] == "text" {
            emit(
                "content_block_start",
                json!({"index": index, "content_block": {"type": "text", "text": ""}}),
            );
            for d in wire::deltas(block["text"].as_str().unwrap_or_default()) {
                emit(
                    "content_block_delta",
                    json!({"index": index, "delta": {"type": "text_delta", "text": d}}),
                );
            }
        } else {
            let start = json!({"type": "tool_use", "id": block["id"], "name": block["name"],
                               "input": {}});
            emit(
                "content_block_start",
                json!({"index": index, "content_block": start}),
            );
            for piece in wire::json_pieces(&block["input"].to_string()) {
                emit(
                    "content_block_delta",
                    json!({"index": index,
                           "delta": {"type": "input_json_delta", "partial_json": piece}}),
                );
            }
        }
        emit("content_block_stop", json!({"index": index}));
    }
    emit(
        "message_delta",
        json!({"delta": {"stop_reason": stop_reason(reply), "stop_sequence": null},
               "usage": {"output_tokens": output}}),
    );
    emit("message_stop", json!({}));
    out
}
