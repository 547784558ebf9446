#!/usr/bin/env python3
"""How long a flow of a keep-alive connection to a Node.js server (which never
calls getsockname) takes to reach the flows file of a live capture.

Starts a Node http server in a cgroup of its own, `flowtap capture --cgroup … -o
FILE`, then makes requests from outside the cgroup on connections kept open,
and prints, per request, the milliseconds from the response to its flow in the
file. Needs root and node.
Usage: sudo scripts/measure-holdback-lag.py [FLOWTAP] [-n 5]
"""

import argparse
import http.client
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def lines(path):
    return path.read_text().count("\n") if path.exists() else 0


def main():
    here = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("flowtap", nargs="?", default=str(here / "target/debug/flowtap"))
    ap.add_argument("-n", type=int, default=5)
    args = ap.parse_args()
    unified = Path("/sys/fs/cgroup/unified")
    root = unified if (unified / "cgroup.procs").exists() else Path("/sys/fs/cgroup")
    cgroup = root / f"s16bounded-lag-{os.getpid()}"
    cgroup.mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = []
    try:
        with tempfile.TemporaryDirectory(prefix="s16bounded-lag-") as tmp:
            out = Path(tmp) / "flows.jsonl"
            server = subprocess.Popen(
                ["node", "-e", "require('http').createServer((q, r) => r.end('ok'))"
                 f".listen({port}, '127.0.0.1')"],
                preexec_fn=lambda: (cgroup / "cgroup.procs").write_text(str(os.getpid())))
            procs.append(server)
            live = subprocess.Popen([args.flowtap, "capture", "--cgroup", str(cgroup), "-o", str(out)],
                                    stderr=subprocess.PIPE, text=True)
            procs.append(live)
            for line in live.stderr:
                if "ready" in line:
                    break
            lags = []
            for _ in range(args.n):
                before = lines(out)
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                c.request("GET", "/x")
                c.getresponse().read()
                answered = time.monotonic()
                while lines(out) <= before and time.monotonic() - answered < 5:
                    time.sleep(0.002)
                lags.append(round((time.monotonic() - answered) * 1000))
                c.close()
                time.sleep(0.3)
            print("ms from response to flow in the file:", lags)
            live.send_signal(signal.SIGINT)
            live.wait(timeout=60)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(timeout=10)
        for _ in range(50):
            try:
                cgroup.rmdir()
                break
            except OSError:
                time.sleep(0.1)


if __name__ == "__main__":
    main()
