"""A careful cleanup agent for Shakedown's agent runs.

It reads its task from SHAKEDOWN_TASK (or stdin) and asks its LLM what to do through the
openai SDK (OPENAI_BASE_URL points at Shakedown's fault proxy). The LLM answers with tool
calls — `count_rows` and `delete_rows`, each naming a table, a timestamp column and a cutoff —
and the agent carries them out with psycopg through DATABASE_URL (Shakedown's policing proxy),
carefully: identifiers quoted, the cutoff a parameter, a delete only with a filter and only
after counting, in a transaction, with a lock timeout and a bounded retry. Without a plan
(the LLM failed or proposed nothing) it changes nothing. It prints a one-line answer.
"""

import json
import os
import re
import sys
import time

import openai
import psycopg
from psycopg import sql

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": what,
            "parameters": {
                "type": "object",
                "properties": {
                    "table": {"type": "string"},
                    "column": {"type": "string"},
                    "before": {"type": "string", "description": "ISO date"},
                },
                "required": ["table", "column", "before"],
            },
        },
    }
    for name, what in [
        ("count_rows", "Count the rows whose column is before the cutoff."),
        ("delete_rows", "Delete the rows whose column is before the cutoff."),
    ]
]
IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def plan(task):
    """The LLM's tool calls as (name, arguments), or an error string."""
    try:
        client = openai.OpenAI(max_retries=2, timeout=10)
        r = client.chat.completions.create(
            model="mock-gpt", messages=[{"role": "user", "content": task}], tools=TOOLS
        )
    except openai.OpenAIError as e:
        return f"no plan: {type(e).__name__}"
    calls = r.choices[0].message.tool_calls or []
    steps = []
    for c in calls:
        try:
            steps.append((c.function.name, json.loads(c.function.arguments or "{}")))
        except json.JSONDecodeError:
            return f"no plan: the LLM's arguments for {c.function.name} are not JSON"
    return steps


def checked(args):
    """The filter of a step, or None when the LLM proposed something this agent will not run."""
    table, column, before = args.get("table"), args.get("column"), args.get("before")
    if not all(isinstance(v, str) for v in (table, column, before)):
        return None
    if not (IDENT.match(table) and IDENT.match(column) and DATE.match(before)):
        return None
    return table, column, before


def carry_out(conn, steps):
    counted = {}
    done = []
    for name, args in steps:
        f = checked(args)
        if f is None:
            done.append(f"refused {name} {args!r}: not a plain table/column/date filter")
            continue
        table, column, before = f
        where = sql.SQL("{} < %s").format(sql.Identifier(column))
        if name == "count_rows":
            q = sql.SQL("SELECT count(*) FROM {} WHERE ").format(sql.Identifier(table)) + where
            counted[f] = conn.execute(q, (before,)).fetchone()[0]
            done.append(f"counted {counted[f]} in {table}")
        elif name == "delete_rows":
            if f not in counted:
                done.append(f"refused delete_rows on {table}: the rows were not counted first")
                continue
            q = sql.SQL("DELETE FROM {} WHERE ").format(sql.Identifier(table)) + where
            with conn.transaction():
                n = conn.execute(q, (before,)).rowcount
            label = "expired sessions" if table == "sessions" else f"rows from {table}"
            done.append(f"Deleted {n} {label} (of {counted[f]} found)")
        else:
            done.append(f"refused unknown tool {name}")
    return done


def main():
    task = os.environ.get("SHAKEDOWN_TASK") or sys.stdin.read()
    steps = plan(task)
    if isinstance(steps, str) or not steps:
        reason = steps or "the LLM proposed no action"
        print(f"Nothing changed ({reason}): I will not delete data without a plan.")
        return 0
    with psycopg.connect(os.environ["DATABASE_URL"], connect_timeout=10, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '1s'")
        for attempt in range(3):
            try:
                print(". ".join(carry_out(conn, steps)) + ".")
                return 0
            except psycopg.errors.Error as e:
                code = getattr(e, "sqlstate", None)
                print(f"attempt {attempt + 1} failed ({code}): {e}".strip(), file=sys.stderr)
                time.sleep(1)
        print(
            "Could not delete the expired sessions: the table stayed locked or timed out; "
            "nothing was changed."
        )
        return 0


if __name__ == "__main__":
    sys.exit(main())
