#!/usr/bin/env bash
# The README's main command: set up the machine, build flowtap, bring the demo
# compose app up, capture while its client makes a known mix of requests, and
# leave flows.jsonl (plus the raw trace demo.trace.jsonl) with a one-line summary.
#
#   sudo scripts/demo.sh [extra flags for `flowtap capture`, e.g. --container flowtap-demo_api_1]
#
# Environment: FLOWS (default flows.jsonl), TRACE (default demo.trace.jsonl),
# DEMO_OUT (default demo-out/: the client's manifest.json and capture.log),
# FLOWTAP (a flowtap binary to use instead of building one).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DOCKER=/usr/bin/docker
PROJECT=flowtap-demo  # a name no user project is likely to have: `down` below acts on it
COMPOSE=(docker-compose -f "$ROOT/fixtures/demo/docker-compose.yml" -p "$PROJECT")
FLOWS="$(realpath -m "${FLOWS:-flows.jsonl}")"
TRACE="$(realpath -m "${TRACE:-demo.trace.jsonl}")"
export DEMO_OUT="$(realpath -m "${DEMO_OUT:-demo-out}")"
CAPTURE_LOG="$DEMO_OUT/capture.log"

say() { echo "demo: $*" >&2; }

"$ROOT/scripts/setup.sh"
if [ -z "${FLOWTAP:-}" ]; then
  say "building flowtap (release)"
  (cd "$ROOT" && cargo build --release --quiet)
  FLOWTAP="$ROOT/target/release/flowtap"
fi
"$ROOT/scripts/build-images.sh"

capture_pid=""
cleanup() {
  if [ -n "$capture_pid" ] && kill -0 "$capture_pid" 2>/dev/null; then
    kill -TERM "$capture_pid" 2>/dev/null || true
    wait "$capture_pid" 2>/dev/null || true
  fi
  "${COMPOSE[@]}" --profile client down --remove-orphans -t 1 >/dev/null 2>&1 || true
}
trap cleanup EXIT

mkdir -p "$DEMO_OUT"
rm -f "$DEMO_OUT/manifest.json" "$FLOWS" "$TRACE"
"${COMPOSE[@]}" --profile client down --remove-orphans -t 1 >/dev/null 2>&1 || true
say "starting the demo services"
"${COMPOSE[@]}" up -d api web gosrv proxy

say "starting flowtap capture (log: $CAPTURE_LOG)"
# With job control on, the background capture does not inherit an ignored SIGINT
# (non-interactive shells ignore it in background jobs), so SIGINT stops it.
set -m
# --merge: both ends of every demo exchange are traced, so each exchange is one
# flow (observer "both"); `flowtap replay "$TRACE"` gives the per-observer flows.
"$FLOWTAP" capture -o "$FLOWS" --merge --record "$TRACE" --compose-project "$PROJECT" "$@" \
  2>"$CAPTURE_LOG" &
capture_pid=$!
set +m
for _ in $(seq 1 600); do
  if grep -q ready "$CAPTURE_LOG" 2>/dev/null; then break; fi
  if ! kill -0 "$capture_pid" 2>/dev/null; then
    say "flowtap capture exited before it was ready:"
    cat "$CAPTURE_LOG" >&2
    exit 1
  fi
  sleep 0.1
done
grep -q ready "$CAPTURE_LOG" || { say "flowtap capture not ready after 60 s"; exit 1; }

say "running the client"
client_status=0
"${COMPOSE[@]}" --profile client run --rm client >&2 || client_status=$?

# Let the last responses and closes reach flowtap before stopping it.
sleep 1
stop_capture() {
  kill -INT "$capture_pid" 2>/dev/null || true
  for _ in $(seq 1 300); do
    kill -0 "$capture_pid" 2>/dev/null || return 0
    sleep 0.1
  done
  say "flowtap capture did not stop 30 s after SIGINT; sending SIGTERM"
  kill -TERM "$capture_pid" 2>/dev/null || true
}
stop_capture
capture_status=0
wait "$capture_pid" || capture_status=$?
capture_pid=""
"${COMPOSE[@]}" --profile client down --remove-orphans -t 1 >/dev/null 2>&1 || true

if [ "$capture_status" -ne 0 ]; then
  say "flowtap capture failed (exit $capture_status):"
  cat "$CAPTURE_LOG" >&2
  exit 1
fi
if [ "$client_status" -ne 0 ]; then
  say "the client did not get the responses it expected; see $DEMO_OUT/manifest.json"
  exit 1
fi

/usr/bin/python3 - "$FLOWS" "$DEMO_OUT/manifest.json" <<'EOF'
import collections, json, sys
flows_path, manifest_path = sys.argv[1], sys.argv[2]
per_service = collections.Counter()
observers = collections.Counter()
total = 0
with open(flows_path) as f:
    for line in f:
        if not line.strip():
            continue
        flow = json.loads(line)
        total += 1
        observers[flow.get("observer")] += 1
        dst = (flow.get("dst") or {}).get("container") or {}
        per_service[dst.get("compose_service") or "(outside containers)"] += 1
requests = len(json.load(open(manifest_path))["requests"])
services = ", ".join(f"{s} {n}" for s, n in sorted(per_service.items()))
print(f"flowtap demo: {total} flows written to {flows_path} for the client's {requests} "
      f"requests ({observers['both']} seen from both ends, merged); "
      f"by destination service: {services or 'none'}")
EOF
