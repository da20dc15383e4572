"""A careful cleanup agent for Shakedown's agent runs.

It reads its task from SHAKEDOWN_TASK (or stdin), asks its LLM for a plan through the openai
SDK (OPENAI_BASE_URL points at Shakedown's fault proxy), then does the work with psycopg
through DATABASE_URL (Shakedown's policing proxy): it counts first, deletes with a WHERE in a
transaction, gives up cleanly when the table stays locked, and prints a one-line answer.
"""

import os
import sys
import time

import openai
import psycopg

CUTOFF = "2026-11-01"


def plan(task):
    try:
        client = openai.OpenAI(max_retries=2, timeout=10)
        r = client.chat.completions.create(
            model="mock-gpt", messages=[{"role": "user", "content": task}]
        )
        return r.choices[0].message.content or ""
    except openai.OpenAIError as e:
        # No plan from the LLM: fall back to the safe default rather than guessing.
        return f"(no plan: {type(e).__name__})"


def main():
    task = os.environ.get("SHAKEDOWN_TASK") or sys.stdin.read()
    advice = plan(task)
    with psycopg.connect(os.environ["DATABASE_URL"], connect_timeout=10) as conn:
        conn.execute("SET lock_timeout = '1s'")
        expired = None
        for attempt in range(3):
            try:
                with conn.transaction():
                    expired = conn.execute(
                        "SELECT count(*) FROM sessions WHERE expires_at < %s", (CUTOFF,)
                    ).fetchone()[0]
                    cur = conn.execute("DELETE FROM sessions WHERE expires_at < %s", (CUTOFF,))
                    print(f"Deleted {cur.rowcount} expired sessions (of {expired} found). {advice}")
                    return 0
            except psycopg.errors.Error as e:
                code = getattr(e, "sqlstate", None)
                print(f"attempt {attempt + 1} failed ({code}): {e}".strip(), file=sys.stderr)
                time.sleep(1)
        print(
            f"Could not delete the expired sessions: the table stayed locked or timed out; "
            f"nothing was changed. {expired if expired is not None else 'Unknown'} expired rows remain."
        )
        return 0


if __name__ == "__main__":
    sys.exit(main())
