#!/usr/bin/env bash
# Builds flowtap-base:2 (no registry here): a rootfs of symlinks into the host's
# /usr, which the containers bind-mount read-only. Stand-in until
# scripts/build-images.sh is on this branch; same recipe and name. Idempotent.
set -euo pipefail
DOCKER=/usr/bin/docker
[ -x "$DOCKER" ] || DOCKER=docker
IMAGE=flowtap-base:2
if "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1; then exit 0; fi
rootfs="$(mktemp -d)"
trap 'rm -rf "$rootfs"' EXIT
cd "$rootfs"
mkdir -p usr etc tmp run root var/lib/nginx var/log/nginx var/cache/nginx proc sys dev
chmod 1777 tmp
ln -s usr/bin bin; ln -s usr/lib lib; ln -s usr/lib64 lib64; ln -s usr/sbin sbin
printf 'root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33::/var/www:/usr/sbin/nologin\nnobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n' > etc/passwd
printf 'root:x:0:\nwww-data:x:33:\nnogroup:x:65534:\n' > etc/group
printf 'hosts: files dns\npasswd: files\ngroup: files\n' > etc/nsswitch.conf
touch etc/hosts etc/hostname etc/resolv.conf
tar -c --numeric-owner --owner=0 --group=0 . |
  "$DOCKER" import --change 'ENV PATH=/usr/local/bin:/usr/bin:/usr/sbin' - "$IMAGE" >/dev/null
