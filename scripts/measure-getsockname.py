#!/usr/bin/env python3
"""How long after accept()/connect() real HTTP stacks call getsockname(), if ever.

Runs servers and clients of several stacks (Python, Go, curl, Ruby, PHP, nginx,
Node) on loopback inside a cgroup of its own, records them with
`flowtap capture --cgroup … --record`, and reads the event times back from the
trace. For each stack and role it prints how many connections called
getsockname, and how long after the accept/connect and after the socket's first
data (what flowtap's hold-back waits from) the call came.

Needs root (flowtap capture) and the stacks on PATH; a missing one is skipped.
Usage: sudo scripts/measure-getsockname.py [--flowtap target/debug/flowtap] [-n 30]
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY_CLIENT = r"""
import sys, urllib.request
for _ in range(int(sys.argv[2])):
    urllib.request.urlopen(sys.argv[1]).read()
"""

RUBY_SERVER = r"""
require 'socket'
server = TCPServer.new('127.0.0.1', ARGV[0].to_i)
loop do
  c = server.accept
  c.gets
  while (l = c.gets) && l != "\r\n"; end
  c.write "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
  c.close
end
"""

RUBY_CLIENT = r"""
require 'net/http'
ARGV[1].to_i.times { Net::HTTP.get(URI(ARGV[0])) }
"""

PHP_CLIENT = r"""<?php
for ($i = 0; $i < (int)$argv[2]; $i++) { file_get_contents($argv[1]); }
"""

NODE_SERVER = r"""
require('http').createServer((q, r) => r.end('ok')).listen(+process.argv[2], '127.0.0.1');
"""

NODE_CLIENT = r"""
const http = require('http');
let left = +process.argv[3];
const agent = new http.Agent({ keepAlive: false });
(function next() {
  if (left-- <= 0) return;
  http.get(process.argv[2], { agent }, (r) => { r.resume(); r.on('end', next); });
})();
"""

GO_PROGRAM = r"""
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
)

func main() {
	if os.Args[1] == "server" {
		http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
		http.ListenAndServe("127.0.0.1:"+os.Args[2], nil)
		return
	}
	n, _ := strconv.Atoi(os.Args[3])
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for i := 0; i < n; i++ {
		r, err := c.Get(os.Args[2])
		if err == nil {
			io.Copy(io.Discard, r.Body)
			r.Body.Close()
		}
	}
}
"""

NGINX_CONF = """
daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log {dir}/nginx.err;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {dir}; proxy_temp_path {dir}; fastcgi_temp_path {dir};
  uwsgi_temp_path {dir}; scgi_temp_path {dir};
  server {{ listen 127.0.0.1:{port}; location / {{ return 200 "ok"; }} }}
}}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


class Run:
    """The processes of one measurement, all in one fresh cgroup v2 directory."""

    def __init__(self, work):
        unified = Path("/sys/fs/cgroup/unified")
        root = unified if (unified / "cgroup.procs").exists() else Path("/sys/fs/cgroup")
        self.cgroup = root / f"s16bounded-measure-{os.getpid()}"
        self.cgroup.mkdir()
        self.work = work
        self.started = []

    def spawn(self, argv, **kw):
        procs = self.cgroup / "cgroup.procs"

        def enter():
            procs.write_text(str(os.getpid()))

        p = subprocess.Popen(argv, preexec_fn=enter, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, cwd=self.work, **kw)
        self.started.append(p)
        return p

    def run(self, argv):
        p = self.spawn(argv)
        try:
            p.wait(timeout=120)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def stop(self, p):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def close(self):
        for p in self.started:
            self.stop(p)
        # The directory can go once its processes are gone.
        for _ in range(50):
            try:
                self.cgroup.rmdir()
                return
            except OSError:
                time.sleep(0.1)


def stacks(work, n):
    """(name, server argv or None, client argv builder or None) per stack found."""
    go_bin = None
    if shutil.which("go"):
        src = work / "gostack.go"
        src.write_text(GO_PROGRAM)
        go_bin = work / "gostack"
        env = dict(os.environ, GOCACHE=str(work / "gocache"), GO111MODULE="off")
        r = subprocess.run(["go", "build", "-o", str(go_bin), str(src)], env=env,
                           capture_output=True)
        if r.returncode != 0:
            print("go build failed; skipping Go:", r.stderr.decode()[-400:], file=sys.stderr)
            go_bin = None
    for name, text in [("client.py", PY_CLIENT), ("server.rb", RUBY_SERVER),
                       ("client.rb", RUBY_CLIENT), ("client.php", PHP_CLIENT),
                       ("server.js", NODE_SERVER), ("client.js", NODE_CLIENT)]:
        (work / name).write_text(text)

    def have(cmd):
        return shutil.which(cmd) is not None

    out = []
    if have("python3"):
        out.append(("python", lambda p: ["python3", "-m", "http.server", "--bind", "127.0.0.1", str(p)],
                    lambda url: ["python3", str(work / "client.py"), url, str(n)]))
    if go_bin:
        out.append(("go", lambda p: [str(go_bin), "server", str(p)],
                    lambda url: [str(go_bin), "client", url, str(n)]))
    if have("curl"):
        out.append(("curl", None,
                    lambda url: ["curl", "-s", "-o", "/dev/null"] + [url] * n + ["--no-keepalive", "-H", "Connection: close"]))
    if have("ruby"):
        out.append(("ruby", lambda p: ["ruby", str(work / "server.rb"), str(p)],
                    lambda url: ["ruby", str(work / "client.rb"), url, str(n)]))
    if have("php"):
        out.append(("php", lambda p: ["php", "-S", f"127.0.0.1:{p}", "-t", str(work)],
                    lambda url: ["php", str(work / "client.php"), url, str(n)]))
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if nginx:
        def nginx_server(p):
            d = work / f"nginx-{p}"
            d.mkdir(exist_ok=True)
            (d / "nginx.conf").write_text(NGINX_CONF.format(dir=d, port=p))
            return [nginx, "-p", str(d), "-c", str(d / "nginx.conf")]
        out.append(("nginx", nginx_server, None))
    if have("node"):
        out.append(("node", lambda p: ["node", str(work / "server.js"), str(p)],
                    lambda url: ["node", str(work / "client.js"), url, str(n)]))
    return out


def measure(run, work, n):
    """Runs each stack as a server (curl as its client) and as a client (against
    Python's server); returns {pid: (stack, role)} for the stacks' processes."""
    roles = {}
    found = stacks(work, n)
    # A server for the clients, itself a stack whose pid is recorded as such.
    target_port = free_port()
    (work / "index.html").write_text("ok")
    for name, server, client in found:
        if server is not None:
            port = free_port()
            p = run.spawn(server(port))
            if not wait_port(port):
                print(f"{name} server did not listen; skipping", file=sys.stderr)
                run.stop(p)
                continue
            roles[p.pid] = (name, "server")
            for _ in range(n):
                run.run(["curl", "-s", "-o", "/dev/null", f"http://127.0.0.1:{port}/index.html"])
            run.stop(p)
    target = run.spawn(["python3", "-m", "http.server", "--bind", "127.0.0.1", str(target_port)])
    wait_port(target_port)
    for name, _, client in found:
        if client is not None:
            c = run.spawn(client(f"http://127.0.0.1:{target_port}/index.html"))
            roles[c.pid] = (name, "client")
            try:
                c.wait(timeout=120)
            except subprocess.TimeoutExpired:
                run.stop(c)
    run.stop(target)
    return roles


def analyse(trace, roles):
    """Per (stack, role): connections, and the getsockname delays in µs after the
    accept/connect and after the first data (None when no data came first)."""
    conns = {}
    open_ = {}
    for line in trace.read_text().splitlines():
        e = json.loads(line)
        task = e.get("task")
        if not task:
            continue
        key = (task["pid"], e.get("fd"))
        t = e["type"]
        if t in ("accept", "connect"):
            if t == "connect" and e.get("result") not in (0, -115):
                continue
            c = {"pid": task["pid"], "role": "server" if t == "accept" else "client",
                 "start": e["ts"], "data": None, "gsn": None}
            open_[key] = c
            conns.setdefault(task["pid"], []).append(c)
        elif key in open_:
            c = open_[key]
            if t == "data" and c["data"] is None:
                c["data"] = e["ts"]
            elif t == "getsockname" and c["gsn"] is None:
                c["gsn"] = e["ts"]
            elif t == "close":
                del open_[key]
    rows = {}
    for pid, cs in conns.items():
        if pid not in roles:
            continue
        name, role = roles[pid]
        for c in cs:
            # The readiness probe's connections carry no data.
            if c["role"] != role or c["data"] is None:
                continue
            r = rows.setdefault((name, role), {"n": 0, "calls": 0, "after_open": [], "after_data": []})
            r["n"] += 1
            if c["gsn"] is not None:
                r["calls"] += 1
                r["after_open"].append((c["gsn"] - c["start"]) / 1000)
                if c["data"] is not None and c["data"] < c["gsn"]:
                    r["after_data"].append((c["gsn"] - c["data"]) / 1000)
    return rows


def fmt(values):
    if not values:
        return "-"
    return f"{statistics.median(values):.0f} / {max(values):.0f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = Path(__file__).resolve().parent.parent
    ap.add_argument("--flowtap", default=str(here / "target/debug/flowtap"))
    ap.add_argument("-n", type=int, default=30, help="connections per stack and role")
    ap.add_argument("--keep", help="also copy the recorded trace here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="s16bounded-measure-") as tmp:
        work = Path(tmp)
        trace = work / "trace.jsonl"
        run = Run(work)
        live = None
        try:
            live = subprocess.Popen([args.flowtap, "capture", "--cgroup", str(run.cgroup),
                                     "--record", str(trace), "-o", "/dev/null"],
                                    stderr=subprocess.PIPE, text=True)
            for line in live.stderr:
                if "ready" in line:
                    break
            else:
                sys.exit(f"flowtap exited before ready (status {live.wait()})")
            roles = measure(run, work, args.n)
        finally:
            if live is not None and live.poll() is None:
                live.send_signal(signal.SIGINT)
                tail = live.stderr.read()
                live.wait(timeout=60)
                print(tail.strip().splitlines()[-1] if tail.strip() else "", file=sys.stderr)
            run.close()
        if args.keep:
            shutil.copy(trace, args.keep)
        rows = analyse(trace, roles)
    print("| stack | role | connections | called getsockname | µs after accept/connect (median / max) | µs after first data (median / max, count) |")
    print("|---|---|---|---|---|---|")
    for (name, role), r in sorted(rows.items()):
        after_data = f"{fmt(r['after_data'])} ({len(r['after_data'])})"
        print(f"| {name} | {role} | {r['n']} | {r['calls']} | {fmt(r['after_open'])} | {after_data} |")


if __name__ == "__main__":
    main()
