#!/usr/bin/env bash
# Records fixture traces from real programs (needs root): each scenario of
# tests/programs/exchange.py runs under `flowtap capture --pid … --record`, and the
# trace lands in fixtures/live-<scenario>.trace.jsonl. Regenerate the expected
# flows beside them afterwards with FLOWTAP_BLESS=1 cargo test fixtures, and read
# the diff before committing it.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet
BIN=target/debug/flowtap
SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -gt 0 ] || SCENARIOS=(curl node keepalive preopen)

for scenario in "${SCENARIOS[@]}"; do
  out="fixtures/live-$scenario.trace.jsonl"
  log=$(mktemp)
  coproc HARNESS { python3 tests/programs/exchange.py "$scenario"; }
  read -r hello <&"${HARNESS[0]}"
  [ "$hello" = waiting ] || { echo "harness for $scenario said: $hello" >&2; exit 1; }
  "$BIN" capture --pid "$HARNESS_PID" --record "$out" 2>"$log" &
  cap=$!
  for _ in $(seq 1 300); do grep -q ready "$log" && break; sleep 0.1; done
  grep -q ready "$log" || { cat "$log" >&2; exit 1; }
  echo go >&"${HARNESS[1]}"
  read -r result <&"${HARNESS[0]}"
  wait "$HARNESS_PID" || true
  kill -INT "$cap"
  wait "$cap"
  echo "$scenario: $result" >&2
  tail -1 "$log" >&2
  rm -f "$log"
done

# HTTP/2 and gRPC (tests/programs/http2.py): the live tests keep their traces as
# fixtures/live-h2-<scenario>.trace.jsonl when FLOWTAP_RECORD_DIR says where.
if [ $# -eq 0 ]; then
  FLOWTAP_RECORD_DIR="$PWD/fixtures" cargo test --quiet --test it http2:: -- \
    --include-ignored --test-threads=1 --skip h2load
fi
