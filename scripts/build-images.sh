#!/usr/bin/env bash
# Builds what the demo and the Docker tests run, without any registry: the tiny
# base image `flowtap-base` (a rootfs of symlinks into the host's /usr, which the
# containers bind-mount read-only) and the Go server binary. Idempotent.
set -euo pipefail
DOCKER=/usr/bin/docker   # Debian's client; /usr/local/bin may hold a newer one
[ -x "$DOCKER" ] || DOCKER=docker
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEMO="$ROOT/fixtures/demo"
# Bump when the rootfs below changes, so old hosts rebuild it.
BASE_IMAGE=flowtap-base:2

# Tests run this concurrently: one builds, the others wait and find it built.
exec 9>"${TMPDIR:-/tmp}/flowtap-build-images.lock"
flock 9

build_base() {
  if "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then return; fi
  echo "build-images: building $BASE_IMAGE" >&2
  local rootfs
  rootfs="$(mktemp -d)"
  trap 'rm -rf "$rootfs"' RETURN
  (
    cd "$rootfs"
    mkdir -p usr etc tmp run out app var/lib/nginx var/log/nginx var/cache/nginx proc sys dev
    chmod 1777 tmp
    # Merged /usr, as on the host: the bind-mounted /usr brings every program.
    ln -s usr/bin bin; ln -s usr/lib lib; ln -s usr/lib64 lib64; ln -s usr/sbin sbin
    cat > etc/passwd <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
PASSWD
    cat > etc/group <<'GROUP'
root:x:0:
www-data:x:33:
nogroup:x:65534:
GROUP
    # Docker bind-mounts hosts, hostname and resolv.conf; name lookups need this.
    printf 'hosts: files dns\npasswd: files\ngroup: files\n' > etc/nsswitch.conf
    touch etc/hosts etc/hostname etc/resolv.conf
    mkdir -p root
    tar -c --numeric-owner --owner=0 --group=0 .
  ) | "$DOCKER" import \
        --change 'ENV PATH=/usr/local/bin:/usr/bin:/usr/sbin' \
        --change 'WORKDIR /' \
        - "$BASE_IMAGE" >/dev/null
}

build_gosrv() {
  local out="$DEMO/.build/gosrv"
  mkdir -p "$DEMO/.build"
  if [ -x "$out" ] && [ "$out" -nt "$DEMO/gosrv/main.go" ]; then return; fi
  echo "build-images: building the Go server" >&2
  # Stdlib only, no modules to download; a static binary needs no libc in /usr.
  GO111MODULE=off CGO_ENABLED=0 GOCACHE=/tmp/flowtap-gocache GOPATH=/tmp/flowtap-gopath \
    go build -o "$out" "$DEMO/gosrv/main.go"
}

build_base
build_gosrv
echo "build-images: $BASE_IMAGE and fixtures/demo/.build/gosrv are ready" >&2
