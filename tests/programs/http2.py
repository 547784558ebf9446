#!/usr/bin/python3
"""Real HTTP/2 and gRPC programs on loopback for flowtap's capture tests.

Usage: http2.py SCENARIO. Prints "waiting", blocks until a line arrives on stdin
(so that the test can start `flowtap capture --pid` on this process first),
runs the scenario with servers and clients as child processes, and prints one
JSON object saying what it did. Scenarios: nghttp, curl, h2load, grpc, joined,
upgrade, node (Node's http2 client against nghttpd, and curl against Node's
http2 server), go (a Go h2c client against Node's http2 server, and curl's
Upgrade: h2c against a Go h2c server; built in GOPATH mode against Debian's
golang-golang-x-net-dev).
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.abspath(__file__)
PY = "/usr/bin/python3"  # Debian's, with python3-grpcio and python3-h2


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what):
    for _ in range(200):
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{what} never listened on {port}")


def run(args, **kw):
    p = subprocess.run(args, capture_output=True, **kw)
    if p.returncode != 0:
        raise SystemExit(f"{args} failed with {p.returncode}: {p.stderr[-2000:]!r}")
    return p.stdout


def docroot():
    d = tempfile.mkdtemp(prefix="ft-h2-doc-")
    with open(os.path.join(d, "a"), "w") as f:
        f.write("hello from nghttpd\n")
    with open(os.path.join(d, "big"), "wb") as f:
        f.write(b"0123456789abcdef" * 4096)  # 64 KiB: several DATA frames
    return d


def nghttpd(port, root):
    p = subprocess.Popen(["nghttpd", "--no-tls", "-d", root, str(port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, p, "nghttpd")
    return p


# ---- gRPC, without generated code: raw bytes in, raw bytes out -----------------

def child_grpc_server(port):
    from concurrent import futures
    import grpc

    def say(request, context):
        return b"\x0a" + bytes([len(request) + 6]) + b"hello " + request

    def count(request, context):
        for i in range(3):
            yield bytes([0x08, i + 1])

    def get(request, context):
        context.abort(grpc.StatusCode.NOT_FOUND, "no such key")

    def total(requests, context):
        return bytes([0x08, sum(len(r) for r in requests)])

    def chat(requests, context):
        for r in requests:
            yield b"re:" + r

    handler = grpc.method_handlers_generic_handler("demo.Echo", {
        "Say": grpc.unary_unary_rpc_method_handler(say),
        "Count": grpc.unary_stream_rpc_method_handler(count),
        "Get": grpc.unary_unary_rpc_method_handler(get),
        "Total": grpc.stream_unary_rpc_method_handler(total),
        "Chat": grpc.stream_stream_rpc_method_handler(chat),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"{os.environ.get('FT_BIND', '127.0.0.1')}:{port}")
    server.start()
    print("ready", flush=True)
    if sys.stdin.readline():
        server.stop(0)
    else:  # no stdin (a container): serve until killed
        server.wait_for_termination()


def child_grpc_client(port):
    import grpc
    out = {}
    with grpc.insecure_channel(f"{os.environ.get('FT_SERVER', '127.0.0.1')}:{port}") as ch:
        out["say"] = ch.unary_unary("/demo.Echo/Say")(b"world").hex()
        out["count"] = [m.hex() for m in ch.unary_stream("/demo.Echo/Count")(b"\x08\x03")]
        # The same call with its request gzip-compressed (grpc-encoding: gzip).
        out["say_gzip"] = ch.unary_unary("/demo.Echo/Say")(
            b"zipped " * 20, compression=grpc.Compression.Gzip).hex()
        out["total"] = ch.stream_unary("/demo.Echo/Total")(iter([b"ab", b"cde", b"f"])).hex()
        out["chat"] = [m.decode() for m in ch.stream_stream("/demo.Echo/Chat")(iter([b"x", b"yz"]))]
        try:
            ch.unary_unary("/demo.Echo/Get")(b"\x0a\x04nope")
            out["get"] = "OK"
        except grpc.RpcError as e:
            out["get"] = [e.code().value[0], e.details()]
    print(json.dumps(out), flush=True)


# ---- a connection open before capture, with python3-h2 ------------------------

def child_joined_client(port):
    """Opens an h2c connection and makes one request before capture starts (its
    header fields go into both HPACK tables), then waits; on a line from stdin
    makes two more: the first inserts a new header, the second reuses it."""
    import h2.config
    import h2.connection

    sock = socket.create_connection(("127.0.0.1", port))
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())

    def request(sid, extra):
        conn.send_headers(sid, [(":method", "GET"), (":path", "/a"), (":scheme", "http"),
                                (":authority", f"127.0.0.1:{port}"),
                                ("x-before", "inserted-before-capture")] + extra, end_stream=True)
        sock.sendall(conn.data_to_send())
        done = False
        while not done:
            data = sock.recv(65536)
            if not data:
                raise SystemExit("server closed")
            for ev in conn.receive_data(data):
                if type(ev).__name__ == "StreamEnded" and ev.stream_id == sid:
                    done = True
            sock.sendall(conn.data_to_send())

    request(1, [])
    print("connected", flush=True)
    sys.stdin.readline()
    time.sleep(0.3)  # let the capture see the socket idle first
    request(3, [("x-after", "inserted-after-attach")])
    request(5, [("x-after", "inserted-after-attach")])
    conn.close_connection()
    sock.sendall(conn.data_to_send())
    sock.close()
    print(json.dumps({"local_port": 0}), flush=True)


# ---- h2c by Upgrade, served by python3-h2 -------------------------------------

def child_upgrade_server(port):
    import h2.config
    import h2.connection
    import h2.events

    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen()
    print("ready", flush=True)
    sock, _ = ls.accept()
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(65536)
    head, rest = head.split(b"\r\n\r\n", 1)
    settings = [l.split(b":", 1)[1].strip() for l in head.split(b"\r\n")
                if l.lower().startswith(b"http2-settings:")][0]
    sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    conn.initiate_upgrade_connection(settings)

    def answer(sid, path):
        body = f"answer to {path}".encode()
        conn.send_headers(sid, [(":status", "200"), ("content-length", str(len(body))),
                                ("content-type", "text/plain")])
        conn.send_data(sid, body, end_stream=True)

    answer(1, "upgrade")
    sock.sendall(conn.data_to_send())
    data = rest
    while True:
        for ev in conn.receive_data(data) if data else []:
            if isinstance(ev, h2.events.RequestReceived):
                path = dict(ev.headers).get(b":path", b"").decode()
                answer(ev.stream_id, path)
            if isinstance(ev, h2.events.ConnectionTerminated):
                sock.sendall(conn.data_to_send())
                sock.close()
                return
        sock.sendall(conn.data_to_send())
        data = sock.recv(65536)
        if not data:
            sock.close()
            return


NODE_CLIENT = r"""
const http2 = require('http2');
const session = http2.connect(process.argv[1]);
const get = (path, body) => new Promise((resolve, reject) => {
  const req = session.request(body === undefined ? {':path': path}
    : {':path': path, ':method': 'POST', 'content-type': 'text/plain'});
  let status = 0, data = '';
  req.on('response', (h) => { status = h[':status']; });
  req.setEncoding('utf8');
  req.on('data', (c) => { data += c; });
  req.on('end', () => resolve([status, data]));
  req.on('error', reject);
  req.end(body);
});
Promise.all([get('/a'), get('/missing'), get('/a', 'posted by node')]).then((r) => {
  console.log(JSON.stringify(r));
  session.close();
});
"""

NODE_SERVER = r"""
const http2 = require('http2');
const server = http2.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    res.setHeader('content-type', 'text/plain');
    res.end(`node saw ${req.method} ${req.url} ${body}`);
  });
});
server.listen(Number(process.argv[1]), '127.0.0.1', () => console.log('ready'));
process.stdin.on('data', () => server.close(() => process.exit(0)));
"""


def main():
    argv = sys.argv[1:]
    if argv[0] == "child":
        globals()["child_" + argv[1]](int(argv[2]))
        return
    scenario = argv[0]
    port = free_port()
    root = docroot()
    pre = None
    server = None
    if scenario == "go":
        go_bin = os.path.join(root, "h2c")
        env = dict(os.environ, GO111MODULE="off", GOCACHE=os.path.join(root, "gocache"),
                   GOPATH="/usr/share/gocode:" + os.path.join(os.path.dirname(HERE), "go"))
        run(["go", "build", "-o", go_bin, "h2c"], env=env, cwd=root)
    if scenario == "joined":
        server = nghttpd(port, root)
        pre = subprocess.Popen([PY, HERE, "child", "joined_client", str(port)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert pre.stdout.readline().strip() == "connected"
    print("waiting", flush=True)
    sys.stdin.readline()
    result = {"scenario": scenario, "port": port}
    url = f"http://127.0.0.1:{port}"
    if scenario == "nghttp":
        server = nghttpd(port, root)
        body_file = os.path.join(root, "upload")
        with open(body_file, "w") as f:
            f.write("posted by nghttp\n")
        run(["nghttp", "-n", f"{url}/a", f"{url}/missing", f"{url}/big"])
        run(["nghttp", "-n", "-d", body_file, f"{url}/a"])
    elif scenario == "curl":
        server = nghttpd(port, root)
        result["get"] = run(["curl", "-sS", "--http2-prior-knowledge", f"{url}/a"]).decode()
        run(["curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null", "--data-binary",
             "curl body", f"{url}/a"])
    elif scenario == "h2load":
        server = nghttpd(port, root)
        out = run(["h2load", "-n", "1000", "-c", "4", "-m", "10", f"{url}/a"]).decode()
        result["h2load"] = [l for l in out.splitlines() if l.startswith("requests:")]
    elif scenario == "grpc":
        server = subprocess.Popen([PY, HERE, "child", "grpc_server", str(port)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert server.stdout.readline().strip() == "ready"
        result["client"] = json.loads(run([PY, HERE, "child", "grpc_client", str(port)]))
        server.stdin.write("stop\n")
        server.stdin.flush()
        server.wait(timeout=30)
        server = None
    elif scenario == "joined":
        pre.stdin.write("go\n")
        pre.stdin.flush()
        pre.stdout.readline()
        pre.wait(timeout=30)
    elif scenario == "upgrade":
        server = subprocess.Popen([PY, HERE, "child", "upgrade_server", str(port)],
                                  stdout=subprocess.PIPE, text=True)
        assert server.stdout.readline().strip() == "ready"
        run(["nghttp", "-nu", f"{url}/first", f"{url}/second"])
        server.wait(timeout=30)
        server = None
    elif scenario == "node":
        server = nghttpd(port, root)
        result["node_client"] = json.loads(run(["node", "-e", NODE_CLIENT, url]))
        server.terminate()
        server.wait(timeout=30)
        port2 = free_port()
        result["node_port"] = port2
        server = subprocess.Popen(["node", "-e", NODE_SERVER, str(port2)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert server.stdout.readline().strip() == "ready"
        result["curl"] = run(["curl", "-sS", "--http2-prior-knowledge", "--data-binary",
                              "from curl", f"http://127.0.0.1:{port2}/n"]).decode()
        server.stdin.write("stop\n")
        server.stdin.flush()
        server.wait(timeout=30)
        server = None
    elif scenario == "go":
        server = subprocess.Popen(["node", "-e", NODE_SERVER, str(port)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert server.stdout.readline().strip() == "ready"
        result["go_client"] = json.loads(run([go_bin, "get", f"{url}/g1", f"{url}/g2", f"{url}/g3"]))
        server.stdin.write("stop\n")
        server.stdin.flush()
        server.wait(timeout=30)
        port2 = free_port()
        result["go_port"] = port2
        server = subprocess.Popen([go_bin, "serve", str(port2)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        assert server.stdout.readline().strip() == "ready"
        result["curl"] = run(["curl", "-sS", "--http2", "--data-binary", "upgrade body",
                              f"http://127.0.0.1:{port2}/up"]).decode()
        result["curl_404"] = run(["curl", "-sS", "--http2", f"http://127.0.0.1:{port2}/missing"]).decode()
        server.stdin.close()
        server.wait(timeout=30)
        server = None
    else:
        raise SystemExit(f"unknown scenario {scenario}")
    if server is not None:
        server.terminate()
        server.wait(timeout=30)
    time.sleep(0.2)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
