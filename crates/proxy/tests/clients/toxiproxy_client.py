"""Drives the shakedown TCP fault proxy's admin API with the toxiproxy-python library
(installed from PyPI, unchanged): creates a proxy to an echo server, measures a round trip,
adds a latency toxic, measures again, and prints the results as one JSON line.

Usage: toxiproxy_client.py API_PORT ECHO_PORT LATENCY_MS
"""

import json
import socket
import sys
import time

from toxiproxy import Toxiproxy
from toxiproxy.exceptions import ProxyExists


def round_trip_ms(addr, payload=b"ping"):
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        start = time.monotonic()
        s.sendall(payload)
        got = b""
        while len(got) < len(payload):
            chunk = s.recv(len(payload) - len(got))
            if not chunk:
                raise RuntimeError("connection closed early")
            got += chunk
        assert got == payload, got
        return (time.monotonic() - start) * 1000.0


def main():
    api_port, echo_port, latency = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    server = Toxiproxy()
    server.update_api_consumer("127.0.0.1", api_port)
    assert server.running(), "the admin API is not reachable"
    proxy = server.create(upstream="127.0.0.1:%d" % echo_port, name="py_echo", listen="127.0.0.1:0")
    duplicate_refused = False
    try:
        server.create(upstream="127.0.0.1:%d" % echo_port, name="py_echo")
    except ProxyExists:
        duplicate_refused = True
    before = round_trip_ms(proxy.listen)
    proxy.add_toxic(type="latency", attributes={"latency": latency})
    toxics = sorted(proxy.toxics().keys())
    after = round_trip_ms(proxy.listen)
    proxy.destroy_toxic("latency_downstream")
    removed = round_trip_ms(proxy.listen)
    with proxy.down():
        down_refused = False
        try:
            round_trip_ms(proxy.listen)
        except OSError:
            down_refused = True
    listed = sorted(server.proxies().keys())
    proxy.destroy()
    print(json.dumps({
        "version": server.version().decode(),
        "before_ms": before,
        "after_ms": after,
        "removed_ms": removed,
        "toxics": toxics,
        "duplicate_refused": duplicate_refused,
        "down_refused": down_refused,
        "listed": listed,
        "left": sorted(server.proxies().keys()),
    }))


if __name__ == "__main__":
    main()
