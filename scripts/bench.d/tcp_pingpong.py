#!/usr/bin/env python3
"""Ping-pong round trips for `scripts/bench tcp` (standard library only, loopback only).

    tcp_pingpong.py serve PORT
        An echo server on 127.0.0.1:PORT (one thread per connection, TCP_NODELAY).
    tcp_pingpong.py client PORT COUNT SIZE WARMUP
        One connection; WARMUP unmeasured round trips, then COUNT measured ones of SIZE bytes
        each (write SIZE bytes, read SIZE bytes back). Prints "p50_us p99_us mean_us count".

The same client and server measure the direct path and the proxied one, so their own cost
cancels out in the difference: proxied minus direct is what the proxy adds per round trip.
"""

import socket
import sys
import threading
import time

# Every blocking call is bounded: a stuck peer ends the run instead of hanging it.
IO_TIMEOUT_S = 10.0


def recv_exact(sock, size):
    parts, got = [], 0
    while got < size:
        chunk = sock.recv(size - got)
        if not chunk:
            raise ConnectionError("peer closed during a round trip")
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def serve(port):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(64)

    def echo(conn):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                conn.sendall(data)

    while True:
        conn, _ = listener.accept()
        threading.Thread(target=echo, args=(conn,), daemon=True).start()


def client(port, count, size, warmup):
    sock = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    msg = b"p" * size
    samples = []
    clock = time.perf_counter_ns
    with sock:
        for i in range(warmup + count):
            t0 = clock()
            sock.sendall(msg)
            back = recv_exact(sock, size)
            t1 = clock()
            if back != msg:
                raise ValueError("echo mismatch")
            if i >= warmup:
                samples.append(t1 - t0)
    samples.sort()
    n = len(samples)

    def pct(p):
        return samples[min(n - 1, int(p * n))] / 1000.0

    print(f"{pct(0.50):.1f} {pct(0.99):.1f} {sum(samples) / n / 1000.0:.1f} {n}")


def main(argv):
    if len(argv) == 3 and argv[1] == "serve":
        serve(int(argv[2]))
    elif len(argv) == 6 and argv[1] == "client":
        port, count, size, warmup = (int(a) for a in argv[2:])
        if not (1 <= count <= 10_000_000 and 1 <= size <= 1 << 20 and 0 <= warmup):
            raise SystemExit("COUNT must be 1..10^7, SIZE 1..1 MiB, WARMUP >= 0")
        client(port, count, size, warmup)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
