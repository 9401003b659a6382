#!/usr/bin/env bash
# Install qlb's build, test and demo dependencies from Debian 12 packages.
# Idempotent: packages already present are not reinstalled, and apt-get update
# runs only when something is missing.
set -euo pipefail

PACKAGES=(
	# build: clang's BPF target, libbpf skeletons, libxdp, libnl
	make gcc clang llvm pkg-config bpftool
	libbpf-dev libxdp-dev xdp-tools libelf-dev zlib1g-dev
	libnl-3-dev libnl-route-3-dev
	# userspace libraries: JSON output, tests
	libjansson-dev libxxhash-dev libmicrohttpd-dev libcurl4-openssl-dev libcmocka-dev bats
	# testbed: namespaces, real servers and clients
	iproute2 nftables ethtool nginx-light curl wrk nghttp2-client httperf jq iputils-ping
	procps psmisc
	# floods: spoofed SYNs (hping3), the idle-connection client (python3)
	hping3
	# evaluation: the balancers users run today, the report and its figures
	haproxy gnuplot-nox python3
)

missing=()
for pkg in "${PACKAGES[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$pkg")
	fi
done

if ((${#missing[@]})); then
	if [[ $(id -u) -ne 0 ]]; then
		echo "deps.sh: need root to install: ${missing[*]}" >&2
		exit 2
	fi
	echo "deps.sh: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian starts nginx and haproxy on install; the testbed and the
# evaluation run their own instances.
for svc in nginx haproxy; do
	if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
		systemctl stop "$svc" || true
		systemctl disable "$svc" >/dev/null 2>&1 || true
	fi
done

# bpffs for pinned maps and links (root only: a plain build needs none).
if [[ $(id -u) -eq 0 ]] && ! mountpoint -q /sys/fs/bpf; then
	mount -t bpf bpf /sys/fs/bpf
fi
