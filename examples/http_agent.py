"""The careful cleanup agent as an HTTP service, for `shakedown run --agent-url`.

Usage: http_agent.py PORT. Shakedown POSTs JSON {task, scenario, run_id, database_url,
openai_base_url, anthropic_base_url} per cell; the agent works through database_url (the
policing proxy) and answers JSON {"output": "..."}. Serves on 127.0.0.1 only.
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

import psycopg

CUTOFF = "2026-11-01"


class Agent(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        try:
            with psycopg.connect(body["database_url"], connect_timeout=10) as conn:
                conn.execute("SET lock_timeout = '1s'")
                cur = conn.execute("DELETE FROM sessions WHERE expires_at < %s", (CUTOFF,))
                output = f"Deleted {cur.rowcount} expired sessions."
        except psycopg.Error as e:
            output = f"Nothing deleted: {e}".strip()
        data = json.dumps({"output": output}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    HTTPServer(("127.0.0.1", int(sys.argv[1])), Agent).serve_forever()
