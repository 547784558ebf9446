#!/usr/bin/env python3
"""flowtap's benchmark: what capture costs the traffic it watches, and what it keeps.

nginx in one container serves 1 KiB and 64 KiB bodies; oha in another container
loads it. Each scenario runs under three modes, interleaved in a balanced order
that changes round by round, so that the machine's noise and what one trial
leaves for the next hit them alike: no capture, flowtap capturing the nginx
container, and tcpdump writing a pcap of the same bridge. Then
`flowtap replay` of a generated trace on one core, and flowtap's memory with
10,000 idle keep-alive connections. Prints a markdown table and writes it to
--out. Run through scripts/bench.sh, which installs and builds what this needs.
"""
import argparse
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
DOCKER = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else "docker"
IMAGE = "flowtap-base:2"
# Names can be prefixed so that runs on a shared machine don't collide.
NET = os.environ.get("FLOWTAP_BENCH_PREFIX", "flowtap-bench")
BRIDGE = os.environ.get("FLOWTAP_BENCH_BRIDGE", "ftbench0")
SERVER = f"{NET}-nginx"
CLIENT = f"{NET}-client"
FLOWTAP = ROOT / "target" / "release" / "flowtap"
# "baseline" is flowtap too, from another build (--baseline), for A/B in one run.
FLOWTAP_MODES = ("flowtap", "baseline")
CLK_TCK = os.sysconf("SC_CLK_TCK")

TARGETS = {
    "throughput": 0.95,  # × no capture, at saturation
    "p99": 1.10,  # × no capture, at the fixed rate
    "completeness": 1.0,
    "cpu_per_10k": 0.1,  # seconds
    "replay_events_per_s": 1_000_000,
    "idle_rss_mib": 64,
}


@dataclass
class Scenario:
    name: str
    path: str
    keepalive: bool
    requests: int
    connections: int = 50
    rate: int | None = None  # requests/s; None: as fast as it goes
    h2: bool = False  # h2load over h2c (prior knowledge), `streams` per connection
    streams: int = 10
    tls: bool = False  # h2load --h1 over TLS (nginx's port 8443): HTTP/1.1, keep-alive

    @property
    def h2load(self) -> bool:
        return self.h2 or self.tls

    @property
    def label(self) -> str:
        size = self.path.strip("/")
        if self.h2:
            return f"{size} h2c, {self.connections} conn × {self.streams} streams, saturation"
        if self.tls:
            return f"{size} TLS keep-alive, {self.connections} conn, saturation"
        conn = "keep-alive" if self.keepalive else "new conn/req"
        load = f"{self.rate}/s" if self.rate else "saturation"
        return f"{size} {conn}, {load}"


@dataclass
class Trial:
    scenario: str
    mode: str
    round: int
    completed: int = 0
    errors: int = 0
    seconds: float = 0.0
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    cpu_s: float | None = None  # the capturer's utime + stime during the trial
    rss_mib: float | None = None  # the capturer's peak RSS
    events: int | None = None  # flowtap: events seen; tcpdump: packets captured
    lost: int | None = None  # the kernel's drop counter
    flows: int | None = None  # flows written
    flows_ok: int | None = None  # flows with the right method, target and status
    # Truth columns (flowtap with flows): see flow_truth() and the truth table.
    sent: int | None = None  # requests the load generator sent
    gap_bytes: int | None = None  # socket bytes that fell into gaps, from positions
    flows_complete: int | None = None  # flows with `incomplete: null`
    flows_incomplete: int | None = None  # flows that say `incomplete`
    notes: list[str] = field(default_factory=list)


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def sh(*args, check=True, capture=True, timeout=600) -> str:
    r = subprocess.run(
        [str(a) for a in args],
        check=False,
        text=True,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.PIPE if capture else None,
        timeout=timeout,
    )
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} failed ({r.returncode}): {r.stderr}")
    return r.stdout or ""


# ---------------------------------------------------------------- environment


class Bench:
    """The containers, network and work directory, torn down in `close`."""

    def __init__(self, work: Path, oha: Path):
        self.work = work
        self.oha = oha
        self.server_ip = ""
        self.server_id = ""

    def up(self) -> None:
        self.down()
        www = self.work / "www"
        www.mkdir(parents=True, exist_ok=True)
        tls = self.work / "tls"
        tls.mkdir(exist_ok=True)
        make_cert(tls)
        for name, size in (("1k", 1024), ("64k", 65536)):
            (www / name).write_bytes(body_bytes(size))
        os.chmod(www, 0o755)
        sh(DOCKER, "network", "create", "--driver", "bridge",
           "-o", f"com.docker.network.bridge.name={BRIDGE}", NET)
        # 20,000 is this machine's hard limit for dockerd too, and room for 10,000 idle
        # connections; without CAP_SYS_RESOURCE a container cannot get more.
        common = ["--network", NET, "--ulimit", "nofile=20000:20000", "-v", "/usr:/usr:ro"]
        self.server_id = sh(
            DOCKER, "run", "-d", "--name", SERVER, *common,
            "-v", f"{HERE / 'nginx.conf'}:/bench/nginx.conf:ro",
            "-v", f"{www}:/bench/www:ro",
            "-v", f"{tls}:/bench/tls:ro",
            IMAGE, "/usr/sbin/nginx", "-c", "/bench/nginx.conf", "-g", "daemon off;",
        ).strip()
        sh(
            DOCKER, "run", "-d", "--name", CLIENT, *common,
            # New-connection runs open tens of thousands of connections a minute.
            "--sysctl", "net.ipv4.ip_local_port_range=1024 65000",
            "--sysctl", "net.ipv4.tcp_tw_reuse=1",
            *(["-v", f"{self.oha}:/bench-bin/oha:ro"] if self.oha.exists() else []),
            "-v", f"{HERE}:/bench:ro",
            IMAGE, "/usr/bin/sleep", "infinity",
        )
        self.server_ip = sh(
            DOCKER, "inspect", "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", SERVER,
        ).strip()
        for _ in range(50):
            r = subprocess.run(
                [DOCKER, "exec", CLIENT, "/usr/bin/curl", "-sf", "-o", "/dev/null",
                 f"http://{self.server_ip}/1k"],
                capture_output=True,
            )
            if r.returncode == 0:
                return
            time.sleep(0.2)
        logs = sh(DOCKER, "logs", SERVER, check=False)
        raise RuntimeError(f"nginx did not answer at {self.server_ip}: {logs}")

    @property
    def cgroup(self) -> str:
        # This host has cgroup v1 with the unified hierarchy at /sys/fs/cgroup/unified;
        # a pure cgroup v2 host has it at /sys/fs/cgroup.
        for base in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
            for rel in (f"docker/{self.server_id}", f"system.slice/docker-{self.server_id}.scope"):
                p = Path(base) / rel
                if (p / "cgroup.procs").exists():
                    return str(p)
        raise RuntimeError(f"no cgroup v2 directory for container {self.server_id}")

    def down(self) -> None:
        wait_for_docker()
        for c in (SERVER, CLIENT):
            subprocess.run([DOCKER, "rm", "-f", c], capture_output=True)
        subprocess.run([DOCKER, "network", "rm", NET], capture_output=True)

    def load(self, sc: Scenario) -> dict:
        if sc.h2load:
            return self.load_h2(sc)
        cmd = [DOCKER, "exec", CLIENT, "/bench-bin/oha", "--no-tui", "--output-format", "json",
               "-n", str(sc.requests), "-c", str(sc.connections)]
        if not sc.keepalive:
            cmd.append("--disable-keepalive")
        if sc.rate:
            cmd += ["-q", str(sc.rate)]
        cmd.append(f"http://{self.server_ip}{sc.path}")
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError(f"oha failed ({r.returncode}): {r.stderr[-2000:]}")
        return json.loads(r.stdout)


    def load_h2(self, sc: Scenario) -> dict:
        """h2load (nghttp2-client, from the host's /usr) against nginx's h2c port,
        or with --h1 against its TLS port, its report put in the shape oha's JSON
        has (no latency percentiles)."""
        cmd = [DOCKER, "exec", CLIENT, "/usr/bin/h2load", "-n", str(sc.requests),
               "-c", str(sc.connections)]
        if sc.tls:
            cmd += ["--h1", f"https://{self.server_ip}:8443{sc.path}"]
        else:
            cmd += ["-m", str(sc.streams), f"http://{self.server_ip}:8080{sc.path}"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError(f"h2load failed ({r.returncode}): {r.stderr[-2000:]}")
        took = re.search(r"finished in ([\d.]+)(m?s)", r.stdout)
        codes = re.search(r"status codes: (\d+) 2xx", r.stdout)
        if not took or not codes:
            raise RuntimeError(f"h2load said: {r.stdout[-2000:]}")
        secs = float(took.group(1)) / (1000 if took.group(2) == "ms" else 1)
        return {"summary": {"total": secs}, "statusCodeDistribution": {"200": int(codes.group(1))},
                "latencyPercentiles": {}}


def make_cert(d: Path) -> None:
    """A self-signed certificate for nginx's TLS port (h2load does not verify it)."""
    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
       "-keyout", str(d / "server.key"), "-out", str(d / "server.crt"),
       "-subj", "/CN=flowtap-bench")
    os.chmod(d, 0o755)
    os.chmod(d / "server.key", 0o644)


def wait_for_docker(seconds: int = 90) -> None:
    """Waits for dockerd to answer; another user of the machine may be restarting it."""
    for _ in range(seconds):
        if subprocess.run([DOCKER, "info"], capture_output=True).returncode == 0:
            return
        time.sleep(1)
    log("dockerd does not answer")


def body_bytes(size: int) -> bytes:
    line = b"flowtap benchmark body 0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRS\n"
    return (line * (size // len(line) + 1))[:size]


# ---------------------------------------------------------------- capturers


class Capturer:
    """A capture process: started before the load, stopped with SIGINT after it."""

    name = ""

    def __init__(self, bench: Bench, work: Path):
        self.bench = bench
        self.work = work
        self.proc: subprocess.Popen | None = None
        self.err_path = work / f"{self.name}.stderr"
        self.cpu_at_ready = 0.0

    def command(self) -> list[str]:
        raise NotImplementedError

    ready_text = ""

    def start(self) -> None:
        self.err = open(self.err_path, "w+")
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=self.err,
                                     start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.ready_text in self.err_path.read_text(errors="replace"):
                self.cpu_at_ready = proc_cpu(self.proc.pid)
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"{self.name} did not get ready: {self.err_path.read_text()[-2000:]}")

    def stop(self) -> tuple[float, float, str]:
        """Lets the capturer drain, SIGINT, wait; returns (CPU seconds from ready
        to drained, so neither start-up nor teardown counts; peak RSS MiB; stderr)."""
        assert self.proc is not None
        cpu = drained_cpu(self.proc.pid) - self.cpu_at_ready
        self.proc.send_signal(signal.SIGINT)
        _, status, ru = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.err.close()
        text = self.err_path.read_text(errors="replace")
        if self.proc.returncode not in (0, -signal.SIGINT):
            raise RuntimeError(f"{self.name} exited {self.proc.returncode}: {text[-2000:]}")
        self.proc = None
        return cpu, ru.ru_maxrss / 1024, text

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


class Flowtap(Capturer):
    name = "flowtap"
    ready_text = "ready"

    def __init__(self, bench: Bench, work: Path, flows: bool, by_container: bool,
                 extra: list[str] | None = None, binary: Path = FLOWTAP):
        super().__init__(bench, work)
        self.binary = binary
        self.flows = flows
        self.by_container = by_container
        self.extra = extra or []
        self.out = work / "flows.jsonl"

    def command(self) -> list[str]:
        scope = (["--container", SERVER] if self.by_container
                 else ["--cgroup", self.bench.cgroup])
        out = ["-o", str(self.out)] if self.flows else []
        return [str(self.binary), "capture", *scope, *out, *self.extra]


class Tcpdump(Capturer):
    name = "tcpdump"
    ready_text = "listening on"

    def command(self) -> list[str]:
        return ["tcpdump", "-i", BRIDGE, "-w", str(self.work / "bench.pcap")]


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15; the split starts at field 3.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def drained_cpu(pid: int) -> float:
    """The process's CPU seconds once it has stopped using CPU: the load is over,
    and what the capturer still had queued has been processed."""
    last = proc_cpu(pid)
    for _ in range(100):
        time.sleep(0.2)
        now = proc_cpu(pid)
        if now - last <= 0.01:  # one clock tick: idle polling
            return now
        last = now
    return last


def ring_mapping_kib(pid: int) -> int:
    """Resident KiB of the process's BPF map mappings: the ring buffer, which the
    kernel maps in full (its data pages twice, for wrap-around)."""
    total, in_bpf = 0, False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            in_bpf = "anon_inode:bpf-map" in line
        elif in_bpf and line.startswith("Rss:"):
            total += int(line.split()[1])
    return total


def proc_status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {key} in /proc/{pid}/status")


def flow_truth(t: Trial, path: Path) -> None:
    """Counts the flows written complete and those that say `incomplete`."""
    complete = incomplete = 0
    with open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                flow = json.loads(line)
            except ValueError:
                incomplete += 1
                continue
            if flow.get("incomplete") is None:
                complete += 1
            else:
                incomplete += 1
    t.flows_complete, t.flows_incomplete = complete, incomplete


def count_flows(path: Path, method: str, target: str, status: int) -> tuple[int, int]:
    """(flows written, flows with this method, target and status)."""
    total = ok = 0
    with open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            total += 1
            try:
                flow = json.loads(line)
            except ValueError:
                continue
            req = flow.get("request") or {}
            resp = flow.get("response") or {}
            if (req.get("method") == method and req.get("target") == target
                    and resp.get("status") == status):
                ok += 1
    return total, ok


# ---------------------------------------------------------------- trials


def run_trial(bench: Bench, sc: Scenario, mode: str, rnd: int, work: Path, opts) -> Trial:
    t = Trial(scenario=sc.name, mode=mode, round=rnd)
    cap: Capturer | None = None
    if mode in FLOWTAP_MODES:
        binary = Path(opts.baseline) if mode == "baseline" else FLOWTAP
        cap = Flowtap(bench, work, flows=opts.flows, by_container=opts.by_container,
                      extra=opts.flowtap_args.split(), binary=binary)
    elif mode == "tcpdump":
        cap = Tcpdump(bench, work)
    try:
        if cap:
            cap.start()
        res = bench.load(sc)
        if cap:
            t.cpu_s, t.rss_mib, text = cap.stop()
            parse_capturer_summary(t, mode, text)
    finally:
        if cap:
            cap.kill()
    summary = res["summary"]
    dist = res.get("statusCodeDistribution", {})
    t.completed = int(dist.get("200", 0))
    t.errors = sc.requests - t.completed
    t.seconds = summary["total"]
    t.rps = t.completed / t.seconds if t.seconds else 0.0
    pct = res.get("latencyPercentiles", {})
    t.p50_ms = (pct.get("p50") or 0) * 1000
    t.p99_ms = (pct.get("p99") or 0) * 1000
    if mode in FLOWTAP_MODES and opts.flows and isinstance(cap, Flowtap):
        t.flows, t.flows_ok = count_flows(cap.out, "GET", sc.path, 200)
        flow_truth(t, cap.out)
        t.sent = sc.requests
        cap.out.unlink(missing_ok=True)
    for leftover in ("bench.pcap", "flows.jsonl"):
        (work / leftover).unlink(missing_ok=True)
    return t


def trial_with_retry(bench: Bench, sc: Scenario, mode: str, rnd: int, work: Path, opts):
    """A trial; when it fails (on a shared machine someone may restart dockerd,
    which kills the containers), bring the containers back and try once more."""
    for attempt in (1, 2):
        try:
            return run_trial(bench, sc, mode, rnd, work, opts)
        except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as e:
            log(f"trial {sc.name}/{mode} failed (attempt {attempt}): {str(e)[:300]}")
            time.sleep(5)
            wait_for_docker()
            bench.up()
    return None


def parse_capturer_summary(t: Trial, mode: str, text: str) -> None:
    if mode in FLOWTAP_MODES:
        m = re.search(r"(\d+) events seen", text)
        t.events = int(m.group(1)) if m else None
        m = re.search(r"(\d+) events lost", text)
        t.lost = int(m.group(1)) if m else None
        m = re.search(r"(\d+) bytes in gaps", text)
        t.gap_bytes = int(m.group(1)) if m else None
    else:
        m = re.search(r"(\d+) packets captured", text)
        t.events = int(m.group(1)) if m else None
        m = re.search(r"(\d+) packets dropped by kernel", text)
        t.lost = int(m.group(1)) if m else None


def balanced_order(n: int, row: int) -> list[int]:
    """Row `row` of a Williams square: over n rows (2n when n is odd) every mode
    comes right after every other mode equally often. A plain rotation
    (A/B/C/D, B/C/D/A…) puts each mode after the same one every round, so
    whatever a trial leaves behind (on these VMs, page-cache pages freed by the
    previous trial's deleted output, 8× faster to write into than pages the
    host has taken back) always favoured the same mode."""
    first, lo, hi = [0], 1, n - 1
    while len(first) < n:
        first.append(lo)
        lo += 1
        if len(first) < n:
            first.append(hi)
            hi -= 1
    order = [(m + row) % n for m in first]
    return order[::-1] if n % 2 and (row // n) % 2 else order


def interleaved(scenarios, modes, rounds):
    """Round r runs every scenario, its modes in a balanced order that changes
    with r (and with the scenario, so that scenarios differ too)."""
    for r in range(rounds):
        for i, sc in enumerate(scenarios):
            for k in balanced_order(len(modes), r + i):
                yield r, sc, modes[k]


# ---------------------------------------------------------------- replay and idle


def bench_replay(work: Path, opts, mix: str) -> dict:
    trace = Path(opts.trace_dir) / f"flowtap-replay-{mix}-{opts.replay_events}.trace.jsonl"
    meta_path = trace.with_suffix(".meta.json")
    gen = HERE / "gen-trace.py"
    if not (trace.exists() and meta_path.exists()
            and meta_path.stat().st_mtime > gen.stat().st_mtime):
        log(f"generating a {opts.replay_events}-event trace ({mix} mix) in {trace}")
        out = sh(sys.executable, gen, trace, "--events", opts.replay_events, "--mix", mix)
        meta_path.write_text(out)
    meta = json.loads(meta_path.read_text())
    # What `capture --record` writes by default: the compact format.
    compact = trace.with_suffix(".ftrace")
    if not (compact.exists() and compact.stat().st_mtime > trace.stat().st_mtime):
        sh(str(FLOWTAP), "trace", trace, "-o", compact)

    def timed(path: Path):
        # Page the trace in once so every timed run reads from the page cache.
        subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)
        runs = []
        for _ in range(opts.replay_runs):
            start = time.perf_counter()
            r = subprocess.run(
                ["taskset", "-c", "0", str(FLOWTAP), "replay", str(path), "-o", "/dev/null"],
                capture_output=True, text=True,
            )
            wall = time.perf_counter() - start
            if r.returncode != 0:
                return None, r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "failed"
            runs.append(wall)
        return runs, None

    runs, error = timed(compact)
    json_runs, json_error = timed(trace)
    if error or json_error:
        return {"error": error or json_error, **meta}
    wall = statistics.median(runs)
    return {
        **meta,
        "mix": mix,
        "seconds": wall,
        "runs": runs,
        "events_per_s": meta["events"] / wall,
        "payload_mb_per_s": meta["payload_bytes"] / wall / 1e6,
        "trace_mb": compact.stat().st_size / 1e6,
        "json_events_per_s": meta["events"] / statistics.median(json_runs),
    }


def bench_idle(bench: Bench, work: Path, opts, extra: list[str]) -> dict:
    cap = Flowtap(bench, work, flows=opts.flows, by_container=opts.by_container,
                  extra=opts.flowtap_args.split() + extra)
    cap.start()
    holder = None
    try:
        rss_before = proc_status_kib(cap.proc.pid, "VmRSS") / 1024
        holder = subprocess.Popen(
            [DOCKER, "exec", "-i", CLIENT, "/usr/bin/python3", "/bench/idle.py",
             bench.server_ip, "80", str(opts.idle_connections)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        line = holder.stdout.readline()
        if not line.startswith("held"):
            raise RuntimeError(f"idle client failed: {line} {holder.stderr.read()[-2000:]}")
        held = int(line.split()[1])
        time.sleep(3)  # let flowtap drain the events of the burst
        rss = proc_status_kib(cap.proc.pid, "VmRSS") / 1024
        hwm = proc_status_kib(cap.proc.pid, "VmHWM") / 1024
        anon = proc_status_kib(cap.proc.pid, "RssAnon") / 1024
        ring = ring_mapping_kib(cap.proc.pid) / 1024
        holder.stdin.close()
        holder.wait(timeout=60)
        holder = None
        _, _, text = cap.stop()
        lost = re.search(r"(\d+) events lost", text)
        return {"connections": held, "rss_mib": rss, "hwm_mib": hwm, "anon_mib": anon,
                "ring_mib": ring,
                "rss_before_mib": rss_before, "lost": int(lost.group(1)) if lost else None}
    finally:
        if holder and holder.poll() is None:
            holder.kill()
        cap.kill()


# ---------------------------------------------------------------- report


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, spec=",.0f", none="–"):
    return none if v is None else format(v, spec)


def verdict(ok: bool | None) -> str:
    return "–" if ok is None else ("met" if ok else "**missed**")


def cpu_busy() -> tuple[int, int]:
    parts = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    vals = list(map(int, parts))
    idle = vals[3] + vals[4]
    return sum(vals) - idle, sum(vals)


def truth_table(by, scenarios) -> list[str]:
    """flowtap's truth per scenario, summed over its rounds: what the kernel lost,
    what fell into gaps, and what became of the requests the load generator sent.
    A request may go without a flow only when its own bytes fell into a gap."""
    rows = []
    for sc in scenarios:
        ts = [t for t in by.get((sc.name, "flowtap"), []) if t.flows_complete is not None]
        if not ts:
            continue
        total = lambda k: (sum(getattr(t, k) for t in ts)  # noqa: E731
                           if all(getattr(t, k) is not None for t in ts) else None)
        sent, flows = total("sent"), total("flows")
        no_flow = max(0, sent - flows) if sent is not None and flows is not None else None
        rows.append(f"| {sc.label} | {len(ts)} | {fmt(sent, ',d')} | {fmt(total('lost'), ',d')} "
                    f"| {fmt(total('gap_bytes'), ',d')} | {fmt(total('flows_complete'), ',d')} "
                    f"| {fmt(total('flows_incomplete'), ',d')} | {fmt(no_flow, ',d')} |")
    if not rows:
        return []
    return ["flowtap's truth per scenario (all rounds summed; server-side flows): events "
            "the kernel lost, socket bytes that fell into gaps (known from byte positions), "
            "flows written complete and flows that say `incomplete`, and requests sent "
            "with no flow at all.",
            "",
            "| scenario | rounds | requests sent | events lost | bytes in gaps | flows complete "
            "| flows incomplete | requests with no flow |",
            "|---|---|---|---|---|---|---|---|",
            *rows,
            ""]


def report(trials, scenarios, modes, replay, idle_runs, env, opts) -> str:
    by = {}
    for t in trials:
        by.setdefault((t.scenario, t.mode), []).append(t)
    out = []
    out.append(f"flowtap benchmark, {env['date']} — {env['machine']}")
    out.append("")
    out.append(f"Command: `{env['command']}`  ")
    out.append(f"Rounds: {opts.rounds} per mode, interleaved; figures are medians "
               f"(min–max for requests/s). Machine before the run: {env['idle_busy']:.0f}% CPU busy "
               f"with other work, load average {env['load_before']}; during the run "
               f"{env['run_busy']:.0f}% busy (all processes, the benchmark's own included), "
               f"1-minute load average min / median / max {env['loads']} (sampled every 10 s; "
               f"the benchmark alone keeps it near 2).  ")
    if env.get("failures"):
        out.append(f"Trials that failed twice and are left out: {', '.join(env['failures'])}.  ")
    out.append(f"flowtap mode: {env['flowtap_mode']}. tcpdump mode: `tcpdump -i {BRIDGE} -w FILE` "
               "(events = packets captured, lost = dropped by kernel).")
    out.append("")
    out.append("| scenario | mode | requests/s | × none | p50 ms | × none | p99 ms | × none "
               "| capture CPU s / 10k req | capture peak RSS MiB | events/s | events lost "
               "| completeness |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    summary = {}
    for sc in scenarios:
        base = by.get((sc.name, "none"), [])
        base_rps = med([t.rps for t in base])
        base_p50 = med([t.p50_ms for t in base])
        base_p99 = med([t.p99_ms for t in base])
        for mode in modes:
            ts = by.get((sc.name, mode), [])
            if not ts:
                continue
            rps = med([t.rps for t in ts])
            p50 = med([t.p50_ms for t in ts])
            p99 = med([t.p99_ms for t in ts])
            cpu = med([t.cpu_s / t.completed * 10_000 if t.cpu_s is not None and t.completed
                       else None for t in ts])
            rss = max([t.rss_mib for t in ts if t.rss_mib is not None], default=None)
            eps = med([t.events / t.seconds if t.events is not None and t.seconds else None
                       for t in ts])
            lost = sum(t.lost for t in ts if t.lost is not None) if any(
                t.lost is not None for t in ts) else None
            if all(t.flows_ok is not None for t in ts) and mode in FLOWTAP_MODES:
                ok = sum(t.flows_ok for t in ts)
                done = sum(t.completed for t in ts)
                compl = f"{ok:,}/{done:,} = {ok / done:.2%}" if done else "–"
                compl_ratio = ok / done if done else None
            else:
                compl, compl_ratio = "–", None
            rng = f"{fmt(rps)} ({fmt(min(t.rps for t in ts))}–{fmt(max(t.rps for t in ts))})"
            ratio = lambda v, b: fmt(v / b, ".2f") if v is not None and b else "–"  # noqa: E731
            lat = sc.rate is not None
            out.append(
                f"| {sc.label} | {mode} | {rng} | {ratio(rps, base_rps) if mode != 'none' else ''} "
                f"| {fmt(p50, '.2f') if lat else ''} | {ratio(p50, base_p50) if lat and mode != 'none' else ''} "
                f"| {fmt(p99, '.2f') if lat else ''} | {ratio(p99, base_p99) if lat and mode != 'none' else ''} "
                f"| {fmt(cpu, '.3f') if mode != 'none' else ''} | {fmt(rss, '.1f') if mode != 'none' else ''} "
                f"| {fmt(eps) if mode != 'none' else ''} | {fmt(lost, ',d') if mode != 'none' else ''} "
                f"| {compl if mode in FLOWTAP_MODES else ''} |")
            summary[(sc.name, mode)] = dict(
                rps_ratio=rps / base_rps if base_rps and rps else None,
                p99_ratio=p99 / base_p99 if lat and base_p99 and p99 else None,
                cpu=cpu, lost=lost, completeness=compl_ratio)
    out.append("")
    out.extend(truth_table(by, scenarios))
    if not replay:
        out.append("Replay: not run.")
    for mix, r in replay.items():
        what = {"realistic": "1 KiB GETs, 2 KiB JSON POSTs, one 64 KiB GET in 50; both observers",
                "small": "GETs answered by 2-byte bodies"}[mix]
        if r.get("error"):
            out.append(f"Replay ({mix}): `flowtap replay` failed: {r['error']}")
            continue
        out.append(
            f"Replay, {mix} trace ({what}; `taskset -c 0 flowtap replay TRACE -o /dev/null`, "
            f"median of {len(r['runs'])}): {r['events']:,} events, {r['exchanges']:,} "
            f"exchanges, {r['payload_bytes'] / 1e6:,.0f} MB of payload "
            f"({r['trace_mb']:,.0f} MB compact trace) in {r['seconds']:.2f} s = "
            f"**{r['events_per_s']:,.0f} events/s, {r['payload_mb_per_s']:,.0f} MB/s "
            f"of payload** on one core; the same trace as JSON Lines: "
            f"{r['json_events_per_s']:,.0f} events/s.  ")
    out.append("")
    for extra, idle in idle_runs.items():
        out.append(
            f"Idle connections{f' (with `{extra}`)' if extra else ''}: flowtap RSS "
            f"{idle['rss_mib']:.1f} MiB (peak {idle['hwm_mib']:.1f} "
            f"MiB; {idle['rss_before_mib']:.1f} MiB before the connections; of the RSS, "
            f"{idle['ring_mib']:.1f} MiB is the mapping of the kernel's ring buffer and "
            f"{idle['anon_mib']:.1f} MiB anonymous memory, i.e. heap) with {idle['connections']:,} open "
            f"keep-alive connections to nginx, each after one request; events lost: "
            f"{fmt(idle['lost'], ',d')}.")
        out.append("")

    # Targets.
    out.append("| target | measured | verdict |")
    out.append("|---|---|---|")
    for sc in scenarios:
        s = summary.get((sc.name, "flowtap"))
        if not s:
            continue
        if sc.rate is None:
            r = s["rps_ratio"]
            out.append(f"| throughput ≥ {TARGETS['throughput']} × none ({sc.label}) "
                       f"| {fmt(r, '.2f')} | {verdict(None if r is None else r >= TARGETS['throughput'])} |")
        else:
            r = s["p99_ratio"]
            out.append(f"| p99 ≤ {TARGETS['p99']} × none ({sc.label}) | {fmt(r, '.2f')} "
                       f"| {verdict(None if r is None else r <= TARGETS['p99'])} |")
        if sc.rate is not None or sc.path == "/1k":
            c, lost = s["completeness"], s["lost"]
            ok = None if c is None else (c >= 1.0 and lost == 0)
            out.append(f"| completeness 100 % and 0 lost ({sc.label}) "
                       f"| {fmt(c, '.2%') if c is not None else 'no flows'}, {fmt(lost, ',d')} lost "
                       f"| {verdict(ok)} |")
    for sc in scenarios:
        cpu = summary.get((sc.name, "flowtap"), {}).get("cpu")
        if cpu is not None:
            out.append(f"| flowtap CPU ≤ {TARGETS['cpu_per_10k']} s / 10k requests ({sc.label}) "
                       f"| {cpu:.3f} s | {verdict(cpu <= TARGETS['cpu_per_10k'])} |")
    for mix, r in replay.items():
        if r.get("events_per_s"):
            e = r["events_per_s"]
            out.append(f"| replay ≥ 1 M events/s on one core ({mix} trace) | {e:,.0f} "
                       f"| {verdict(e >= TARGETS['replay_events_per_s'])} |")
    if not replay:
        out.append("| replay ≥ 1 M events/s on one core | not measured | – |")
    for extra, idle in idle_runs.items():
        out.append(f"| RSS ≤ {TARGETS['idle_rss_mib']} MiB with {idle['connections']:,} idle "
                   f"connections{f' (`{extra}`)' if extra else ''} | {idle['rss_mib']:.1f} MiB "
                   f"| {verdict(idle['rss_mib'] <= TARGETS['idle_rss_mib'])} |")
    out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------- main


def interrupted(*_):
    raise KeyboardInterrupt


def flowtap_has_flows() -> bool:
    """Whether this build writes flows (`replay` of an empty trace succeeds)."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl") as f:
        r = subprocess.run([str(FLOWTAP), "replay", f.name, "-o", "/dev/null"],
                           capture_output=True)
        return r.returncode == 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 round, fewer requests: for development")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--settle", type=float, default=4.0,
                    help="seconds of quiet before each load trial (freed page-cache pages "
                         "go back to the host on these VMs after about 2 s)")
    ap.add_argument("--rate", type=int, default=5000, help="fixed rate for the latency scenario")
    ap.add_argument("--out", default=str(ROOT / "bench-results.md"))
    ap.add_argument("--oha", default=shutil.which("oha") or str(Path.home() / ".cargo/bin/oha"))
    ap.add_argument("--replay-events", type=int, default=1_000_000)
    ap.add_argument("--replay-runs", type=int, default=3)
    ap.add_argument("--trace-dir", default="/var/tmp", help="where the generated trace is kept")
    ap.add_argument("--idle-connections", type=int, default=10_000)
    ap.add_argument("--only", help="comma-separated scenario names")
    ap.add_argument("--skip", default="", help="comma-separated: load,replay,idle")
    ap.add_argument("--flowtap-args", default="",
                    help="extra arguments for `flowtap capture`, e.g. '--ring-mib 16'")
    ap.add_argument("--baseline", metavar="FLOWTAP",
                    help="another flowtap binary, run as mode 'baseline' interleaved with the "
                         "others: A/B a change in one run")
    ap.add_argument("--flowtap-scope", choices=["cgroup", "container"], default="container",
                    help="how flowtap is pointed at nginx: --cgroup DIR or --container NAME")
    ap.add_argument("--report-from", metavar="JSON",
                    help="print the report of an earlier run from its .json, measuring nothing")
    opts = ap.parse_args()
    scale = 5 if opts.quick else 1
    if opts.quick:
        opts.rounds = 1
        opts.replay_runs = 1
    scenarios = [
        Scenario("1k-ka", "/1k", True, 150_000 // scale),
        Scenario("1k-new", "/1k", False, 30_000 // scale),
        Scenario("64k-ka", "/64k", True, 40_000 // scale),
        Scenario("64k-new", "/64k", False, 15_000 // scale),
        Scenario("rate-1k-ka", "/1k", True, opts.rate * 10 // scale, rate=opts.rate),
        Scenario("h2-1k", "/1k", True, 100_000 // scale, connections=10, h2=True),
        Scenario("tls-1k-ka", "/1k", True, 100_000 // scale, tls=True),
    ]
    if opts.only:
        keep = set(opts.only.split(","))
        scenarios = [s for s in scenarios if s.name in keep]
    skip = set(filter(None, opts.skip.split(",")))
    modes = ["none", "flowtap", "tcpdump"] + (["baseline"] if opts.baseline else [])
    if opts.report_from:
        saved = json.loads(Path(opts.report_from).read_text())
        trials = [Trial(**t) for t in saved["trials"]]
        ran = {t.scenario for t in trials}
        opts.rounds = 1 + max((t.round for t in trials), default=0)
        print(report(trials, [sc for sc in scenarios if sc.name in ran], modes,
                     saved["replay"], saved["idle"], saved["env"], opts))
        return 0
    if os.geteuid() != 0:
        log("must run as root (BPF, tcpdump, docker)")
        return 1
    if not Path(opts.oha).exists() and not all(sc.h2load for sc in scenarios):
        log(f"oha not found at {opts.oha}; run scripts/bench.sh, which installs it")
        return 1
    # Without CAP_SYS_RESOURCE only the soft limit can rise; flowtap itself opens
    # no sockets, so the hard limit is plenty.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # SIGTERM unwinds like Ctrl-C, so the finally below removes containers.
    signal.signal(signal.SIGTERM, interrupted)
    opts.flows = flowtap_has_flows()
    opts.by_container = opts.flowtap_scope == "container"
    env = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} CPUs, Linux {os.uname().release}",
        "command": os.environ.get("BENCH_COMMAND")
        or " ".join(["scripts/bench/bench.py", *sys.argv[1:]]),
        "load_before": Path("/proc/loadavg").read_text().split()[0],
        "flowtap_mode": (
            f"`flowtap capture {'--container NGINX' if opts.by_container else '--cgroup NGINX_CGROUP'}"
            f"{' -o flows.jsonl' if opts.flows else ''}`"
            + (f" plus `{opts.flowtap_args}`" if opts.flowtap_args else "")
            + ("" if opts.flows else " (this build has no flow engine: events only, no flows file)")),
    }
    b0 = cpu_busy()
    time.sleep(3)
    b1 = cpu_busy()
    env["idle_busy"] = 100 * (b1[0] - b0[0]) / max(1, b1[1] - b0[1])
    loads: list[float] = []
    sampling = threading.Event()

    def sample_load():
        while not sampling.wait(10):
            loads.append(float(Path("/proc/loadavg").read_text().split()[0]))

    threading.Thread(target=sample_load, daemon=True).start()
    work = Path(tempfile.mkdtemp(prefix="flowtap-bench."))
    bench = Bench(work, Path(opts.oha))
    trials: list[Trial] = []
    failures: list[str] = []
    replay, idle = {}, {}
    try:
        if "replay" not in skip:
            log("replay")
            replay = {mix: bench_replay(work, opts, mix) for mix in ("realistic", "small")}
        if not ("load" in skip and "idle" in skip):
            bench.up()
        if "load" not in skip:
            total = opts.rounds * len(scenarios) * len(modes)
            for i, (r, sc, mode) in enumerate(interleaved(scenarios, modes, opts.rounds), 1):
                # The previous trial's output is deleted by now; let the pages it
                # freed go back to the host, so that no trial writes into pages
                # another trial left warm.
                time.sleep(opts.settle)
                t = trial_with_retry(bench, sc, mode, r, work, opts)
                if t is None:
                    failures.append(f"round {r + 1} {sc.name} {mode}")
                    continue
                trials.append(t)
                log(f"[{i}/{total}] round {r + 1} {sc.name:10} {mode:8} {t.rps:10,.0f} req/s "
                    f"p99 {t.p99_ms:7.2f} ms cpu {fmt(t.cpu_s, '.2f')} s events {fmt(t.events, ',d')} "
                    f"lost {fmt(t.lost, ',d')} flows {fmt(t.flows_ok, ',d')}/{t.completed:,}")
        if "idle" not in skip:
            log(f"idle: {opts.idle_connections} connections")
            # Also with a ring that starts small and grows by need: the ring's
            # mapping is most of the RSS.
            idle = {"": bench_idle(bench, work, opts, [])}
            if "--ring" not in opts.flowtap_args:
                idle["--ring-start-mib 8"] = bench_idle(bench, work, opts,
                                                        ["--ring-start-mib", "8"])
    finally:
        bench.down()
        shutil.rmtree(work, ignore_errors=True)
    b2 = cpu_busy()
    env["run_busy"] = 100 * (b2[0] - b1[0]) / max(1, b2[1] - b1[1])
    env["load_after"] = Path("/proc/loadavg").read_text().split()[0]
    sampling.set()
    env["failures"] = failures
    env["loads"] = (f"{min(loads):.1f} / {statistics.median(loads):.1f} / {max(loads):.1f}"
                    if loads else "–")
    text = report(trials, scenarios, modes, replay, idle, env, opts)
    Path(opts.out).write_text(text)
    (Path(opts.out).with_suffix(".json")).write_text(json.dumps(
        {"env": env, "trials": [t.__dict__ for t in trials], "replay": replay, "idle": idle},
        indent=1))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
