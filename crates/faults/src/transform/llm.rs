//! Applies a [`TextOp`] to the assistant text of a whole LLM answer: `choices[].message.content`
//! (Chat Completions), `output[].content[]` `output_text` parts (Responses), `content[]` text
//! blocks (Anthropic). Truncation also marks the answer as cut by the token limit the way each
//! API does: `finish_reason: "length"`, `status: "incomplete"` with
//! `incomplete_details.reason: "max_output_tokens"`, `stop_reason: "max_tokens"`.

use serde_json::{Value, json};

use crate::ApiKind;
use crate::transform::TextOp;

/// Rewrites `body` in place. Returns false when the body is not an answer of that API (it is
/// then left alone).
pub fn rewrite(api: ApiKind, body: &mut Value, op: &TextOp) -> bool {
    match api {
        ApiKind::OpenAiChat => chat(body, op),
        ApiKind::OpenAiResponses => responses(body, op),
        ApiKind::AnthropicMessages => anthropic(body, op),
        ApiKind::Tool => false,
    }
}

fn chat(body: &mut Value, op: &TextOp) -> bool {
    let Some(choices) = body.get_mut("choices").and_then(Value::as_array_mut) else {
        return false;
    };
    for choice in choices {
        if let Some(Value::String(text)) = choice.pointer_mut("/message/content") {
            *text = op.apply(text);
        }
        if op.truncates() {
            choice["finish_reason"] = json!("length");
        }
    }
    true
}

/// Rewrites the `output_text` parts of Responses output items; shared with the stream
/// rewriter (`response.output_item.done`, `response.completed`).
pub fn responses_output(output: &mut [Value], op: &TextOp) {
    for item in output {
        if item.get("type").and_then(Value::as_str) != Some("message") {
            continue;
        }
        if let Some(parts) = item.get_mut("content").and_then(Value::as_array_mut) {
            for part in parts {
                if part.get("type").and_then(Value::as_str) == Some("output_text")
                    && let Some(Value::String(text)) = part.get_mut("text")
                {
                    *text = op.apply(text);
                }
            }
        }
        if op.truncates() {
            item["status"] = json!("incomplete");
        }
    }
}

/// Marks a Responses `response` object as cut by the output token limit.
pub fn responses_incomplete(response: &mut Value) {
    response["status"] = json!("incomplete");
    response["incomplete_details"] = json!({"reason": "max_output_tokens"});
}

fn responses(body: &mut Value, op: &TextOp) -> bool {
    let Some(output) = body.get_mut("output").and_then(Value::as_array_mut) else {
        return false;
    };
    responses_output(output, op);
    // Some gateways add the SDK's convenience field; keep it in step.
    if let Some(Value::String(text)) = body.get_mut("output_text") {
        *text = op.apply(text);
    }
    if op.truncates() {
        responses_incomplete(body);
    }
    true
}

fn anthropic(body: &mut Value, op: &TextOp) -> bool {
    let Some(blocks) = body.get_mut("content").and_then(Value::as_array_mut) else {
        return false;
    };
    for block in blocks {
        if block.get("type").and_then(Value::as_str) == Some("text")
            && let Some(Value::String(text)) = block.get_mut("text")
        {
            *text = op.apply(text);
        }
    }
    if op.truncates() {
        body["stop_reason"] = json!("max_tokens");
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_truncate_sets_length() {
        let mut v = json!({"choices":[{"index":0,"message":{"role":"assistant","content":"a b c"},"finish_reason":"stop"}]});
        assert!(rewrite(ApiKind::OpenAiChat, &mut v, &TextOp::Truncate(2)));
        assert_eq!(v["choices"][0]["message"]["content"], "a b");
        assert_eq!(v["choices"][0]["finish_reason"], "length");
    }

    #[test]
    fn not_an_answer_is_left_alone() {
        let mut v = json!({"error": {"message": "x"}});
        assert!(!rewrite(ApiKind::AnthropicMessages, &mut v, &TextOp::Empty));
        assert_eq!(v, json!({"error": {"message": "x"}}));
    }
}
