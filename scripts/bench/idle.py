#!/usr/bin/env python3
"""Opens N keep-alive connections to HOST:PORT, makes one request on each (so a
capturer has seen every socket), then holds them idle until stdin closes.
Prints `held N` once all are open and answered."""
import selectors
import socket
import sys


def main() -> int:
    host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    request = f"GET /1k HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    sel = selectors.DefaultSelector()
    socks = []
    pending = {}
    # Open in batches so the listen backlog never overflows.
    batch = 500
    for start in range(0, n, batch):
        for _ in range(min(batch, n - start)):
            s = socket.create_connection((host, port))
            s.sendall(request)
            s.setblocking(False)
            socks.append(s)
            pending[s] = b""
            sel.register(s, selectors.EVENT_READ)
        while pending:
            for key, _ in sel.select(timeout=10):
                s = key.fileobj
                chunk = s.recv(65536)
                if not chunk:
                    print("connection closed early", file=sys.stderr)
                    return 1
                pending[s] += chunk
                buf = pending[s]
                head, sep, body = buf.partition(b"\r\n\r\n")
                if sep:
                    length = 0
                    for line in head.split(b"\r\n")[1:]:
                        name, _, value = line.partition(b":")
                        if name.strip().lower() == b"content-length":
                            length = int(value)
                    if len(body) >= length:
                        del pending[s]
                        sel.unregister(s)
    print(f"held {len(socks)}", flush=True)
    sys.stdin.read()
    for s in socks:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
