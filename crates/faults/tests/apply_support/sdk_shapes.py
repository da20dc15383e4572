"""What the official openai and anthropic SDKs do with each fault shape of the proxy.

Usage: sdk_shapes.py PROXY_BASE CONFIG_PROXY_BASE. PROXY_BASE routes /llm to the mock LLM with
a text reply and /tools-llm to the mock LLM answering with a tool call; the model name selects
the fault (see tests/apply_sdk.rs). CONFIG_PROXY_BASE is a proxy whose faults come from a
Flakestorm `chaos:` config file loaded as `shakedown fault-proxy --config` loads it; its rules
match `claude-*` models. Each case asserts the SDK's behaviour and prints `ok <case> <facts>`;
a mismatch raises.
"""

import json
import sys
import time

import anthropic
import openai

BASE = sys.argv[1]
CONFIG_BASE = sys.argv[2]
USER = [{"role": "user", "content": "What is the weather in Paris?"}]


def ok(name, **facts):
    print("ok", name, " ".join(f"{k}={v}" for k, v in facts.items()), flush=True)


def oa(route="/llm", **kw):
    kw.setdefault("max_retries", 0)
    kw.setdefault("timeout", 10)
    return openai.OpenAI(base_url=BASE + route + "/v1", api_key="test", **kw)


def an(route="/llm", base=None, **kw):
    kw.setdefault("max_retries", 0)
    kw.setdefault("timeout", 10)
    return anthropic.Anthropic(base_url=(base or BASE) + route, api_key="test", **kw)


def raises(exc_type, fn):
    try:
        fn()
    except exc_type as e:
        return e
    raise AssertionError(f"expected {exc_type.__name__}")


def chat(model, **kw):
    return oa(**kw).chat.completions.create(model=model, messages=USER)


def msg(model, **kw):
    return an(**kw).messages.create(model=model, max_tokens=100, messages=USER)


def stream_chat(model, route="/llm"):
    return list(oa(route).chat.completions.create(model=model, messages=USER, stream=True))


def stream_msg(model, route="/llm"):
    return list(an(route).messages.create(model=model, max_tokens=100, messages=USER, stream=True))


def stream_resp(model, route="/llm"):
    return list(oa(route).responses.create(model=model, input="What is the weather?", stream=True))


def rate_limits():
    # Retried twice; the Rust side checks the gaps honour retry-after-ms (300 ms).
    t0 = time.monotonic()
    e = raises(openai.RateLimitError, lambda: chat("rl-retry", max_retries=2))
    waited = time.monotonic() - t0
    assert waited >= 0.55, waited
    assert e.code == "rate_limit_exceeded" and e.type == "requests", e.body
    assert e.response.headers["x-should-retry"] == "true"
    ok("rl-retry", waited=round(waited, 2), code=e.code)

    # Not retried: the Rust side checks the proxy saw exactly one call.
    e = raises(openai.RateLimitError, lambda: chat("rl-quota", max_retries=2))
    assert e.code == "insufficient_quota", e.body
    assert e.response.headers["x-should-retry"] == "false"
    ok("rl-quota", code=e.code)

    e = raises(anthropic.OverloadedError, lambda: msg("overloaded", max_retries=1))
    assert e.status_code == 529 and e.body["error"]["type"] == "overloaded_error", e.body
    assert e.request_id.startswith("req_011C"), e.request_id
    ok("overloaded", cls=type(e).__name__)

    # The proxy would answer 504 after 3 s; the SDK's own 0.5 s timeout fires first.
    t0 = time.monotonic()
    raises(openai.APITimeoutError, lambda: chat("timeout", timeout=0.5))
    waited = time.monotonic() - t0
    assert waited < 2.9, waited
    ok("timeout", waited=round(waited, 2))


def anthropic_from_config():
    """The anthropic SDK against the proxy driven by the chaos: config file."""

    def create(model, **kw):
        return an(base=CONFIG_BASE, **kw).messages.create(model=model, max_tokens=100, messages=USER)

    # retry_after_ms: 1500 -> `retry-after: 2` (whole seconds, as Anthropic sends it; no
    # retry-after-ms). The SDK waits 2 s before each of its two retries; its own backoff would
    # wait at most 0.5 s and then 1 s. The Rust side checks the gaps between the calls.
    t0 = time.monotonic()
    e = raises(anthropic.RateLimitError, lambda: create("claude-rl-retry", max_retries=2))
    waited = time.monotonic() - t0
    assert waited >= 3.8, waited
    assert e.status_code == 429 and e.body["error"]["type"] == "rate_limit_error", e.body
    assert e.response.headers["retry-after"] == "2", dict(e.response.headers)
    assert e.response.headers["x-should-retry"] == "true"
    assert "retry-after-ms" not in e.response.headers
    ok("an-rl-retry", waited=round(waited, 2), cls=type(e).__name__)

    # Non-retryable (x-should-retry: false): raised at once although max_retries=2 (the Rust
    # side checks the proxy saw exactly one call).
    t0 = time.monotonic()
    e = raises(anthropic.RateLimitError, lambda: create("claude-rl-quota", max_retries=2))
    waited = time.monotonic() - t0
    assert e.status_code == 429 and e.body["error"]["type"] == "rate_limit_error", e.body
    assert e.response.headers["x-should-retry"] == "false"
    assert "usage limits" in e.body["error"]["message"], e.body
    ok("an-rl-quota", waited=round(waited, 2), cls=type(e).__name__)

    # The proxy would answer 504 after 3 s; the SDK's own 0.5 s timeout fires first.
    t0 = time.monotonic()
    e = raises(anthropic.APITimeoutError, lambda: create("claude-timeout", timeout=0.5))
    waited = time.monotonic() - t0
    assert waited < 2.9, waited
    ok("an-timeout", waited=round(waited, 2), cls=type(e).__name__)

    # A model no rule matches goes to the mock untouched.
    m = create("claude-clean")
    assert m.content[0].text.startswith("The weather in Paris"), m
    ok("an-clean", stop=m.stop_reason)


def streams():
    chunks = stream_chat("cut")
    assert chunks and all(c.choices[0].finish_reason is None for c in chunks), chunks
    types = [e.type for e in stream_msg("cut")]
    assert "message_stop" not in types and "message_delta" not in types, types
    rtypes = [e.type for e in stream_resp("cut")]
    assert "response.completed" not in rtypes, rtypes
    ok("cut", openai_chunks=len(chunks), anthropic=len(types), responses=len(rtypes))

    e = raises(openai.APIError, lambda: stream_chat("err-event"))
    assert not isinstance(e, openai.APIStatusError) and e.type == "server_error", e
    e2 = raises(anthropic.APIStatusError, lambda: stream_msg("err-event"))
    assert e2.status_code == 200 and e2.body["error"]["type"] == "overloaded_error", e2.body
    rtypes = [e.type for e in stream_resp("err-event")]
    assert rtypes[-2:] == ["error", "response.failed"], rtypes
    ok("err-event", openai=type(e).__name__, anthropic=type(e2).__name__, responses=rtypes[-1])

    for fn in (stream_chat, stream_msg, stream_resp):
        raises(json.JSONDecodeError, lambda: fn("malformed-chunk"))
    ok("malformed-chunk", raised="JSONDecodeError")


def whole_answers():
    c = chat("mid-whole")
    assert c.choices is None and c.error["type"] == "server_error", c
    m = msg("mid-whole")
    assert m.type == "error" and m.content is None and m.error["type"] == "overloaded_error", m
    ok("mid-whole", openai_choices=c.choices, anthropic_type=m.type)

    c = chat("truncate")
    assert c.choices[0].finish_reason == "length" and c.choices[0].message.content == "The weather in"
    m = msg("truncate")
    assert m.stop_reason == "max_tokens" and m.content[0].text == "The weather in"
    r = oa().responses.create(model="truncate", input="hi")
    assert r.status == "incomplete" and r.incomplete_details.reason == "max_output_tokens"
    assert r.output_text == "The weather in", r.output_text
    ok("truncate", chat=c.choices[0].finish_reason, anthropic=m.stop_reason, responses=r.status)

    raises(json.JSONDecodeError, lambda: chat("malformed"))
    raises(json.JSONDecodeError, lambda: msg("malformed"))
    ok("malformed", raised="JSONDecodeError")


def split_args():
    expected = {"city": 'Paris "FR"', "days": 12345}
    chunks = stream_chat("split", route="/tools-llm")
    pieces = [
        c.choices[0].delta.tool_calls[0].function.arguments
        for c in chunks
        if c.choices and c.choices[0].delta.tool_calls
    ]
    assert json.loads("".join(pieces)) == expected, pieces
    assert "" in pieces[1:], pieces
    with an("/tools-llm").messages.stream(model="split", max_tokens=100, messages=USER) as s:
        final = s.get_final_message()
    assert final.content[0].input == expected, final
    events = stream_resp("split", route="/tools-llm")
    deltas = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    done = [e.arguments for e in events if e.type == "response.function_call_arguments.done"]
    assert json.loads(deltas) == expected and done == [deltas], (deltas, done)
    ok("split", openai_pieces=len(pieces))


def main():
    rate_limits()
    anthropic_from_config()
    streams()
    whole_answers()
    split_args()


if __name__ == "__main__":
    main()
