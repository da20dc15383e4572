"""Drives shakedown mock-llm with the official openai and anthropic Python SDKs.

Usage: sdk_client.py BASE_URL (e.g. http://127.0.0.1:8089). Every case parses the SDK's own
objects and checks them against the rules of tests/common/mod.rs; any mismatch raises, so the
exit status is non-zero. Prints one `ok <case>` line per case.
"""

import json
import sys

import anthropic
import openai

BASE = sys.argv[1]
oa = openai.OpenAI(base_url=BASE + "/v1", api_key="test", max_retries=0, timeout=10)
an = anthropic.Anthropic(base_url=BASE, api_key="test", max_retries=0, timeout=10)
GREETING = "Hello from the mock, friend."
WEATHER_ARGS = {"city": "Paris", "unit": "celsius"}


def ok(name):
    print("ok", name, flush=True)


def expect(actual, wanted, what):
    if actual != wanted:
        raise AssertionError(f"{what}: got {actual!r}, wanted {wanted!r}")


# OpenAI Chat Completions, plain.
r = oa.chat.completions.create(model="mock-gpt", messages=[{"role": "user", "content": "hello"}])
expect(r.choices[0].message.content, GREETING, "chat content")
expect(r.choices[0].finish_reason, "stop", "chat finish_reason")
expect(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens, "chat usage")
ok("openai chat plain")

# Streamed, with the usage chunk.
stream = oa.chat.completions.create(
    model="mock-gpt",
    messages=[{"role": "user", "content": "hello"}],
    stream=True,
    stream_options={"include_usage": True},
)
text, finish, usage = "", None, None
for chunk in stream:
    if chunk.usage:
        usage = chunk.usage
    for c in chunk.choices:
        text += c.delta.content or ""
        finish = c.finish_reason or finish
expect(text, GREETING, "chat stream text")
expect(finish, "stop", "chat stream finish")
if usage is None or usage.total_tokens <= 0:
    raise AssertionError("chat stream: no usage chunk")
ok("openai chat stream")

# Tool call, whole and through the SDK's stream helper, then the tool result turn.
tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
msgs = [{"role": "user", "content": "what is the weather?"}]
r = oa.chat.completions.create(model="mock-gpt", messages=msgs, tools=tools)
call = r.choices[0].message.tool_calls[0]
expect(r.choices[0].finish_reason, "tool_calls", "tool finish_reason")
expect(call.function.name, "get_weather", "tool name")
expect(json.loads(call.function.arguments), WEATHER_ARGS, "tool arguments")
with oa.chat.completions.stream(model="mock-gpt", messages=msgs, tools=tools) as s:
    final = s.get_final_completion()
streamed = final.choices[0].message.tool_calls[0]
expect(streamed.function.name, "get_weather", "streamed tool name")
expect(json.loads(streamed.function.arguments), WEATHER_ARGS, "streamed tool arguments")
again = oa.chat.completions.create(model="mock-gpt", messages=msgs, tools=tools)
expect(again.choices[0].message.tool_calls[0].id, call.id, "same request, same call id")
msgs += [r.choices[0].message.model_dump(exclude_none=True),
         {"role": "tool", "tool_call_id": call.id, "content": "21 C"}]
r = oa.chat.completions.create(model="mock-gpt", messages=msgs, tools=tools)
expect(r.choices[0].message.content, "It is warm in Paris.", "tool result answer")
expect(r.usage.prompt_tokens, 42, "rule usage")
ok("openai chat tool call")

# OpenAI Responses API, plain and streamed.
r = oa.responses.create(model="mock-gpt", input="hello")
expect(r.output_text, GREETING, "responses output_text")
expect(r.status, "completed", "responses status")
ok("openai responses plain")

events = list(oa.responses.create(model="mock-gpt", input="hello", stream=True))
types = [e.type for e in events]
expect(types[0], "response.created", "first event")
expect(types[-1], "response.completed", "last event")
delta = "".join(e.delta for e in events if e.type == "response.output_text.delta")
expect(delta, GREETING, "responses stream text")
expect(events[-1].response.output_text, GREETING, "responses completed text")
ok("openai responses stream")

r = oa.responses.create(model="mock-gpt", input="weather?",
                        tools=[{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}])
fc = r.output[0]
expect(fc.type, "function_call", "responses function call")
expect(json.loads(fc.arguments), WEATHER_ARGS, "responses function arguments")
events = list(oa.responses.create(model="mock-gpt", input="weather?", stream=True,
                                  tools=[{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]))
done = [e for e in events if e.type == "response.function_call_arguments.done"]
expect(json.loads(done[0].arguments), WEATHER_ARGS, "responses streamed function arguments")
expect(events[-1].response.output[0].name, "get_weather", "responses streamed function name")
r = oa.responses.create(model="mock-gpt", input=[
    {"role": "user", "content": "weather?"}, fc.model_dump(exclude_none=True),
    {"type": "function_call_output", "call_id": fc.call_id, "output": "19C"}])
expect(r.output_text, "It is warm in Paris.", "responses tool result answer")
ok("openai responses function call")

# Anthropic Messages, plain, streamed and tool_use.
m = an.messages.create(model="mock-claude", max_tokens=100,
                       messages=[{"role": "user", "content": "hello"}])
expect(m.content[0].text, GREETING, "anthropic text")
expect(m.stop_reason, "end_turn", "anthropic stop_reason")
ok("anthropic messages plain")

with an.messages.stream(model="mock-claude", max_tokens=100,
                        messages=[{"role": "user", "content": "hello"}]) as s:
    text = "".join(s.text_stream)
    final = s.get_final_message()
expect(text, GREETING, "anthropic stream text")
expect(final.content[0].text, GREETING, "anthropic final message")
expect(final.stop_reason, "end_turn", "anthropic stream stop_reason")
ok("anthropic messages stream")

atools = [{"name": "get_weather", "description": "weather", "input_schema": {"type": "object"}}]
amsgs = [{"role": "user", "content": "weather?"}]
m = an.messages.create(model="mock-claude", max_tokens=100, messages=amsgs, tools=atools)
use = m.content[0]
expect(m.stop_reason, "tool_use", "anthropic tool stop_reason")
expect(use.type, "tool_use", "anthropic block type")
expect(use.input, WEATHER_ARGS, "anthropic tool input")
with an.messages.stream(model="mock-claude", max_tokens=100, messages=amsgs, tools=atools) as s:
    final = s.get_final_message()
expect(final.content[0].input, WEATHER_ARGS, "anthropic streamed tool input")
again = an.messages.create(model="mock-claude", max_tokens=100, messages=amsgs, tools=atools)
expect(again.content[0].id, use.id, "same request, same tool_use id")
amsgs += [{"role": "assistant", "content": [use.model_dump(exclude_none=True)]},
          {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "22C"}]}]
m = an.messages.create(model="mock-claude", max_tokens=100, messages=amsgs, tools=atools)
expect(m.content[0].text, "It is warm in Paris.", "anthropic tool result answer")
expect(m.usage.input_tokens, 42, "anthropic rule usage")
ok("anthropic messages tool_use")

models = [x.id for x in oa.models.list()]
expect(models, ["mock-gpt", "mock-claude"], "openai models")
expect([x.id for x in an.models.list()], ["mock-gpt", "mock-claude"], "anthropic models")
ok("models")
print("all ok", flush=True)
