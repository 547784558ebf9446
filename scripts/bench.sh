#!/usr/bin/env bash
# The benchmark (issue 5): flowtap vs no capture vs tcpdump on nginx in Docker,
# replay throughput and memory with 10,000 idle connections, printed as a markdown
# table and written to bench-results.md. Installs what it needs, builds release.
# As root: scripts/bench.sh [--quick] [--rounds N] [--rate RPS] [--out FILE] …
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

if [ "$(id -u)" -ne 0 ]; then
  echo "bench.sh must run as root (BPF, tcpdump, Docker)" >&2
  exit 1
fi
scripts/setup.sh
scripts/build-images.sh   # the flowtap-base image the containers run

# oha holds a fixed request rate and reports exact counts; it comes from crates.io.
OHA="$(command -v oha || echo "$HOME/.cargo/bin/oha")"
if [ ! -x "$OHA" ]; then
  echo "bench: installing oha from crates.io (takes a few minutes)" >&2
  cargo install oha --locked --quiet
  OHA="$HOME/.cargo/bin/oha"
fi

cargo build --release --quiet
BENCH_COMMAND="scripts/bench.sh $*" exec python3 scripts/bench/bench.py --oha "$OHA" "$@"
