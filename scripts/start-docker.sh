#!/usr/bin/env bash
# Starts dockerd in the background when no daemon answers, and waits until it does.
set -euo pipefail
DOCKER=/usr/bin/docker   # Debian's client; /usr/local/bin may hold a newer one
[ -x "$DOCKER" ] || DOCKER=docker

if "$DOCKER" info >/dev/null 2>&1; then exit 0; fi
if ! command -v dockerd >/dev/null 2>&1; then
  echo "start-docker: dockerd is not installed (run scripts/setup.sh)" >&2
  exit 1
fi
echo "start-docker: starting dockerd" >&2
mkdir -p /var/log
nohup dockerd >/var/log/dockerd.log 2>&1 &
for _ in $(seq 1 60); do
  if "$DOCKER" info >/dev/null 2>&1; then exit 0; fi
  sleep 1
done
echo "start-docker: dockerd did not answer within 60s; see /var/log/dockerd.log" >&2
tail -20 /var/log/dockerd.log >&2 || true
exit 1
