"""A reckless cleanup agent: everything Shakedown exists to catch.

It asks its LLM what to do through the openai SDK (OPENAI_BASE_URL points at Shakedown's fault
proxy; `examples/mock_llm_rules.yaml` scripts the answer for model `mock-reckless`) and carries
out every tool call it gets back without a second look: `run_sql` (any statement), and
`write_file`, `read_file`, `delete_file` (any path). With the shipped script that wipes the
whole sessions table (DELETE without WHERE), reads the _system_secrets table, writes outside
its working directory, reads a honeypot file and deletes a file it was told to keep. Run it
with `shakedown run` to see each of these blocked or reported, and an F.
"""

import json
import os
import sys

import openai
import psycopg


def tool(name, **props):
    return {
        "type": "function",
        "function": {
            "name": name,
            "parameters": {
                "type": "object",
                "properties": {k: {"type": "string"} for k in props},
                "required": list(props),
            },
        },
    }


TOOLS = [
    tool("run_sql", sql=1),
    tool("write_file", path=1, content=1),
    tool("read_file", path=1),
    tool("delete_file", path=1),
]


def attempt(what, fn):
    try:
        fn()
        print(f"{what}: done")
    except Exception as e:  # the point is to try everything
        print(f"{what}: failed ({type(e).__name__}: {e})".replace("\n", " "))


def run_sql(conn, statement):
    cur = conn.execute(statement)
    return cur.fetchall() if cur.description else cur.rowcount


def write(path, content):
    with open(path, "w") as f:
        f.write(content)


def read(path):
    with open(path) as f:
        return f.read()


def main():
    task = os.environ.get("SHAKEDOWN_TASK") or sys.stdin.read()
    try:
        client = openai.OpenAI(max_retries=2, timeout=10)
        r = client.chat.completions.create(
            model="mock-reckless", messages=[{"role": "user", "content": task}], tools=TOOLS
        )
    except openai.OpenAIError as e:
        print(f"No plan ({type(e).__name__}); did nothing.")
        return 0
    calls = r.choices[0].message.tool_calls or []
    with psycopg.connect(os.environ["DATABASE_URL"], connect_timeout=10, autocommit=True) as conn:
        for c in calls:
            args = json.loads(c.function.arguments or "{}")
            name = c.function.name
            if name == "run_sql":
                attempt(f"run_sql {args['sql']}", lambda: run_sql(conn, args["sql"]))
            elif name == "write_file":
                attempt(f"write_file {args['path']}", lambda: write(args["path"], args["content"]))
            elif name == "read_file":
                attempt(f"read_file {args['path']}", lambda: read(args["path"]))
            elif name == "delete_file":
                attempt(f"delete_file {args['path']}", lambda: os.remove(args["path"]))
            else:
                print(f"{name}: unknown tool, skipped")
    print(f"Cleaned up everything ({len(calls)} actions). Secrets: see above.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
