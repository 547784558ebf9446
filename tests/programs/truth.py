#!/usr/bin/env python3
"""Real programs for the capture-truth tests (tests/it/truth.rs).

Usage: truth.py SCENARIO
Like exchange.py: prints "waiting", blocks until a line arrives on stdin (so the
test can attach flowtap capture --pid first), runs the scenario, and prints one
JSON object describing what it did. Scenarios:
  download  curl GETs a 200 KiB body from http.server (curl reads 100 KiB a call)
  upload    http.client POSTs 2 MiB; the server reads it with one rfile.read()
"""
import json
import os
import subprocess
import sys
import tempfile
from http.server import BaseHTTPRequestHandler, HTTPServer


def body_of(size):
    """Printable, unique per run, so a flow's body.text can be compared."""
    seed = os.urandom(8).hex()
    line = (seed + "0123456789abcdefghijklmnopqrstuvwxyz\n").encode()
    return (line * (size // len(line) + 1))[:size]


def serve_one(handler, ready):
    srv = HTTPServer(("127.0.0.1", 0), handler)
    pid = os.fork()
    if pid == 0:
        srv.handle_request()
        os._exit(0)
    srv.server_close()
    ready(srv.server_address[1])
    return pid


def main():
    scenario = sys.argv[1]
    print("waiting", flush=True)
    sys.stdin.readline()
    result = {"scenario": scenario}
    with tempfile.NamedTemporaryFile(delete=False) as f:
        body = body_of(200 * 1024 if scenario == "download" else 2 * 1024 * 1024)
        f.write(body)
        result["body_file"] = f.name

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            got = self.rfile.read(int(self.headers["Content-Length"]))
            reply = b"got %d" % len(got)
            self.send_response(200)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args):
            pass

    port = {}
    server = serve_one(Handler, lambda p: port.setdefault("p", p))
    url = f"http://127.0.0.1:{port['p']}/file"
    if scenario == "download":
        out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", url],
                             check=True, capture_output=True, text=True).stdout
        result["status"] = int(out)
    elif scenario == "upload":
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", port["p"])
        conn.request("POST", "/upload", body=body)
        resp = conn.getresponse()
        result["status"] = resp.status
        result["reply"] = resp.read().decode()
        conn.close()
    else:
        raise SystemExit(f"unknown scenario {scenario}")
    _, status = os.waitpid(server, 0)
    assert status == 0, status
    result["server_port"] = port["p"]
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
