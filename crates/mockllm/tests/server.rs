//! The mock server over real HTTP: JSON shapes and SSE event sequences of the three APIs,
//! rule matching, determinism and provider-shaped errors.

mod common;

use common::{Mock, sse};
use serde_json::{Value, json};

fn json_of(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

#[tokio::test]
async fn chat_completion_plain_tool_call_and_determinism() {
    let mock = Mock::start().await;
    let body = json!({"model": "mock-gpt", "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello there"}]})
    .to_string();
    let (status, ctype, text) = mock.call("POST", "/v1/chat/completions", &body).await;
    assert_eq!(status, 200);
    assert!(ctype.starts_with("application/json"));
    let v = json_of(&text);
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "mock-gpt");
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Hello from the mock, friend."
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    let u = &v["usage"];
    assert_eq!(
        u["total_tokens"].as_u64().unwrap(),
        u["prompt_tokens"].as_u64().unwrap() + u["completion_tokens"].as_u64().unwrap()
    );
    // Same request, same bytes.
    let (_, _, again) = mock.call("POST", "/v1/chat/completions", &body).await;
    assert_eq!(again, text);

    let body = json!({"model": "mock-gpt", "messages": [
        {"role": "user", "content": [{"type": "text", "text": "what is the weather?"}]}]})
    .to_string();
    let v = json_of(&mock.call("POST", "/v1/chat/completions", &body).await.2);
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(v["choices"][0]["message"]["content"], Value::Null);
    let call = &v["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert!(call["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(call["function"]["name"], "get_weather");
    let args = json_of(call["function"]["arguments"].as_str().unwrap());
    assert_eq!(args, json!({"city": "Paris", "unit": "celsius"}));

    // The tool result turn: the user message still says "weather", but the tool rule answers.
    let body = json!({"model": "mock-gpt", "messages": [
        {"role": "user", "content": "what is the weather?"},
        {"role": "assistant", "content": null, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "21 C, sunny"}]})
    .to_string();
    let v = json_of(&mock.call("POST", "/v1/chat/completions", &body).await.2);
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "It is warm in Paris."
    );
    assert_eq!(v["usage"]["prompt_tokens"], 42);
    assert_eq!(v["usage"]["completion_tokens"], 7);

    // Model-restricted rule and the default.
    let body = json!({"model": "mock-big", "messages": [{"role": "user", "content": "x"}]});
    let v = json_of(
        &mock
            .call("POST", "/v1/chat/completions", &body.to_string())
            .await
            .2,
    );
    assert_eq!(v["choices"][0]["message"]["content"], "big");
    let body = json!({"model": "mock-gpt", "messages": [{"role": "user", "content": "x"}]});
    let v = json_of(
        &mock
            .call("POST", "/v1/chat/completions", &body.to_string())
            .await
            .2,
    );
    assert_eq!(v["choices"][0]["message"]["content"], "I do not know.");
    mock.shutdown().await;
}

#[tokio::test]
async fn chat_completion_stream_text_and_tool_call() {
    let mock = Mock::start().await;
    let body = json!({"model": "mock-gpt", "stream": true,
        "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "hello"}]})
    .to_string();
    let (status, ctype, text) = mock.call("POST", "/v1/chat/completions", &body).await;
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/event-stream"));
    let frames = sse(&text);
    assert_eq!(frames.last().unwrap().1, "[DONE]");
    let chunks: Vec<Value> = frames[..frames.len() - 1]
        .iter()
        .map(|(e, d)| {
            assert!(e.is_none());
            json_of(d)
        })
        .collect();
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "Hello from the mock, friend.");
    let n = chunks.len();
    assert_eq!(chunks[n - 2]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks[n - 1]["choices"], json!([]));
    assert!(chunks[n - 1]["usage"]["total_tokens"].as_u64().unwrap() > 0);

    let body = json!({"model": "mock-gpt", "stream": true,
        "messages": [{"role": "user", "content": "weather please"}]})
    .to_string();
    let frames = sse(&mock.call("POST", "/v1/chat/completions", &body).await.2);
    let chunks: Vec<Value> = frames[..frames.len() - 1]
        .iter()
        .map(|f| json_of(&f.1))
        .collect();
    let first = &chunks[1]["choices"][0]["delta"]["tool_calls"][0];
    assert_eq!(first["function"]["name"], "get_weather");
    assert!(first["id"].as_str().unwrap().starts_with("call_"));
    let args: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(json_of(&args), json!({"city": "Paris", "unit": "celsius"}));
    assert!(chunks.len() > 4, "arguments arrive in pieces");
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
    mock.shutdown().await;
}

#[tokio::test]
async fn responses_api_plain_stream_and_function_call() {
    let mock = Mock::start().await;
    let body = json!({"model": "mock-gpt", "input": "hello"}).to_string();
    let v = json_of(&mock.call("POST", "/v1/responses", &body).await.2);
    assert_eq!(v["object"], "response");
    assert_eq!(v["status"], "completed");
    assert!(v["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(v["output"][0]["type"], "message");
    assert_eq!(v["output"][0]["content"][0]["type"], "output_text");
    assert_eq!(
        v["output"][0]["content"][0]["text"],
        "Hello from the mock, friend."
    );

    let body = json!({"model": "mock-gpt", "input": [
        {"role": "user", "content": [{"type": "input_text", "text": "weather?"}]}]})
    .to_string();
    let v = json_of(&mock.call("POST", "/v1/responses", &body).await.2);
    let call = &v["output"][0];
    assert_eq!(call["type"], "function_call");
    assert_eq!(call["name"], "get_weather");
    assert!(call["call_id"].as_str().unwrap().starts_with("call_"));
    let body = json!({"model": "mock-gpt", "input": [
        {"role": "user", "content": "weather?"}, call,
        {"type": "function_call_output", "call_id": call["call_id"], "output": "19C"}]})
    .to_string();
    let v = json_of(&mock.call("POST", "/v1/responses", &body).await.2);
    assert_eq!(v["output"][0]["content"][0]["text"], "It is warm in Paris.");
    assert_eq!(v["usage"]["input_tokens"], 42);

    let body = json!({"model": "mock-gpt", "input": "hello", "stream": true}).to_string();
    let (_, ctype, text) = mock.call("POST", "/v1/responses", &body).await;
    assert!(ctype.starts_with("text/event-stream"));
    let frames = sse(&text);
    let names: Vec<&str> = frames.iter().map(|f| f.0.as_deref().unwrap()).collect();
    assert_eq!(
        names[..4],
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added"
        ]
    );
    assert_eq!(
        names[names.len() - 4..],
        [
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    let mut text = String::new();
    for (i, (name, data)) in frames.iter().enumerate() {
        let v = json_of(data);
        assert_eq!(v["type"], name.as_deref().unwrap());
        assert_eq!(v["sequence_number"], i as u64);
        if v["type"] == "response.output_text.delta" {
            text.push_str(v["delta"].as_str().unwrap());
        }
    }
    assert_eq!(text, "Hello from the mock, friend.");
    let done = json_of(&frames.last().unwrap().1);
    assert_eq!(done["response"]["status"], "completed");
    assert_eq!(done["response"]["output"][0]["content"][0]["text"], text);
    mock.shutdown().await;
}

#[tokio::test]
async fn anthropic_messages_plain_stream_and_tool_use() {
    let mock = Mock::start().await;
    let body = json!({"model": "mock-claude", "max_tokens": 100,
        "messages": [{"role": "user", "content": "hello"}]})
    .to_string();
    let v = json_of(&mock.call("POST", "/v1/messages", &body).await.2);
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(
        v["content"][0],
        json!({"type": "text", "text": "Hello from the mock, friend."})
    );
    assert_eq!(v["stop_reason"], "end_turn");
    assert!(v["usage"]["input_tokens"].as_u64().unwrap() > 0);

    let body = json!({"model": "mock-claude", "max_tokens": 100,
        "messages": [{"role": "user", "content": "weather?"}], "stream": true})
    .to_string();
    let frames = sse(&mock.call("POST", "/v1/messages", &body).await.2);
    let names: Vec<&str> = frames.iter().map(|f| f.0.as_deref().unwrap()).collect();
    assert_eq!(names[0], "message_start");
    assert_eq!(names[2], "content_block_start");
    assert_eq!(
        names[names.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );
    let start = json_of(&frames[2].1);
    assert_eq!(start["content_block"]["type"], "tool_use");
    assert_eq!(start["content_block"]["name"], "get_weather");
    let tool_id = start["content_block"]["id"].as_str().unwrap().to_string();
    assert!(tool_id.starts_with("toolu_"));
    let partial: String = frames
        .iter()
        .filter(|f| f.0.as_deref() == Some("content_block_delta"))
        .map(|f| {
            json_of(&f.1)["delta"]["partial_json"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        json_of(&partial),
        json!({"city": "Paris", "unit": "celsius"})
    );
    let delta = json_of(&frames[frames.len() - 2].1);
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");

    let body = json!({"model": "mock-claude", "max_tokens": 100, "messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": tool_id,
            "name": "get_weather", "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_id,
            "content": [{"type": "text", "text": "22C"}]}]}]})
    .to_string();
    let v = json_of(&mock.call("POST", "/v1/messages", &body).await.2);
    assert_eq!(v["content"][0]["text"], "It is warm in Paris.");
    assert_eq!(
        v["usage"],
        json!({"input_tokens": 42, "output_tokens": 7,
        "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0})
    );
    mock.shutdown().await;
}

#[tokio::test]
async fn models_and_provider_shaped_errors() {
    let mock = Mock::start().await;
    let v = json_of(&mock.call("GET", "/v1/models", "").await.2);
    assert_eq!(v["object"], "list");
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["mock-gpt", "mock-claude"]);

    let (status, _, text) = mock.call("POST", "/v1/chat/completions", "{not json").await;
    assert_eq!(status, 400);
    assert_eq!(json_of(&text)["error"]["type"], "invalid_request_error");
    let (status, _, text) = mock
        .call("POST", "/v1/messages", r#"{"messages": []}"#)
        .await;
    assert_eq!(status, 400);
    let v = json_of(&text);
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    let (status, _, _) = mock
        .call("POST", "/v1/responses", r#"{"model": "m", "input": 3}"#)
        .await;
    assert_eq!(status, 400);
    mock.shutdown().await;
}
