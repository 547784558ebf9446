#!/usr/bin/env bash
# Regenerates bpf/vmlinux.h from a kernel's BTF. The header is vendored so that a
# build never depends on the build machine's kernel; CO-RE relocates field offsets
# at load time. Run this only to pick up new kernel types.
set -euo pipefail
btf=${1:-/sys/kernel/btf/vmlinux}
out="$(dirname "$0")/../bpf/vmlinux.h"
bpftool btf dump file "$btf" format c > "$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out from $btf" >&2
