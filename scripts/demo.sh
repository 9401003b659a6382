#!/usr/bin/env bash
# `make demo`: a namespace testbed with two clients and three nginx backends,
# qlb on the balancer's XDP path, real HTTP load, and live stats. Midway one
# backend is drained and later restored. Everything is removed on exit.
#
# Settings: DEMO_SECONDS (default 24), QLB (the binary; default build/qlb).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
QLB=${QLB:-$here/../build/qlb}
DEMO_SECONDS=${DEMO_SECONDS:-24}
export TB_PREFIX=qlbdemo TB_CLIENTS=2 TB_BACKENDS=3
export QLB_PIN_DIR=/sys/fs/bpf/qlb-demo
# shellcheck source=scripts/testbed.sh
source "$here/testbed.sh"

if ! [[ $DEMO_SECONDS =~ ^[0-9]+$ ]] || ((DEMO_SECONDS < 6 || DEMO_SECONDS > 3600)); then
	echo "demo: DEMO_SECONDS must be 6-3600" >&2
	exit 2
fi

cleanup() {
	pkill -f "wrk.*$TB_VIP4" 2>/dev/null || true
	"$QLB" detach --all --purge >/dev/null 2>&1 || true
}
trap cleanup EXIT
tb_trap_cleanup

qlb() { tb_in lb "$QLB" "$@"; }
say() { printf '\n== %s\n' "$*"; }

say "testbed: clients c1 c2 -- balancer (XDP on eth0/eth1) -- nginx b1 b2 b3"
"$QLB" detach --all --purge >/dev/null 2>&1 || true
tb_up
qlb attach eth0 --backend-iface eth1
qlb vip add "$TB_VIP4:80"
for i in 1 2 3; do
	qlb backend add "$TB_VIP4:80" "$(tb_backend_ip4 "$i")" --weight "$i"
done
qlb status
qlb backend list

say "load: wrk from both clients for ${DEMO_SECONDS}s, one connection per request"
for c in 1 2; do
	tb_in "c$c" timeout $((DEMO_SECONDS + 10)) wrk -t1 -c8 -d "${DEMO_SECONDS}s" \
		-H 'Connection: close' "http://$TB_VIP4/" >"$TB_RUNDIR/wrk-c$c.log" 2>&1 &
done

# Drain b1 for the middle third of the run, to show flows moving.
(
	sleep $((DEMO_SECONDS / 3))
	qlb backend set "$TB_VIP4:80" "$(tb_backend_ip4 1)" --drain >/dev/null
	sleep $((DEMO_SECONDS / 3))
	qlb backend set "$TB_VIP4:80" "$(tb_backend_ip4 1)" --undrain >/dev/null
) &

qlb stats --watch 1 --count "$DEMO_SECONDS"
wait

say "what the clients saw"
cat "$TB_RUNDIR"/wrk-c*.log
say "what the servers logged"
for i in 1 2 3; do echo "b$i: $(tb_nginx_count "$i") requests"; done
say "final counters"
qlb stats
