#!/usr/bin/env bash
# Installs what flowtap's build, tests and demo need on a Debian machine, and
# makes sure a Docker daemon answers. It looks for commands and files, not
# package names, so whatever the machine already has (Docker CE, a newer clang)
# is used as it is. It never stops, kills, disables or removes anything.
# Idempotent: safe to run again.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh must run as root (it installs packages and may start dockerd)" >&2
  exit 1
fi

# What is needed, as "test package": the package is installed only when the test
# fails. A test is a command name, or a path (starting with /) that must exist.
NEEDS=(
  # Build: clang compiles bpf/*.bpf.c; libelf, zlib and pkg-config build the
  # vendored libbpf.
  "clang clang"
  "llvm-strip llvm"
  "pkg-config pkg-config"
  "make make"
  "/usr/include/libelf.h libelf-dev"
  "/usr/include/zlib.h zlib1g-dev"
  "bpftool bpftool"
  # Tests, demo and benchmark: what the containers run (they bind-mount /usr).
  "ip iproute2"
  "curl curl"
  "python3 python3"
  "node nodejs"
  "nginx nginx"
  "go golang-go"
  "busybox busybox"
  "wrk wrk"
  "tcpdump tcpdump"
  "flock util-linux"
  "unshare util-linux"
  "tmux tmux"
  # View and HAR tests (issue 13): Playwright (npm ci in tests/har) replays a
  # captured HAR in Debian's Chromium; the live view runs under tmux.
  "chromium chromium"
  "npm npm"
  # HTTP/2 and gRPC tests (tests/programs/http2.py): nghttpd, nghttp and h2load,
  # Debian's python3 with grpcio and h2.
  "nghttpd nghttp2-server"
  "nghttp nghttp2-client"
  "/usr/lib/python3/dist-packages/grpc/__init__.py python3-grpcio"
  "/usr/lib/python3/dist-packages/h2/__init__.py python3-h2"
  "/usr/share/gocode/src/golang.org/x/net/http2/h2c/h2c.go golang-golang-x-net-dev"
  # TLS tests (issue 12): certificates made at test time, libssl the probes attach to.
  "openssl openssl"
  "/usr/lib/x86_64-linux-gnu/libssl.so.3 libssl3"
  # Go crypto/tls tests: caddy is Debian's, a stripped Go binary.
  "caddy caddy"
  "/usr/share/gocode/src/google.golang.org/grpc/server.go golang-google-grpc-dev"
  # A client linked statically against libssl.a, built at test time.
  "cc gcc"
  "/usr/lib/x86_64-linux-gnu/libssl.a libssl-dev"
  # The same client built against Debian's BoringSSL (libssl.so.0, another
  # library under the same name).
  "/usr/lib/x86_64-linux-gnu/android/libssl.so.0 android-libboringssl"
  "/usr/include/android/openssl/ssl.h android-libboringssl-dev"
)

# Docker only when the machine has none: installing docker.io beside Docker CE
# would fight over containerd.
if ! command -v dockerd >/dev/null 2>&1 && ! docker info >/dev/null 2>&1; then
  NEEDS+=("dockerd docker.io")
fi
# Compose v1 (the tests call `docker-compose`); Docker CE's plugin is not it.
NEEDS+=("docker-compose docker-compose")

have() {
  case "$1" in
    /*) [ -e "$1" ] ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
  esac
}

missing=()
for need in "${NEEDS[@]}"; do
  read -r test package <<<"$need"
  have "$test" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  # Unique, in order.
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk '!seen[$0]++')
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Packages such as nginx start a service of their own when installed; flowtap
  # runs its own instances, so keep the installs from starting any. The policy
  # file is ours only when we create it, and then we remove it.
  policy=/usr/sbin/policy-rc.d
  made_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    made_policy=1
  fi
  status=0
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } || status=$?
  if [ -n "$made_policy" ]; then rm -f "$policy"; fi
  [ "$status" -eq 0 ] || exit "$status"
fi

"$(dirname "$0")/start-docker.sh"
