#!/usr/bin/env python3
"""Seconds from SIGINT (sent once the capture says ready) to the process's exit."""
import signal, subprocess, sys, time
binary = sys.argv[1]
sleeper = subprocess.Popen(["sleep", "600"])
try:
    t0 = time.monotonic()
    p = subprocess.Popen([binary, "capture", "--pid", str(sleeper.pid), "-o", "/dev/null"],
                         stderr=subprocess.PIPE, text=True)
    for line in p.stderr:
        if "ready" in line:
            break
    ready = time.monotonic() - t0
    t1 = time.monotonic()
    p.send_signal(signal.SIGINT)
    p.stderr.read()
    p.wait()
    print(f"{binary}: ready after {ready:.2f} s, exited {time.monotonic() - t1:.2f} s after SIGINT, rc {p.returncode}")
finally:
    sleeper.kill()
    sleeper.wait()
