#!/usr/bin/env bash
# Installs every dependency on a fresh Debian machine and runs all of flowtap's
# tests, including the privileged ones (BPF, Docker) that plain `cargo test` skips
# as ignored. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo build --locked --all-targets
# --test-threads=2: this is a 2-core machine; privileged tests serialise themselves.
cargo test --locked -- --include-ignored --test-threads=2
