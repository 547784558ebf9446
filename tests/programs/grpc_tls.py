#!/usr/bin/python3
"""gRPC over TLS with Debian's python3-grpcio (which links the system libssl.so.3)
on loopback, for flowtap's TLS tests: a unary and a server-streaming call.

It makes a CA and a server certificate with the openssl CLI, starts the server,
prints "waiting", blocks until a line arrives on stdin (so the test can start
flowtap capture --pid on it first), makes the calls and prints one JSON object.

In containers: `grpc_tls.py serve DIR PORT` serves with DIR's server.key and
server.crt until killed; `grpc_tls.py call DIR HOST:PORT` makes the calls with
DIR's ca.crt (retrying until the server answers) and prints the same object.
grpcio drives OpenSSL through memory BIOs: its SSL_read/SSL_write make no
syscall of their own, so flowtap ties each SSL* to its socket by the records
OpenSSL wrote for it (src/sockets/membio.rs).
"""
import json
import subprocess
import sys
import tempfile
from concurrent import futures

import grpc


def run(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main():
    d = tempfile.mkdtemp(prefix="ft-grpc-tls-")
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.crt", "-subj", "/CN=flowtap test CA")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes",
        "-keyout", f"{d}/server.key", "-out", f"{d}/server.csr", "-subj", "/CN=localhost")
    with open(f"{d}/ext", "w") as f:
        f.write("subjectAltName=DNS:localhost\n")
    run("openssl", "x509", "-req", "-in", f"{d}/server.csr", "-CA", f"{d}/ca.crt",
        "-CAkey", f"{d}/ca.key", "-CAcreateserial", "-days", "1",
        "-out", f"{d}/server.crt", "-extfile", f"{d}/ext")

    server, port = serve(d, "127.0.0.1:0")
    print("waiting", flush=True)
    sys.stdin.readline()
    out = {"port": port, **call(d, f"localhost:{port}")}
    server.stop(0)
    print(json.dumps({"said": out}), flush=True)


def serve(d, address):
    def say(request, context):
        return b"hello " + request

    def count(request, context):
        for i in range(3):
            yield bytes([0x08, i + 1])

    handler = grpc.method_handlers_generic_handler("demo.Echo", {
        "Say": grpc.unary_unary_rpc_method_handler(say),
        "Count": grpc.unary_stream_rpc_method_handler(count),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    with open(f"{d}/server.key", "rb") as k, open(f"{d}/server.crt", "rb") as c:
        creds = grpc.ssl_server_credentials([(k.read(), c.read())])
    port = server.add_secure_port(address, creds)
    server.start()
    return server, port


def call(d, target):
    with open(f"{d}/ca.crt", "rb") as f:
        channel_creds = grpc.ssl_channel_credentials(f.read())
    out = {}
    with grpc.secure_channel(target, channel_creds) as ch:
        grpc.channel_ready_future(ch).result(timeout=30)
        out["say"] = ch.unary_unary("/demo.Echo/Say")(b"world").decode()
        out["count"] = [m.hex() for m in ch.unary_stream("/demo.Echo/Count")(b"")]
    return out


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(sys.argv[2], f"0.0.0.0:{sys.argv[3]}")[0].wait_for_termination()
    elif sys.argv[1:2] == ["call"]:
        print(json.dumps({"said": call(sys.argv[2], sys.argv[3])}), flush=True)
    else:
        main()
