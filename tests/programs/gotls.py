#!/usr/bin/env python3
"""Go crypto/tls exchanges for flowtap's TLS tests, on loopback.

Usage: gotls.py
Builds tests/programs/go/src/gotls (GOPATH mode, standard library only), makes a
CA and server certificate as tls.py does, starts nginx with TLS, a Go TLS server
(`gotls server`), caddy (Debian's, a stripped Go binary) with HTTP/2 over TLS, and
a Go client that waits. It prints "waiting" and blocks until a line arrives on
stdin (the test starts `flowtap capture --pid` on it), then:
  - the waiting Go client calls nginx (GET, POST with a body, 404, one connection);
  - a Go client on a wrapped conn (not a *net.TCPConn) calls nginx once;
  - a second Go client, started now from the same file, calls the Go server;
  - a Go gRPC client (tests/programs/go/src/gogrpc), waiting like the first Go
    client, calls a grpcio TLS server;
  - curl --http2 calls the Go server and caddy (/hello?h2 and /missing?h2, one
    connection);
then stops the servers and prints one JSON object saying what each got.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from tls import curl, free_port, make_certs, start_nginx  # noqa: E402

CADDYFILE = """{{
	admin off
	auto_https disable_redirects
	storage file_system {dir}/caddy
	servers {{
		protocols h1 h2
	}}
}}
https://localhost:{port} {{
	tls {dir}/server.crt {dir}/server.key
	respond /hello "hello from caddy" 200
	respond "no such thing" 404
}}
"""


def build(d, package="gotls"):
    out = os.path.join(d, package)
    env = dict(os.environ, GO111MODULE="off", CGO_ENABLED="0",
               GOCACHE="/tmp/flowtap-gocache",
               GOPATH="/usr/share/gocode:" + os.path.join(HERE, "go"))
    subprocess.run(["go", "build", "-o", out, package], check=True, env=env, cwd=d)
    return out


STARTED = []


def started(proc):
    STARTED.append(proc)
    return proc


def wait_line(proc, want):
    line = proc.stdout.readline().strip()
    if line != want:
        raise SystemExit(f"{proc.args[:2]} said {line!r}, not {want!r}")


def start_caddy(d, port):
    with open(f"{d}/Caddyfile", "w") as f:
        f.write(CADDYFILE.format(dir=d, port=port))
    env = dict(os.environ, HOME=d, XDG_DATA_HOME=f"{d}/xdg", XDG_CONFIG_HOME=f"{d}/xdg")
    proc = subprocess.Popen(["caddy", "run", "--config", f"{d}/Caddyfile", "--adapter",
                             "caddyfile"], env=env, stdout=subprocess.DEVNULL,
                            stderr=open(f"{d}/caddy.log", "w"))
    for _ in range(200):
        try:
            curl(d, f"https://localhost:{port}/ready")
            return proc
        except subprocess.CalledProcessError:
            time.sleep(0.05)
    raise SystemExit("caddy did not listen")


def grpc_server(port, d):
    """A grpcio server with TLS (Debian's python3-grpcio, on the system libssl):
    demo.Echo/Say answers "hello " + the request, demo.Echo/Get NOT_FOUND."""
    from concurrent import futures
    import grpc

    def say(request, context):
        return b"hello " + request

    def get(request, context):
        context.abort(grpc.StatusCode.NOT_FOUND, "no such key")

    handler = grpc.method_handlers_generic_handler("demo.Echo", {
        "Say": grpc.unary_unary_rpc_method_handler(say),
        "Get": grpc.unary_unary_rpc_method_handler(get),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    with open(f"{d}/server.key", "rb") as k, open(f"{d}/server.crt", "rb") as c:
        creds = grpc.ssl_server_credentials([(k.read(), c.read())])
    server.add_secure_port(f"127.0.0.1:{port}", creds)
    server.start()
    print("ready", flush=True)
    sys.stdin.readline()
    server.stop(0)


def go_client(gotls, d, base):
    out = subprocess.run([gotls, "client", base, f"{d}/ca.crt"], input="go\n", text=True,
                         check=True, capture_output=True).stdout
    return json.loads(out.splitlines()[-1])


def main():
    if sys.argv[1:2] == ["grpc_server"]:
        grpc_server(int(sys.argv[2]), sys.argv[3])
        return
    d = tempfile.mkdtemp(prefix="ft-gotls-")
    gotls = build(d)
    gogrpc = build(d, "gogrpc")
    make_certs(d)
    ports = {"nginx": free_port(), "go": free_port(), "caddy": free_port(),
             "grpc": free_port()}
    nginx = started(start_nginx(d, ports["nginx"]))
    server = started(subprocess.Popen([gotls, "server", f"127.0.0.1:{ports['go']}", f"{d}/server.crt",
                               f"{d}/server.key"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True))
    wait_line(server, "listening")
    caddy = started(start_caddy(d, ports["caddy"]))
    # Debian's python3, with python3-grpcio (the one on PATH may be another).
    grpcd = started(subprocess.Popen(["/usr/bin/python3", __file__, "grpc_server",
                                      str(ports["grpc"]), d],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
    wait_line(grpcd, "ready")
    nginx_base = f"https://localhost:{ports['nginx']}"
    go_base = f"https://localhost:{ports['go']}"
    caddy_base = f"https://localhost:{ports['caddy']}"
    waiting = started(subprocess.Popen([gotls, "client", nginx_base, f"{d}/ca.crt"],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       text=True))
    wait_line(waiting, "ready")
    grpc_client = started(subprocess.Popen([gogrpc, f"localhost:{ports['grpc']}", f"{d}/ca.crt"],
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                           text=True))
    wait_line(grpc_client, "ready")
    print("waiting", flush=True)
    sys.stdin.readline()

    said = {}
    out, _ = waiting.communicate("go\n", timeout=60)
    if waiting.returncode != 0:
        raise SystemExit("the waiting Go client failed")
    said["go_nginx"] = json.loads(out.splitlines()[-1])
    said["wrapped"] = subprocess.run([gotls, "wrapped", nginx_base, f"{d}/ca.crt"],
                                     check=True, capture_output=True, text=True).stdout
    said["go_go"] = go_client(gotls, d, go_base)
    said["curl_h2_go"] = curl(d, "--http2", f"{go_base}/hello?h2", f"{go_base}/missing?h2")
    said["curl_h2_caddy"] = curl(d, "--http2", f"{caddy_base}/hello?h2",
                                 f"{caddy_base}/missing?h2")

    out, _ = grpc_client.communicate("go\n", timeout=60)
    if grpc_client.returncode != 0:
        raise SystemExit("the Go gRPC client failed")
    said["grpc"] = json.loads(out.splitlines()[-1])

    grpcd.stdin.close()
    grpcd.wait(timeout=30)
    server.stdin.close()
    server.wait(timeout=30)
    caddy.send_signal(signal.SIGTERM)
    caddy.wait(timeout=30)
    nginx.send_signal(signal.SIGQUIT)
    nginx.wait(timeout=30)
    print(json.dumps({"said": {**said, "ports": ports}}), flush=True)


if __name__ == "__main__":
    try:
        main()
    finally:
        # A failed run leaves no server behind (a clean one has stopped them all).
        for proc in STARTED:
            if proc.poll() is None:
                proc.kill()
