"""Drives the Shakedown fault proxy with the official openai and anthropic Python SDKs.

Usage: sdk_faults.py PROXY_BASE_URL (e.g. http://127.0.0.1:8480/llm). The proxy sits in front
of shakedown's mock LLM; its config (tests/sdk_faults.rs) picks the fault by model name, so
every case below names the model whose rule it exercises. Each case checks what the SDK does
with the fault and prints `ok <case> <key=value…>`; any mismatch raises, so the exit status is
non-zero. The Rust side then checks the proxy's `fault_injected` events (how many calls the
SDK really made).
"""

import sys
import time

import anthropic
import openai

BASE = sys.argv[1]
USER = [{"role": "user", "content": "hello"}]


def ok(name, **facts):
    extra = " ".join(f"{k}={v}" for k, v in facts.items())
    print("ok", name, extra, flush=True)


def oa(**kw):
    kw.setdefault("max_retries", 0)
    kw.setdefault("timeout", 10)
    return openai.OpenAI(base_url=BASE + "/v1", api_key="test", **kw)


def an(**kw):
    kw.setdefault("max_retries", 0)
    kw.setdefault("timeout", 10)
    return anthropic.Anthropic(base_url=BASE, api_key="test", **kw)


def expect_raise(exc_type, fn, what):
    try:
        fn()
    except exc_type as e:
        return e
    raise AssertionError(f"{what}: expected {exc_type.__name__}, nothing raised")


# A retryable 429: the SDK retries (max_retries=2), honouring retry-after-ms each time, then
# surfaces RateLimitError. Three calls reach the proxy.
start = time.monotonic()
e = expect_raise(
    openai.RateLimitError,
    lambda: oa(max_retries=2).chat.completions.create(model="rl-gpt", messages=USER),
    "retryable 429",
)
elapsed = time.monotonic() - start
if e.status_code != 429 or e.code != "rate_limit_exceeded":
    raise AssertionError(f"retryable 429: status {e.status_code} code {e.code}")
if not e.response.headers.get("x-request-id"):
    raise AssertionError("retryable 429: no x-request-id")
ok("openai retryable 429", elapsed=f"{elapsed:.3f}")

# A quota 429 is not retried even with retries allowed.
start = time.monotonic()
e = expect_raise(
    openai.RateLimitError,
    lambda: oa(max_retries=2).chat.completions.create(model="quota-gpt", messages=USER),
    "quota 429",
)
elapsed = time.monotonic() - start
if e.code != "insufficient_quota":
    raise AssertionError(f"quota 429: code {e.code}")
ok("openai quota 429", elapsed=f"{elapsed:.3f}")

# Anthropic's 529 overloaded_error is its own exception class.
e = expect_raise(
    anthropic.OverloadedError,
    lambda: an().messages.create(model="overload-claude", max_tokens=64, messages=USER),
    "anthropic 529",
)
if e.status_code != 529:
    raise AssertionError(f"anthropic 529: status {e.status_code}")
ok("anthropic 529 overloaded")

# A cut stream ends the SDK's iterator without a completion: no finish_reason, no error.
text, finish = "", None
for chunk in oa().chat.completions.create(model="cut-gpt", messages=USER, stream=True):
    for c in chunk.choices:
        text += c.delta.content or ""
        finish = c.finish_reason or finish
if finish is not None:
    raise AssertionError(f"chat stream cut: finish_reason {finish!r}")
ok("openai chat stream cut", text_len=len(text))

kinds = []
for ev in oa().responses.create(model="cut-resp", input="hello", stream=True):
    kinds.append(ev.type)
if "response.completed" in kinds or not kinds:
    raise AssertionError(f"responses stream cut: events {kinds}")
ok("openai responses stream cut", events=len(kinds))

kinds = []
for ev in an().messages.create(model="cut-claude", max_tokens=64, messages=USER, stream=True):
    kinds.append(ev.type)
if "message_stop" in kinds or not kinds:
    raise AssertionError(f"anthropic stream cut: events {kinds}")
ok("anthropic stream cut", events=len(kinds))

# An error event mid-stream, after a 200: the SDKs raise while iterating.
def drain_openai():
    for _ in oa().chat.completions.create(model="err-gpt", messages=USER, stream=True):
        pass


expect_raise(openai.APIError, drain_openai, "openai mid-stream error")
ok("openai mid-stream error")


def drain_anthropic():
    for _ in an().messages.create(model="err-claude", max_tokens=64, messages=USER, stream=True):
        pass


expect_raise(anthropic.APIError, drain_anthropic, "anthropic mid-stream error")
ok("anthropic mid-stream error")

# A timeout fault holds the call longer than the SDK's own timeout: the SDK gives up.
start = time.monotonic()
expect_raise(
    openai.APITimeoutError,
    lambda: oa(timeout=1.0).chat.completions.create(model="slow-gpt", messages=USER),
    "timeout",
)
elapsed = time.monotonic() - start
if not 0.9 <= elapsed < 4.0:
    raise AssertionError(f"timeout: gave up after {elapsed:.3f}s")
ok("openai timeout", elapsed=f"{elapsed:.3f}")

# No rule matches this model: the answer passes through untouched.
r = oa().chat.completions.create(model="clean-gpt", messages=USER)
if not r.choices[0].message.content:
    raise AssertionError("passthrough: empty content")
ok("passthrough")
