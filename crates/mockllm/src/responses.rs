//! The OpenAI Responses API (`POST /v1/responses`): request reading and the `response` object,
//! whole or streamed as typed events (`response.created` … `response.completed`).

use bytes::Bytes;
use serde_json::{Value, json};

use crate::rules::{Reply, Subject, Turn};
use crate::wire::{self, CREATED, Request};

/// Reads the fields the rules need. `input` is a string (a user turn) or a list of items; the
/// newest user message or `function_call_output` is the turn.
pub fn read(body: &Value) -> Result<Request, String> {
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .ok_or("`model` is required")?
        .to_string();
    let mut input_text = body
        .get("instructions")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut turn = None;
    match body.get("input") {
        Some(Value::String(s)) => {
            input_text.push_str(s);
            turn = Some(Turn {
                subject: Subject::User,
                text: s.clone(),
            });
        }
        Some(Value::Array(items)) => {
            for item in items {
                let kind = item
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("message");
                match kind {
                    "function_call_output" => {
                        let text = wire::content_text(item.get("output").unwrap_or(&Value::Null));
                        input_text.push_str(&text);
                        turn = Some(Turn {
                            subject: Subject::ToolResult,
                            text,
                        });
                    }
                    "message" => {
                        let text = wire::content_text(item.get("content").unwrap_or(&Value::Null));
                        input_text.push_str(&text);
                        if item.get("role").and_then(Value::as_str) == Some("user") {
                            turn = Some(Turn {
                                subject: Subject::User,
                                text,
                            });
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => return Err("`input` must be a string or an array of items".to_string()),
    }
    Ok(Request {
        model,
        stream: body.get("stream").and_then(Value::as_bool).unwrap_or(false),
        turn,
        input_text,
    })
}

fn message_item(id: &str, text: &str, status: &str) -> Value {
    let content = if status == "completed" {
        json!([{"type": "output_text", "text": text, "annotations": [], "logprobs": []}])
    } else {
        json!([])
    };
    json!({"type": "message", "id": id, "status": status, "role": "assistant", "content": content})
}

fn call_item(id: &str, call_id: &str, name: &str, arguments: &str, status: &str) -> Value {
    json!({
        "type": "function_call",
        "id": id,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    })
}

/// Output items of the reply, in order: the message (if any text), then one per tool call.
fn output(reply: &Reply, raw: &[u8]) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(text) = &reply.text {
        out.push(message_item(
            &wire::id("msg_", raw, "msg"),
            text,
            "completed",
        ));
    }
    for (i, c) in reply.tool_calls.iter().enumerate() {
        out.push(call_item(
            &wire::id("fc_", raw, &format!("fc{i}")),
            &wire::id("call_", raw, &format!("call{i}")),
            &c.name,
            &c.arguments.to_string(),
            "completed",
        ));
    }
    out
}

fn response(reply: &Reply, req: &Request, raw: &[u8], status: &str, output: Vec<Value>) -> Value {
    let usage = if status == "completed" {
        let (input, out) = wire::usage(reply, &req.input_text);
        json!({
            "input_tokens": input,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": out,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input + out,
        })
    } else {
        Value::Null
    };
    json!({
        "id": wire::id("resp_", raw, "resp"),
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "error": null,
        "incomplete_details": null,
        "instructions": null,
        "max_output_tokens": null,
        "model": req.model,
        "output": output,
        "parallel_tool_calls": true,
        "previous_response_id": null,
        "reasoning": {"effort": null, "summary": null},
        "store": false,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "metadata": {},
    })
}

/// The whole `response` object.
pub fn complete(reply: &Reply, req: &Request, raw: &[u8]) -> Value {
    response(reply, req, raw, "completed", output(reply, raw))
}

/// The SSE events of a streamed response, each with its `sequence_number`.
pub fn stream(reply: &Reply, req: &Request, raw: &[u8]) -> Vec<Bytes> {
    let mut seq = 0u64;
    let mut out = Vec::new();
    let mut emit = |kind: &str, mut data: Value| {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(seq);
        seq += 1;
        out.push(wire::named_event(kind, &data));
    };
    let pending = response(reply, req, raw, "in_progress", Vec::new());
    emit("response.created", json!({"response": pending}));
    emit("response.in_progress", json!({"response": pending}));
    let items = output(reply, raw);
    for (index, item) in items.iter().enumerate() {
        let item_id = item["id"].as_str().unwrap_or_default();
        if item["type"] == "message" {
            let text = item["content"][0]["text"].as_str().unwrap_or_default();
            emit(
                "response.output_item.added",
                json!({"output_index": index, "item": message_item(item_id, "", "in_progress")}),
            );
            let empty =
                json!({"type": "output_text", "text": "", "annotations": [], "logprobs": []});
            emit(
                "response.content_part.added",
                json!({"item_id": item_id, "output_index": index, "content_index": 0, "part": empty}),
            );
            for d in wire::deltas(text) {
                emit(
                    "response.output_text.delta",
                    json!({"item_id": item_id, "output_index": index, "content_index": 0,
                           "delta": d, "logprobs": []}),
                );
            }
            emit(
                "response.output_text.done",
                json!({"item_id": item_id, "output_index": index, "content_index": 0,
                       "text": text, "logprobs": []}),
            );
            emit(
                "response.content_part.done",
                json!({"item_id": item_id, "output_index": index, "content_index": 0,
                       "part": item["content"][0]}),
            );
        } else {
            let name = item["name"].as_str().unwrap_or_default();
            let call_id = item["call_id"].as_str().unwrap_or_default();
            let args = item["arguments"].as_str().unwrap_or_default();
            emit(
                "response.output_item.added",
                json!({"output_index": index,
                       "item": call_item(item_id, call_id, name, "", "in_progress")}),
            );
            for piece in wire::json_pieces(args) {
                emit(
                    "response.function_call_arguments.delta",
                    json!({"item_id": item_id, "output_index": index, "delta": piece}),
                );
            }
            emit(
                "response.function_call_arguments.done",
                json!({"item_id": item_id, "output_index": index, "arguments": args}),
            );
        }
        emit(
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
        );
    }
    emit(
        "response.completed",
        json!({"response": response(reply, req, raw, "completed", items)}),
    );
    out
}
