#!/usr/bin/env bash
# `make demo`: a namespace testbed with two clients and three nginx backends
# of unequal capacity (CPU quotas 3:2:1 through cgroup v1), qlb on the
# balancer's XDP path, `qlb agent` with the qlb policy, real HTTP load and
# live stats: watch the weights follow the capacity. Midway the slowest
# backend's nginx stops and comes back; health checks take it out and in.
# Everything is removed on exit.
#
# Settings: DEMO_SECONDS (default 30), QLB (the binary; default build/qlb).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
QLB=${QLB:-$here/../build/qlb}
DEMO_SECONDS=${DEMO_SECONDS:-30}
export TB_PREFIX=qlbdemo TB_CLIENTS=2 TB_BACKENDS=3
export QLB_PIN_DIR=/sys/fs/bpf/qlb-demo
# shellcheck source=scripts/testbed.sh
source "$here/testbed.sh"

if ! [[ $DEMO_SECONDS =~ ^[0-9]+$ ]] || ((DEMO_SECONDS < 9 || DEMO_SECONDS > 3600)); then
	echo "demo: DEMO_SECONDS must be 9-3600" >&2
	exit 2
fi

# Cleanup takes down only what the demo started: its processes by PID, the
# attachment from inside its own balancer namespace, then the testbed.
agent_pid=
load_pids=()
cleanup() {
	local p
	for p in $agent_pid "${load_pids[@]}"; do
		kill "$p" 2>/dev/null || :
	done
	for p in $agent_pid "${load_pids[@]}"; do
		wait "$p" 2>/dev/null || :
	done
	[[ ! -e /run/netns/$TB_PREFIX-lb ]] || tb_in lb "$QLB" detach --all --purge >/dev/null 2>&1 || :
	rm -rf "$QLB_PIN_DIR"
	tb_down
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

qlb() { tb_in lb "$QLB" "$@"; }
say() { printf '\n== %s\n' "$*"; }

say "testbed: clients c1 c2 -- balancer (XDP on eth0/eth1) -- nginx b1 b2 b3 at 30/20/10% of a CPU"
rm -rf "$QLB_PIN_DIR" # an interrupted demo's, whose interfaces are gone
tb_up
tb_backend_cpu 1 30000
tb_backend_cpu 2 20000
tb_backend_cpu 3 10000
tb_make_file work.bin 100000
qlb attach eth0 --backend-iface eth1
qlb vip add "$TB_VIP4:80" --policy qlb
for i in 1 2 3; do
	qlb backend add "$TB_VIP4:80" "$(tb_backend_ip4 "$i")"
done
qlb status
qlb backend list

say "agent: qlb policy, 1 s windows, TCP health checks, metrics on 127.0.0.1:9464 in the balancer"
nsenter --net="/run/netns/$TB_PREFIX-lb" -- "$QLB" agent --window 1 \
	--history "$TB_RUNDIR/history.csv" 2>"$TB_RUNDIR/agent.log" &
agent_pid=$!

say "load: wrk from both clients for ${DEMO_SECONDS}s, one connection per request"
for c in 1 2; do
	tb_in "c$c" timeout $((DEMO_SECONDS + 10)) wrk -t1 -c8 -d "${DEMO_SECONDS}s" \
		-H 'Connection: close' "http://$TB_VIP4/work.bin" >"$TB_RUNDIR/wrk-c$c.log" 2>&1 &
	load_pids+=($!)
done

# b3's nginx stops for the middle third of the run and comes back in its
# cgroup, as slow as before.
(
	sleep $((DEMO_SECONDS / 3))
	tb_nginx_stop 3
	sleep $((DEMO_SECONDS / 3))
	tb_nginx_start 3
) &
load_pids+=($!)

qlb stats --watch 1 --count "$DEMO_SECONDS"
wait "${load_pids[@]}"
load_pids=()

say "what the agent said"
cat "$TB_RUNDIR/agent.log"
say "what the clients saw"
cat "$TB_RUNDIR"/wrk-c*.log
say "what the servers logged"
for i in 1 2 3; do echo "b$i: $(tb_nginx_count "$i") requests"; done
say "final counters and estimates"
qlb stats
echo "(per-window history: $TB_RUNDIR/history.csv, removed on exit)"
