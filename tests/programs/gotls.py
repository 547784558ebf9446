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


def build(d):
    out = os.path.join(d, "gotls")
    env = dict(os.environ, GO111MODULE="off", CGO_ENABLED="0",
               GOCACHE="/tmp/flowtap-gocache", GOPATH=os.path.join(HERE, "go"))
    subprocess.run(["go", "build", "-o", out, "gotls"], check=True, env=env, cwd=d)
    return out


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


def go_client(gotls, d, base):
    out = subprocess.run([gotls, "client", base, f"{d}/ca.crt"], input="go\n", text=True,
                         check=True, capture_output=True).stdout
    return json.loads(out.splitlines()[-1])


def main():
    d = tempfile.mkdtemp(prefix="ft-gotls-")
    gotls = build(d)
    make_certs(d)
    ports = {"nginx": free_port(), "go": free_port(), "caddy": free_port()}
    nginx = start_nginx(d, ports["nginx"])
    server = subprocess.Popen([gotls, "server", f"127.0.0.1:{ports['go']}", f"{d}/server.crt",
                               f"{d}/server.key"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    wait_line(server, "listening")
    caddy = start_caddy(d, ports["caddy"])
    nginx_base = f"https://localhost:{ports['nginx']}"
    go_base = f"https://localhost:{ports['go']}"
    caddy_base = f"https://localhost:{ports['caddy']}"
    waiting = subprocess.Popen([gotls, "client", nginx_base, f"{d}/ca.crt"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    wait_line(waiting, "ready")
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

    server.stdin.close()
    server.wait(timeout=30)
    caddy.send_signal(signal.SIGTERM)
    caddy.wait(timeout=30)
    nginx.send_signal(signal.SIGQUIT)
    nginx.wait(timeout=30)
    print(json.dumps({"said": {**said, "ports": ports}}), flush=True)


if __name__ == "__main__":
    main()
