"""Tries to add a latency toxic with the toxiproxy-python library (from PyPI, unchanged) and
prints the outcome as one JSON line: {"added": true} or {"error": CLASS, "message": TEXT}.
The halt test runs it while the proxy is halted (it must raise, naming the halt) and after
the resume (it must succeed).

Usage: toxiproxy_halted.py API_PORT PROXY_NAME TOXIC_NAME
"""

import json
import sys

from toxiproxy import Toxiproxy


def main():
    api_port, proxy_name, toxic_name = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    server = Toxiproxy()
    server.update_api_consumer("127.0.0.1", api_port)
    proxy = server.get_proxy(proxy_name)
    try:
        proxy.add_toxic(type="latency", name=toxic_name, attributes={"latency": 1000})
    except Exception as e:  # the library's own exception classes
        message = e.args[0].decode() if e.args and isinstance(e.args[0], bytes) else str(e)
        print(json.dumps({"error": type(e).__name__, "message": message}))
        return
    print(json.dumps({"added": True, "toxics": sorted(proxy.toxics().keys())}))


if __name__ == "__main__":
    main()
