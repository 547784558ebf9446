#!/usr/bin/env bash
# Installs every system dependency flowtap needs on a fresh Debian machine, and
# starts dockerd when it is not running. Idempotent: safe to run again.
set -euo pipefail

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh must run as root (it installs packages and starts dockerd)" >&2
    exit 1
  fi
}
need_root

# Build: clang compiles bpf/*.bpf.c, libelf/zlib/pkg-config build the vendored libbpf.
# Tests and the demo: docker, compose v1, and the programs the containers run
# (they bind-mount the host's /usr).
PACKAGES=(
  clang llvm libelf-dev zlib1g-dev pkg-config make
  bpftool
  docker.io docker-compose
  iproute2 curl python3 nodejs nginx golang-go busybox
  wrk tcpdump
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# nginx from the package may start a host instance on :80; the demo runs its own.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now nginx >/dev/null 2>&1 || true; fi
pkill -x nginx >/dev/null 2>&1 || true

"$(dirname "$0")/start-docker.sh"
