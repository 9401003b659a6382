#!/usr/bin/env bash
# Generate vmlinux.h from the running kernel's BTF, for CO-RE BPF programs.
# Usage: vmlinux/gen-vmlinux.sh OUT  (the Makefile calls it when OUT is missing)
set -euo pipefail
out=${1:-$(dirname "$0")/vmlinux.h}
btf=${VMLINUX_BTF:-/sys/kernel/btf/vmlinux}
if [[ ! -r $btf ]]; then
	echo "gen-vmlinux.sh: no kernel BTF at $btf (need CONFIG_DEBUG_INFO_BTF=y)" >&2
	exit 2
fi
tmp=$(mktemp "$out.XXXXXX")
trap 'rm -f "$tmp"' EXIT
bpftool btf dump file "$btf" format c >"$tmp"
mv "$tmp" "$out"
trap - EXIT
