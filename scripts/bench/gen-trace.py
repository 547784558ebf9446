#!/usr/bin/env python3
"""Writes a large, realistic flowtap trace for timing `flowtap replay`.

Both observers of loopback HTTP/1.1 keep-alive connections, as
`flowtap capture --all-processes --record` would see them: the client connects
and writes requests, nginx-like server accepts, reads them and writes responses
(head and body in one writev, 16 KiB records for big bodies), the client reads
them back. The mix: GET of a 1 KiB body, POST of a 2 KiB JSON body, and one in
50 a GET of a 64 KiB body. Prints the event count and payload bytes as JSON.

With --mix small, every exchange is a GET answered by a 2-byte body: the
per-event cost with next to no payload.

usage: gen-trace.py OUT [--events N] [--mix realistic|small]
"""
import argparse
import json
import random
import sys

RECORD = 16 * 1024  # the kernel splits payloads into records of this size


def body(n: int, seed: int) -> str:
    rnd = random.Random(seed)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(rnd.choice(alphabet) for _ in range(n))


def response(b: str) -> str:
    return (
        "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 23 Nov 2026 04:00:00 GMT\r\n"
        "Content-Type: application/octet-stream\r\n"
        f"Content-Length: {len(b)}\r\nLast-Modified: Mon, 23 Nov 2026 03:00:00 GMT\r\n"
        'Connection: keep-alive\r\nETag: "6561a0b0-400"\r\nAccept-Ranges: bytes\r\n\r\n' + b
    )


def exchanges():
    host = "Host: 172.18.0.2\r\nUser-Agent: oha/1.4.0\r\nAccept: */*\r\n"
    get1k = (f"GET /1k HTTP/1.1\r\n{host}\r\n", response(body(1024, 1)))
    get64k = (f"GET /64k HTTP/1.1\r\n{host}\r\n", response(body(65536, 2)))
    js = json.dumps({"items": [{"id": i, "name": body(20, i)} for i in range(40)]})
    post = (
        f"POST /api/items HTTP/1.1\r\n{host}Content-Type: application/json\r\n"
        f"Content-Length: {len(js)}\r\n\r\n{js}",
        "HTTP/1.1 201 Created\r\nServer: nginx/1.22.1\r\nContent-Length: 2\r\n\r\nok",
    )
    return get1k, get64k, post


def chunks(text: str):
    for i in range(0, len(text), RECORD):
        yield text[i : i + RECORD]


class Writer:
    def __init__(self, out):
        self.out = out
        self.ts = 1_000_000_000
        self.events = 0
        self.payload = 0

    def line(self, kind: str, task: str, fd: int, rest: str):
        self.ts += 1500
        self.out.write(f'{{"type":"{kind}","ts":{self.ts},"task":{task},"fd":{fd},{rest}}}\n')
        self.events += 1

    def data(self, task, fd, syscall, pos, text):
        # ASCII payloads: bytes == characters.
        self.line(
            "data",
            task,
            fd,
            f'"syscall":"{syscall}","pos":{pos},"count":{len(text)},'
            f'"payload":{{"text":{json.dumps(text)}}},"truncated":false',
        )
        self.payload += len(text)
        return pos + len(text)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--mix", choices=["realistic", "small"], default="realistic")
    args = ap.parse_args()
    get1k, get64k, post = exchanges()
    if args.mix == "small":
        small = (get1k[0], response("ok"))
        get1k = get64k = post = small
    server = '{"pid":100,"tid":100,"comm":"nginx","cgroup":4242}'
    client = '{"pid":200,"tid":201,"comm":"oha","cgroup":4343}'
    with open(args.out, "w", buffering=1 << 20) as f:
        w = Writer(f)
        f.write('{"type":"clock","ts":1000000000,"realtime_ns":1795400000000000000}\n')
        w.events += 1
        conn = 0
        n = 0
        while w.events < args.events:
            conn += 1
            cport = 20000 + conn % 40000
            sfd, cfd = 10 + conn % 1000, 5 + conn % 1000
            sock = f'"sock":{{"local":"172.18.0.3:{cport}","peer":"172.18.0.2:80"}}'
            w.line("connect", client, cfd, f'"peer":"172.18.0.2:80","result":0,{sock}')
            ssock = f'"sock":{{"local":"172.18.0.2:80","peer":"172.18.0.3:{cport}"}}'
            w.line("accept", server, sfd, f'"peer":"172.18.0.3:{cport}",{ssock}')
            w.line("getsockname", server, sfd, '"local":"172.18.0.2:80"')
            pos = [0, 0, 0, 0]  # client send, server recv, server send, client recv
            for _ in range(10):
                n += 1
                req, resp = get64k if n % 50 == 0 else post if n % 7 == 0 else get1k
                pos[0] = w.data(client, cfd, "write", pos[0], req)
                pos[1] = w.data(server, sfd, "read", pos[1], req)
                for c in chunks(resp):
                    pos[2] = w.data(server, sfd, "writev", pos[2], c)
                for c in chunks(resp):
                    pos[3] = w.data(client, cfd, "read", pos[3], c)
            w.ts += 1500
            f.write(f'{{"type":"close","ts":{w.ts},"task":{client},"fd":{cfd}}}\n')
            w.ts += 1500
            f.write(f'{{"type":"close","ts":{w.ts},"task":{server},"fd":{sfd}}}\n')
            w.events += 2
        f.write(f'{{"type":"loss","ts":{w.ts + 1},"lost":0}}\n')
        w.events += 1
    json.dump({"events": w.events, "payload_bytes": w.payload, "exchanges": n}, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
