"""psycopg 3 through the Shakedown proxy: parameterised queries, server-side prepared
statements, COPY in and out, and a statement the policy blocks. Prints one JSON line of
observations; exits non-zero on any unexpected behaviour."""

import io
import json
import os
import sys

import psycopg

dsn = os.environ["SHAKEDOWN_TEST_DSN"]
out = {}
with psycopg.connect(dsn, autocommit=True) as conn:
    out["server_version"] = conn.info.server_version
    with conn.cursor() as cur:
        # Parameterised query (extended protocol, unnamed statement).
        cur.execute("SELECT name FROM customers WHERE id = %s", (7,))
        out["param"] = cur.fetchone()[0]
        # Server-side prepared statement, executed repeatedly.
        for i in range(1, 6):
            cur.execute("SELECT count(*) FROM customers WHERE id <= %s", (i,), prepare=True)
            assert cur.fetchone()[0] == i
        out["prepared"] = True
        # COPY out.
        buf = io.StringIO()
        with cur.copy("COPY (SELECT id, name FROM customers ORDER BY id) TO STDOUT") as copy:
            for data in copy:
                buf.write(bytes(data).decode())
        out["copy_out_lines"] = len(buf.getvalue().splitlines())
        # COPY in.
        with cur.copy("COPY customers (id, name, email) FROM STDIN") as copy:
            for i in range(1000, 1010):
                copy.write_row((i, f"copied{i}", f"c{i}@example.com"))
        cur.execute("SELECT count(*) FROM customers WHERE id >= 1000")
        out["copy_in_rows"] = cur.fetchone()[0]
        # Blocked by the policy: a DELETE without WHERE, with parameters elsewhere.
        try:
            cur.execute("DELETE FROM customers")
            out["blocked"] = False
        except psycopg.errors.InsufficientPrivilege as e:
            out["blocked"] = True
            out["blocked_message"] = str(e)
        # The connection is still usable.
        cur.execute("SELECT %s::int + 1", (41,))
        out["after_block"] = cur.fetchone()[0]
print(json.dumps(out))
