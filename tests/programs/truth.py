#!/usr/bin/env python3
"""Real programs for the capture-truth tests (tests/it/truth.rs).

Usage: truth.py SCENARIO
Like exchange.py: prints "waiting", blocks until a line arrives on stdin (so the
test can attach flowtap capture --pid first), runs the scenario, and prints one
JSON object describing what it did. Scenarios:
  download  curl GETs a 200 KiB body from http.server (curl reads 100 KiB a call)
  upload    http.client POSTs 2 MiB; the server reads it with one rfile.read()
  nginx     stock nginx (`sendfile on;`) serves a 1 KiB and a 200 KiB file to curl,
            each on a new connection, then several on one keep-alive connection
  gofiles   the same against Go's http.FileServer ($FT_GO, firstuse.go)
  filegone  a server sends files with os.sendfile: one unchanged; one deleted, one
            replaced by a new file of that name, one renamed over, each between
            its open and the send; and one rewritten in place right after the send
  bursts    curl GETs a 1,000,000-byte body twice on one keep-alive connection,
            prints a line and waits for another, then GETs it 12 times on another
            connection (the test stops flowtap during each burst)
  midstream two keep-alive clients POST (head and body written apart) then GET,
            over and over, from before capture starts until after
  mmsg      `$FT_GO mmsg` makes a request with sendmmsg and reads it with recvmmsg
  writev    a client sends a request head in three iovecs (sendmsg), the server
            answers with writev: the head, a 20,000-byte body, and the next head
            and body (two responses pipelined in one call)
  uring     `$FT_GO uring` sets up an io_uring instance
  dup2      a client's socket fd is replaced by a file with dup2, then read and written
  exec      a client execs `$FT_GO cat` (firstuse.go: a static program) with its
            (close-on-exec) socket open: it reads files at the socket's old number
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer


def body_of(size):
    """Printable, unique per run, so a flow's body.text can be compared."""
    seed = os.urandom(8).hex()
    line = (seed + "0123456789abcdefghijklmnopqrstuvwxyz\n").encode()
    return (line * (size // len(line) + 1))[:size]


def body_handler(body):
    """HTTP/1.1 keep-alive: GET answers `body`, POST answers "got N" for N bytes read."""

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

    return Handler


def serve_one(handler, ready):
    srv = HTTPServer(("127.0.0.1", 0), handler)
    pid = os.fork()
    if pid == 0:
        srv.handle_request()
        os._exit(0)
    srv.server_close()
    ready(srv.server_address[1])
    return pid


def marker_file():
    tag = f"FOREIGN-{os.getpid()}-{os.urandom(6).hex()}"
    with tempfile.NamedTemporaryFile(delete=False) as f:
        f.write((tag + "\n").encode() * 20)
    return tag, f.name


def reply_server(conns=1):
    """A thread answering each request head with a small response until EOF."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)

    def one(c):
        # A head may arrive in pieces (sendmmsg sends it as two messages), so
        # look for its end in what has come so far, not in each read alone.
        pending = b""
        while True:
            data = c.recv(65536)
            if not data:
                break
            pending += data
            while b"\r\n\r\n" in pending:
                _, pending = pending.split(b"\r\n\r\n", 1)
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        c.close()

    def run():
        workers = []
        for _ in range(conns):
            c, _ = srv.accept()
            t = threading.Thread(target=one, args=(c,))
            t.start()
            workers.append(t)
        for t in workers:
            t.join()
    t = threading.Thread(target=run)
    t.start()
    return srv.getsockname()[1], t


def request(s, target):
    s.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    got = b""
    while not got.endswith(b"ok"):
        got += s.recv(4096)


def main():
    scenario = sys.argv[1]
    if scenario in ("dup2", "exec"):
        fd_scenario(scenario)
        return
    if scenario == "midstream":
        midstream()
        return
    if scenario == "mmsg":
        print("waiting", flush=True)
        sys.stdin.readline()
        port, server = reply_server()
        subprocess.run([os.environ["FT_GO"], "mmsg", f"127.0.0.1:{port}"], check=True)
        server.join()
        print(json.dumps({"scenario": scenario, "server_port": port}), flush=True)
        return
    if scenario == "writev":
        writev_scenario()
        return
    if scenario == "uring":
        print("waiting", flush=True)
        sys.stdin.readline()
        subprocess.run([os.environ["FT_GO"], "uring"], check=True)
        print(json.dumps({"scenario": scenario}), flush=True)
        return
    if scenario in ("nginx", "gofiles"):
        files_scenario(scenario)
        return
    if scenario == "filegone":
        filegone()
        return
    if scenario == "bursts":
        bursts()
        return
    print("waiting", flush=True)
    sys.stdin.readline()
    result = {"scenario": scenario}
    with tempfile.NamedTemporaryFile(delete=False) as f:
        body = body_of(200 * 1024 if scenario == "download" else 2 * 1024 * 1024)
        f.write(body)
        result["body_file"] = f.name

    Handler = body_handler(body)
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


def bursts():
    print("waiting", flush=True)
    sys.stdin.readline()
    body = body_of(1_000_000)
    with tempfile.NamedTemporaryFile(delete=False) as f:
        f.write(body)

    srv = HTTPServer(("127.0.0.1", 0), body_handler(body))
    port = srv.server_address[1]
    server = os.fork()
    if server == 0:
        for _ in range(2):
            srv.handle_request()
        os._exit(0)
    srv.server_close()
    statuses = []

    def burst(n):
        url = f"http://127.0.0.1:{port}/file"
        out = subprocess.run(["curl", "-sS", "-w", "%{http_code} "] + ["-o", "/dev/null"] * n
                             + [url] * n, check=True, capture_output=True, text=True).stdout
        statuses.extend(int(code) for code in out.split())

    burst(2)
    print(json.dumps({"burst": 1, "statuses": statuses}), flush=True)
    sys.stdin.readline()
    burst(12)
    _, status = os.waitpid(server, 0)
    assert status == 0, status
    print(json.dumps({"scenario": "bursts", "body_file": f.name, "statuses": statuses,
                      "server_port": port}), flush=True)


def fd_scenario(scenario):
    print("waiting", flush=True)
    sys.stdin.readline()
    tag, path = marker_file()
    port, server = reply_server()
    result = {"scenario": scenario, "tag": tag, "server_port": port}
    if scenario == "dup2":
        s = socket.create_connection(("127.0.0.1", port))
        request(s, "/before")
        fd = s.detach()
        f = os.open(path, os.O_RDWR)
        os.dup2(f, fd)  # the socket's last reference goes: the server sees EOF
        os.close(f)
        data = os.read(fd, 4096)
        assert tag.encode() in data
        os.write(fd, (tag + "-written\n").encode())
        os.close(fd)
        result["fd"] = fd
    else:
        # A child connects, makes a request, and execs with the socket still open.
        code = (
            "import os, socket, sys\n"
            "sys.path.insert(0, os.path.dirname(sys.argv[1]))\n"
            "import truth\n"
            "s = socket.create_connection(('127.0.0.1', int(sys.argv[2])))\n"
            "truth.request(s, '/before-exec')\n"
            "print(os.getpid(), s.fileno(), flush=True)\n"
            "os.execv(sys.argv[4], [sys.argv[4], 'cat', sys.argv[3]])\n"
        )
        cat = os.environ.get("FT_GO", "/bin/cat")
        out = subprocess.run([sys.executable, "-c", code, os.path.abspath(__file__), str(port), path, cat],
                             check=True, capture_output=True, text=True).stdout
        first, rest = out.split("\n", 1)
        assert tag in rest
        pid, fd = first.split()
        result.update({"pid": int(pid), "fd": int(fd)})
    server.join()
    print(json.dumps(result), flush=True)


def midstream():
    import http.client
    import time
    from http.server import ThreadingHTTPServer

    class Echo(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def reply(self, body):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            self.reply(b"echo:" + self.rfile.read(int(self.headers["Content-Length"])))

        def do_GET(self):
            self.reply(("got:" + self.path).encode())

        def log_message(self, *args):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.server_address[1]
    stop = threading.Event()
    last = {}

    def client(k):
        conn = http.client.HTTPConnection("127.0.0.1", port)
        i = 0
        while not stop.is_set():
            body = f"body-{k}-{i}".encode()
            conn.putrequest("POST", f"/c{k}/{i}")
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders()  # the head, in one write
            conn.send(body)  # the body, in another
            assert conn.getresponse().read() == b"echo:" + body
            conn.request("GET", f"/c{k}/{i}/g")
            assert conn.getresponse().read() == f"got:/c{k}/{i}/g".encode()
            last[k] = i
            i += 1
        conn.close()

    clients = [threading.Thread(target=client, args=(k,)) for k in range(2)]
    for t in clients:
        t.start()
    time.sleep(0.3)  # the clients are well into their series
    print("waiting", flush=True)
    sys.stdin.readline()
    time.sleep(1.0)
    stop.set()
    for t in clients:
        t.join()
    srv.shutdown()
    print(json.dumps({"scenario": "midstream", "server_port": port, "last": [last[0], last[1]]}), flush=True)


NGINX_CONF = """daemon off;
master_process off;
worker_processes 1;
error_log stderr;
pid {root}/nginx.pid;
events {{ worker_connections 64; }}
http {{
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    access_log off;
    client_body_temp_path {root}/tmp;
    proxy_temp_path {root}/tmp;
    fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp;
    scgi_temp_path {root}/tmp;
    server {{
        listen 127.0.0.1:{port};
        root {root}/www;
    }}
}}
"""


def writev_scenario():
    print("waiting", flush=True)
    sys.stdin.readline()
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    c = socket.create_connection(srv.getsockname())
    s, _ = srv.accept()
    heads = [b"GET /one HTTP/1.1\r\n", b"Host: x\r\n", b"\r\n"]
    c.sendmsg(heads)
    c.sendmsg([b"GET /two HTTP/1.1\r\nHost: x\r\n\r\n"])
    want = len(b"".join(heads)) + len(b"GET /two HTTP/1.1\r\nHost: x\r\n\r\n")
    got = b""
    while len(got) < want:
        got += s.recv(65536)
    body = body_of(20000)
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    small = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
    iovecs = [head, body, small, b"ok"]
    sent = os.writev(s.fileno(), iovecs)
    total = sum(map(len, iovecs))
    back = b""
    while len(back) < total:
        back += c.recv(65536)
    c.close()
    s.close()
    print(json.dumps({"scenario": "writev", "server_port": srv.getsockname()[1],
                      "sent": sent, "body": body.decode(),
                      "iovecs": [len(v) for v in iovecs]}), flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def files_scenario(scenario):
    root = tempfile.mkdtemp(prefix="ft-k-")
    os.makedirs(f"{root}/www")
    os.makedirs(f"{root}/tmp")
    files = {"/small.txt": body_of(1024), "/big.txt": body_of(200 * 1024)}
    for name, data in files.items():
        with open(f"{root}/www{name}", "wb") as f:
            f.write(data)
    port = free_port()
    if scenario == "nginx":
        with open(f"{root}/nginx.conf", "w") as f:
            f.write(NGINX_CONF.format(root=root, port=port))
        server = subprocess.Popen(["nginx", "-c", f"{root}/nginx.conf", "-p", root], stderr=subprocess.DEVNULL)
    else:
        server = subprocess.Popen([os.environ["FT_GO"], "files", f"{root}/www", f"127.0.0.1:{port}"])
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            break
        except OSError:
            import time
            time.sleep(0.05)
    print("waiting", flush=True)
    sys.stdin.readline()
    base = f"http://127.0.0.1:{port}"
    new = ["/small.txt", "/big.txt"]
    keepalive = ["/small.txt", "/big.txt", "/big.txt", "/small.txt", "/big.txt"]
    for target in new:
        subprocess.run(["curl", "-sS", "-o", "/dev/null", base + target], check=True)
    args = []
    for target in keepalive:
        args += ["-o", "/dev/null", base + target]
    subprocess.run(["curl", "-sS"] + args, check=True)
    server.terminate()
    server.wait()
    print(json.dumps({
        "scenario": scenario,
        "server_port": port,
        "files": {name: f"{root}/www{name}" for name in files},
        "new": new,
        "keepalive": keepalive,
    }), flush=True)


def filegone():
    root = tempfile.mkdtemp(prefix="ft-g-")
    os.makedirs(f"{root}/www")
    os.makedirs(f"{root}/sent")
    targets = ["/same.txt", "/deleted.txt", "/replaced.txt", "/renamed-over.txt", "/rewritten.txt"]
    size = 100 * 1024
    for t in targets:
        data = body_of(size)
        for d in ("www", "sent"):
            with open(f"{root}/{d}{t}", "wb") as f:
                f.write(data)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]

    def serve():
        for _ in targets:
            c, _ = srv.accept()
            head = b""
            while b"\r\n\r\n" not in head:
                head += c.recv(4096)
            target = head.split(b" ")[1].decode()
            path = f"{root}/www{target}"
            f = open(path, "rb")
            if target == "/deleted.txt":
                os.unlink(path)
            elif target == "/replaced.txt":
                os.unlink(path)
                with open(path, "wb") as n:
                    n.write(body_of(size))
            elif target == "/renamed-over.txt":
                with open(path + ".new", "wb") as n:
                    n.write(body_of(size))
                os.rename(path + ".new", path)
            c.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n".encode())
            at = 0
            while at < size:
                at += os.sendfile(c.fileno(), f.fileno(), at, size - at)
            if target == "/rewritten.txt":
                with open(path, "r+b") as w:
                    w.write(body_of(size))
            f.close()
            c.close()
    t = threading.Thread(target=serve)
    t.start()
    print("waiting", flush=True)
    sys.stdin.readline()
    for target in targets:
        subprocess.run(["curl", "-sS", "-o", "/dev/null", f"http://127.0.0.1:{port}{target}"], check=True)
    t.join()
    print(json.dumps({
        "scenario": "filegone",
        "server_port": port,
        "sent": {t: f"{root}/sent{t}" for t in targets},
        "now": {t: f"{root}/www{t}" for t in targets},
    }), flush=True)


if __name__ == "__main__":
    main()
