#!/usr/bin/env python3
"""Makes real loopback TCP exchanges for flowtap's capture tests.

Usage: exchange.py SCENARIO [--ipv6] [--dual-stack]
It prints "waiting", blocks until a line arrives on stdin (so the test can start
flowtap capture --pid on it first), runs the scenario with the server and the
client in child processes, and prints one JSON object describing what it did.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

HERE = os.path.abspath(__file__)


def marker(tag):
    return f"{tag}-{os.getpid()}-{os.urandom(6).hex()}"


# ---- children -----------------------------------------------------------------

class Echo(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive: echoes bodies, answers GET/PUT/DELETE with JSON."""
    protocol_version = "HTTP/1.1"

    def reply(self, status, body, content_type="application/octet-stream"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.reply(200, b"echo:" + body)

    def do_PUT(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.reply(201, json.dumps({"stored": len(body)}).encode(), "application/json")

    def do_GET(self):
        if self.path == "/missing":
            self.reply(404, b"not found", "text/plain")
        else:
            self.reply(200, json.dumps({"path": self.path}).encode(), "application/json")

    def do_DELETE(self):
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def child_http_server(family, host):
    class Server(HTTPServer):
        address_family = family
    srv = Server((host, 0), Echo)
    print(srv.server_address[1], flush=True)
    srv.handle_request()  # one connection, then exit


def child_http_client(host, port, body_file):
    import http.client
    body = open(body_file, "rb").read()
    conn = http.client.HTTPConnection(host, port)
    conn.request("POST", "/echo", body=body, headers={"Content-Type": "application/octet-stream"})
    resp = conn.getresponse()
    data = resp.read()
    local = conn.sock.getsockname()
    conn.close()
    print(json.dumps({"client_port": local[1], "status": resp.status, "reply_len": len(data)}), flush=True)


def child_raw_server(family, host):
    """Reads with readv and answers with sendmsg."""
    s = socket.socket(family, socket.SOCK_STREAM)
    s.bind((host, 0))
    s.listen(1)
    print(s.getsockname()[1], flush=True)
    conn, _ = s.accept()
    head = bytearray(16)
    rest = bytearray(1 << 16)
    got = b""
    while b"\r\n\r\n" not in got:
        n = os.readv(conn.fileno(), [head, rest])
        if n == 0:
            break
        got += (bytes(head) + bytes(rest))[:n]
    body = b"raw-reply:" + got.split(b"\r\n\r\n", 1)[1]
    reply_head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
    conn.sendmsg([reply_head, body])
    conn.close()


def child_raw_client(host, port, body_file):
    """Sends with writev and reads with recvmsg."""
    body = open(body_file, "rb").read()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    c = socket.socket(family, socket.SOCK_STREAM)
    c.connect((host, port))
    req_head = b"POST /raw HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
    os.writev(c.fileno(), [req_head, body])
    got = b""
    while True:
        data, _, _, _ = c.recvmsg(1 << 16)
        if not data:
            break
        got += data
    local = c.getsockname()
    c.close()
    print(json.dumps({"client_port": local[1], "reply_len": len(got)}), flush=True)


def child_big_server(host):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((host, 0))
    s.listen(1)
    print(s.getsockname()[1], flush=True)
    conn, _ = s.accept()
    total = 0
    while True:
        data = conn.recv(1 << 20)
        if not data:
            break
        total += len(data)
    conn.sendall(b"got %d" % total)
    conn.close()


def child_big_client(host, port, body_file):
    body = open(body_file, "rb").read()
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.connect((host, port))
    n = os.write(c.fileno(), body)  # one blocking write of the whole body
    c.shutdown(socket.SHUT_WR)
    reply = c.recv(100)
    c.close()
    print(json.dumps({"written": n, "reply": reply.decode()}), flush=True)


def child_noise(host, port, tag):
    """File, pipe, UNIX-socket and UDP I/O with a marker, then one TCP message."""
    with tempfile.TemporaryFile() as f:
        f.write(tag.encode()); f.seek(0); f.read()
    r, w = os.pipe()
    os.write(w, tag.encode()); os.read(r, 100)
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    a.sendall(tag.encode()); b.recv(100)
    u1 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u1.bind(("127.0.0.1", 0))
    u2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u2.sendto(tag.encode(), u1.getsockname()); u1.recvfrom(100)
    u2.connect(u1.getsockname()); u2.send(tag.encode()); u1.recv(100)
    c = socket.create_connection((host, port))
    c.sendall(b"TCP-HELLO")
    c.recv(100)
    c.close()


def child_noise_server(host):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((host, 0)); s.listen(1)
    print(s.getsockname()[1], flush=True)
    conn, _ = s.accept()
    conn.recv(100); conn.sendall(b"TCP-BYE"); conn.close()


NODE_SERVER = r"""
const http = require('http');
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', c => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({method: req.method, url: req.url, got: body.length}));
    if (++served === 2) server.close();
  });
});
let served = 0;
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
"""


def child_keepalive_client(host, port):
    """Several requests on one HTTP/1.1 connection."""
    import http.client
    conn = http.client.HTTPConnection(host, port)
    statuses = []
    for method, path, body in [("GET", "/items", None), ("POST", "/items", b'{"name":"a"}'),
                               ("PUT", "/items/1", b'{"name":"b"}'), ("GET", "/missing", None),
                               ("DELETE", "/items/1", None)]:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
        resp = conn.getresponse()
        resp.read()
        statuses.append(resp.status)
    conn.close()
    print(json.dumps({"statuses": statuses}), flush=True)


def child_preopen_client(host, port):
    """Connects and makes a request before capture starts, another one after."""
    import http.client
    conn = http.client.HTTPConnection(host, port)
    conn.request("GET", "/before")
    conn.getresponse().read()
    print("connected", flush=True)
    sys.stdin.readline()
    conn.request("GET", "/after")
    resp = conn.getresponse()
    resp.read()
    conn.close()
    print(json.dumps({"status": resp.status}), flush=True)


# ---- orchestration --------------------------------------------------------------

def spawn(*args):
    return subprocess.Popen([sys.executable, HERE, "child", *args], stdout=subprocess.PIPE, text=True)


def start_server(*args):
    p = spawn(*args)
    port = int(p.stdout.readline())
    return p, port


def finish(p):
    out, _ = p.communicate(timeout=60)
    if p.returncode != 0:
        raise SystemExit(f"child {p.args} failed with {p.returncode}")
    return out


def main():
    argv = sys.argv[1:]
    if argv[0] == "child":
        name, rest = argv[1], argv[2:]
        if name in ("http_server", "raw_server"):
            family = socket.AF_INET6 if ":" in rest[0] else socket.AF_INET
            globals()["child_" + name](family, rest[0])
        elif name == "noise_server" or name == "big_server":
            globals()["child_" + name](rest[0])
        elif name in ("big_client", "http_client", "raw_client"):
            globals()["child_" + name](rest[0], int(rest[1]), rest[2])
        elif name == "noise":
            child_noise(rest[0], int(rest[1]), rest[2])
        elif name == "keepalive_client":
            child_keepalive_client(rest[0], int(rest[1]))
        elif name == "preopen_client":
            child_preopen_client(rest[0], int(rest[1]))
        return

    scenario = argv[0]
    ipv6 = "--ipv6" in argv
    dual = "--dual-stack" in argv
    server_host = "::" if dual else ("::1" if ipv6 else "127.0.0.1")
    client_host = "127.0.0.1" if dual else server_host
    preopened = None
    if scenario == "preopen":  # its connection must exist before capture starts
        server, port = start_server("http_server", "127.0.0.1")
        preopened = subprocess.Popen([sys.executable, HERE, "child", "preopen_client", "127.0.0.1", str(port)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert preopened.stdout.readline().strip() == "connected"
    print("waiting", flush=True)
    sys.stdin.readline()

    result = {"scenario": scenario, "harness_pid": os.getpid()}
    body = (marker("body") + "|").encode() * 100  # a few KiB, unique per run
    with tempfile.NamedTemporaryFile(delete=False) as f:
        if scenario == "big":
            body = bytes((i * 7 + 3) % 251 for i in range(1 << 20))
        f.write(body)
        body_file = f.name
    result["body_file"] = body_file

    if scenario in ("python", "curl", "raw"):
        kind = "raw" if scenario == "raw" else "http"
        server, port = start_server(f"{kind}_server", server_host)
        if scenario == "curl":
            host = f"[{client_host}]" if ":" in client_host else client_host
            out = subprocess.run(
                ["curl", "-sS", "--data-binary", f"@{body_file}", "-H", "Content-Type: application/octet-stream",
                 "-o", "/dev/null", "-w", "%{http_code} %{local_port}", f"http://{host}:{port}/echo"],
                check=True, capture_output=True, text=True).stdout.split()
            client = {"status": int(out[0]), "client_port": int(out[1])}
        else:
            client = json.loads(finish(spawn(f"{kind}_client", client_host, str(port), body_file)))
        finish(server)
        result.update(client)
        result["server_port"] = port
    elif scenario == "big":
        server, port = start_server("big_server", "127.0.0.1")
        result.update(json.loads(finish(spawn("big_client", "127.0.0.1", str(port), body_file))))
        finish(server)
        result["server_port"] = port
    elif scenario == "noise":
        tag = marker("noise")
        server, port = start_server("noise_server", "127.0.0.1")
        finish(spawn("noise", "127.0.0.1", str(port), tag))
        finish(server)
        result["tag"] = tag
        result["server_port"] = port
    elif scenario == "node":
        node = subprocess.Popen(["node", "-e", NODE_SERVER], stdout=subprocess.PIPE, text=True)
        port = int(node.stdout.readline())
        base = f"http://127.0.0.1:{port}"
        out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}\\n", f"{base}/hello",
                              "--next", "-o", "/dev/null", "-w", "%{http_code}\\n", "--data-binary", '{"n":1}', "-H", "Content-Type: application/json",
                              f"{base}/echo"], check=True, capture_output=True, text=True).stdout.split()
        finish(node)
        result["statuses"] = [int(s) for s in out]
        result["server_port"] = port
    elif scenario == "keepalive":
        server, port = start_server("http_server", "127.0.0.1")
        result.update(json.loads(finish(spawn("keepalive_client", "127.0.0.1", str(port)))))
        finish(server)
        result["server_port"] = port
    elif scenario == "preopen":
        preopened.stdin.write("go\n")
        preopened.stdin.flush()
        result.update(json.loads(finish(preopened)))
        finish(server)
        result["server_port"] = port
    else:
        raise SystemExit(f"unknown scenario {scenario}")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
