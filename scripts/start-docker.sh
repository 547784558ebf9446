#!/usr/bin/env bash
# Makes sure a Docker daemon answers. One that already runs is left alone; where
# systemd runs, Docker is started through it; only where nothing manages Docker
# does this start a dockerd of its own. It never stops or restarts anything.
set -euo pipefail
DOCKER=/usr/bin/docker   # Debian's client; /usr/local/bin may hold a newer one
[ -x "$DOCKER" ] || DOCKER=docker

answers() { "$DOCKER" info >/dev/null 2>&1; }
wait_for_docker() {
  for _ in $(seq 1 60); do
    if answers; then return 0; fi
    sleep 1
  done
  return 1
}

if answers; then exit 0; fi

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1 \
   && systemctl list-unit-files docker.service >/dev/null 2>&1; then
  echo "start-docker: starting docker.service through systemd" >&2
  systemctl start docker.service
  wait_for_docker && exit 0
  echo "start-docker: docker.service did not answer within 60s; see journalctl -u docker" >&2
  exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
  echo "start-docker: dockerd is not installed (run scripts/setup.sh)" >&2
  exit 1
fi
echo "start-docker: starting dockerd (nothing manages Docker on this machine)" >&2
mkdir -p /var/log
nohup dockerd >/var/log/dockerd.log 2>&1 &
wait_for_docker && exit 0
echo "start-docker: dockerd did not answer within 60s; see /var/log/dockerd.log" >&2
tail -20 /var/log/dockerd.log >&2 || true
exit 1
