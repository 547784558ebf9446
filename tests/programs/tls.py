#!/usr/bin/env python3
"""HTTPS exchanges for flowtap's TLS tests: nginx with TLS on loopback, called by
curl and by Python's http.client and urllib.

Usage: tls.py [--server-after] [--node] [--h2] [--client CLIENT [--late]]
It makes a CA and a server certificate with the openssl CLI in a temp dir, starts
nginx (or, with --server-after, waits to), prints "waiting", blocks until a line
arrives on stdin (so the test can start flowtap capture --pid on it first), runs
the clients, stops nginx and prints one JSON object describing what it did.
With --node a Node.js client makes one more request (GET /node). With --h2
nginx offers HTTP/2 (ALPN h2) and only `curl --http2` calls it (GET /hello and
a 404 on one connection). With --client CLIENT only that program calls (a
tests/programs/tls_client.c, linked statically or against BoringSSL), started before "waiting"
so that it is already running when capture starts; with --late as well, it
is started under capture instead and given a second (flowtap attaches to a new
executable shortly after its exec) before it connects.
"""
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

NGINX_CONF = """
daemon off;
master_process on;
worker_processes 1;
user root;
error_log {dir}/error.log;
pid {dir}/nginx.pid;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  sendfile off;
  keepalive_requests 100;
  server {{
    listen 127.0.0.1:{port} ssl{h2};
    ssl_certificate {dir}/server.crt;
    ssl_certificate_key {dir}/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location = /hello {{ return 200 "hello over tls\\n"; }}
    location = /echo {{ client_body_buffer_size 1m; return 201 "stored\\n"; }}
    location = /python {{ return 200 "python got it\\n"; }}
    location / {{ return 404 "no such thing\\n"; }}
  }}
}}
"""


def run(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_certs(d):
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.crt", "-subj", "/CN=flowtap test CA")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes",
        "-keyout", f"{d}/server.key", "-out", f"{d}/server.csr", "-subj", "/CN=localhost")
    with open(f"{d}/ext", "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("openssl", "x509", "-req", "-in", f"{d}/server.csr", "-CA", f"{d}/ca.crt",
        "-CAkey", f"{d}/ca.key", "-CAcreateserial", "-days", "1",
        "-out", f"{d}/server.crt", "-extfile", f"{d}/ext")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_nginx(d, port):
    with open(f"{d}/nginx.conf", "w") as f:
        f.write(NGINX_CONF.format(dir=d, port=port, h2=" http2" if "--h2" in sys.argv else ""))
    proc = subprocess.Popen(["nginx", "-c", f"{d}/nginx.conf", "-p", d])
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.05)
    raise SystemExit("nginx did not listen")


def curl(d, *args):
    out = subprocess.run(["curl", "-sS", "--cacert", f"{d}/ca.crt", *args],
                         check=True, capture_output=True)
    return out.stdout.decode()


def main():
    server_after = "--server-after" in sys.argv
    d = tempfile.mkdtemp(prefix="ft-tls-")
    make_certs(d)
    port = free_port()
    nginx = None if server_after else start_nginx(d, port)
    program = sys.argv[sys.argv.index("--client") + 1] if "--client" in sys.argv else None
    late = "--late" in sys.argv

    def start_client():
        return subprocess.Popen([program, str(port), f"{d}/ca.crt"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE)

    client = start_client() if program and not late else None
    print("waiting", flush=True)
    sys.stdin.readline()
    if program and late:
        client = start_client()
        time.sleep(1)
    if server_after:
        nginx = start_nginx(d, port)
    base = f"https://localhost:{port}"
    said = {}
    if client:
        out, _ = client.communicate(b"go\n", timeout=60)
        if client.returncode != 0:
            raise SystemExit(f"tls_client failed: {client.returncode}")
        said["tls_client"] = out.decode()
        nginx.send_signal(signal.SIGQUIT)
        nginx.wait(timeout=30)
        print(json.dumps({"port": port, "said": said}), flush=True)
        return
    if "--h2" in sys.argv:
        said["curl_h2"] = curl(d, "--http2", f"{base}/hello", f"{base}/missing")
        nginx.send_signal(signal.SIGQUIT)
        nginx.wait(timeout=30)
        print(json.dumps({"port": port, "said": said}), flush=True)
        return
    # curl: two requests on one kept-alive connection (a GET and a 404), then a POST.
    said["curl_keepalive"] = curl(d, f"{base}/hello", f"{base}/missing")
    said["curl_post"] = curl(d, "-d", "name=flowtap&tls=yes", f"{base}/echo")
    # Python http.client: a GET and a POST on one connection (SSL_read_ex/_write_ex).
    ctx = ssl.create_default_context(cafile=f"{d}/ca.crt")
    conn = http.client.HTTPSConnection("localhost", port, context=ctx)
    conn.request("GET", "/python?via=http.client")
    said["python_get"] = conn.getresponse().read().decode()
    conn.request("POST", "/echo", body=b'{"from":"python"}',
                 headers={"Content-Type": "application/json"})
    said["python_post"] = conn.getresponse().read().decode()
    conn.close()
    with urllib.request.urlopen(f"{base}/python?via=urllib", context=ctx) as r:
        said["urllib_get"] = r.read().decode()
    if "--node" in sys.argv:
        script = ('require("https").get(process.argv[1], r => {'
                  ' let b = ""; r.on("data", d => b += d); r.on("end", () => process.stdout.write(b)); })')
        out = subprocess.run(["node", "-e", script, f"{base}/node"], check=True, capture_output=True,
                             env={**os.environ, "NODE_EXTRA_CA_CERTS": f"{d}/ca.crt"})
        said["node_get"] = out.stdout.decode()
    nginx.send_signal(signal.SIGQUIT)
    nginx.wait(timeout=30)
    print(json.dumps({"port": port, "said": said}), flush=True)


if __name__ == "__main__":
    main()
