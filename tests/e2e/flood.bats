#!/usr/bin/env bats
# Flow state under a spoofed SYN flood, through the kernel's XDP path: long
# downloads and idle keep-alive connections through the VIP while hping3
# sends SYNs from random sources at several times the half-open table. No
# connection may break, and the load signals (open flows per backend, new
# flows) must not move. `make soak` runs it at full size (FLOOD_SYNS,
# FLOOD_DOWNLOADS, FLOOD_IDLE) with weight churn, agent kills and a backend
# failure on top (SOAK=1): the failing backend (b4) joins after the long
# connections are up, so that what its failure breaks is nothing of theirs.

bats_require_minimum_version 1.5.0

REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
QLB=${QLB:-$REPO/build/qlb}
export TB_PREFIX=qlbfl TB_CLIENTS=3 TB_BACKENDS=4
export QLB_PIN_DIR=/sys/fs/bpf/qlb-flood-e2e
# shellcheck source=../../scripts/testbed.sh
source "$REPO/scripts/testbed.sh"
# shellcheck source=lib.bash
source "$BATS_TEST_DIRNAME/lib.bash"

VIP=$TB_VIP4:80
SYNS=${FLOOD_SYNS:-200000}
DOWNLOADS=${FLOOD_DOWNLOADS:-100}
IDLE=${FLOOD_IDLE:-500}

qlb() { tb_in lb "$QLB" "$@"; }

setup_file() {
	"$QLB" detach --all --purge >/dev/null 2>&1 || true
	tb_up
	qlb attach eth0 --backend-iface eth1
	qlb vip add "$VIP" --policy lc
	for i in 1 2 3; do qlb backend add "$VIP" "$(tb_backend_ip4 "$i")"; done
	tb_nginx_stop 4
	tb_make_file big.bin 4000000
}

# The test's own background processes, by pid, whatever happened.
teardown() {
	local p
	[ -f "$BATS_TEST_TMPDIR/pids" ] || return 0
	for p in $(cat "$BATS_TEST_TMPDIR/pids"); do
		# shellcheck disable=SC2046
		kill $(tb__children "$p") "$p" 2>/dev/null || :
	done
}

teardown_file() {
	"$QLB" detach --all --purge || true
	tb_down
}

# Open flows of b1..b3, from the counters: "b1 b2 b3".
active_flows() {
	qlb stats --json | jq -r '[.vips[0].backends[:3][].flows_active] | map(tostring) | join(" ")'
}

# SOAK=1: during the flood, weights rewritten every 0.2 s, the agent (qlb
# policy) started and killed -9 twice, and a backend (b4, which joined after
# the long connections) failing. Runs until $1 exists.
chaos() {
	local stop=$1 agent n=0
	tb_nginx_start 4
	qlb backend add "$VIP" "$(tb_backend_ip4 4)"
	qlb vip set "$VIP" --policy qlb
	while [ ! -e "$stop" ]; do
		case $((n % 25)) in
		0 | 12)
			# shellcheck disable=SC2046
			[ -z "${agent:-}" ] || kill -9 $(tb__children "$agent") 2>/dev/null
			tb_in lb "$QLB" agent --window 0.5 --metrics-listen none >/dev/null 2>&1 3>&- &
			agent=$!
			echo "$agent" >>"$BATS_TEST_TMPDIR/pids"
			;;
		6) tb_nginx_stop 4 ;;
		esac
		qlb backend set "$VIP" "$(tb_backend_ip4 $((1 + n % 3)))" --weight $((1 + RANDOM % 50)) || :
		n=$((n + 1))
		sleep 0.2
	done
	# shellcheck disable=SC2046
	[ -z "${agent:-}" ] || kill -9 $(tb__children "$agent") 2>/dev/null
	echo "chaos: $n weight rewrites, 4 agent kills, b4 failed"
}

flows_new_total() {
	qlb stats --json | jq '[.vips[0].backends[].flows_new] | add'
}

# Whether every number in "$2" is within 10 % of the one at the same place
# in "$1".
within_10pct() {
	local -a a b
	read -ra a <<<"$1"
	read -ra b <<<"$2"
	for i in "${!a[@]}"; do
		awk -v x="${a[i]}" -v y="${b[i]}" 'BEGIN { d = x - y; if (d < 0) d = -d; exit !(d <= 0.1 * x + 1) }' || return 1
	done
}

@test "a spoofed SYN flood breaks no download and no idle connection, and moves no load signal" {
	local pids=() i ready=$BATS_TEST_TMPDIR/ready out=$BATS_TEST_TMPDIR/idle.out
	local before during new_before new_after flood_pid idle_pid t0 t1
	# Downloads that last through the flood.
	tb_in c1 sysctl -qw net.ipv4.tcp_rmem="4096 65536 65536"
	for ((i = 0; i < DOWNLOADS; i++)); do
		tb_in c1 curl --silent --fail --max-time 120 --limit-rate 150k \
			-o "$BATS_TEST_TMPDIR/dl$i.bin" "http://$TB_VIP4/big.bin" 3>&- &
		pids+=($!)
	done
	# Idle keep-alive connections: one request each, then silence.
	tb_in c2 python3 "$BATS_TEST_DIRNAME/idle_conns.py" "$TB_VIP4" 80 -n "$IDLE" \
		--hold 300 --ready "$ready" --go "$BATS_TEST_TMPDIR/go" >"$out" 2>&1 3>&- &
	idle_pid=$!
	echo "${pids[*]} $idle_pid" >"$BATS_TEST_TMPDIR/pids"
	for _ in $(seq 300); do [ -s "$ready" ] && break; sleep 0.1; done
	[ -s "$ready" ]
	sleep 1
	before=$(active_flows)
	new_before=$(flows_new_total)
	echo "open flows per backend before the flood: $before"

	if [ -n "${SOAK:-}" ]; then
		chaos "$BATS_TEST_TMPDIR/stop" 3>&- &
		echo "$!" >>"$BATS_TEST_TMPDIR/pids"
	fi
	t0=$(date +%s.%N)
	tb_in c3 timeout 300 hping3 -q -S -p 80 --rand-source -i u1 -c "$SYNS" "$TB_VIP4" \
		>/dev/null 2>&1 3>&- &
	flood_pid=$!
	echo "$flood_pid" >>"$BATS_TEST_TMPDIR/pids"
	sleep 2
	during=$(active_flows)
	qlb stats --json | jq -c '{flood, events}'
	qlb status --json | jq -c '{flows, half_open}'
	echo "open flows per backend during the flood: $during"
	wait "$flood_pid" || true
	t1=$(date +%s.%N)
	touch "$BATS_TEST_TMPDIR/stop"
	awk -v n="$SYNS" -v a="$t0" -v b="$t1" 'BEGIN { printf "%d spoofed SYNs in %.1f s: %.0f/s\n", n, b - a, n / (b - a) }'
	new_after=$(flows_new_total)
	qlb stats --json | jq -c '{flood, events}'

	# The load signals: open flows per backend as before, and no new flow
	# counted for a SYN that never completed its handshake.
	within_10pct "$before" "$during"
	# Under the soak, b4 takes real new flows: none are counted for b1..b3.
	[ -n "${SOAK:-}" ] || [ $((new_after - new_before)) -le 10 ]
	[ "$(qlb status --json | jq '.half_open')" -le 65536 ]

	# Every idle connection answers its second request.
	touch "$BATS_TEST_TMPDIR/go"
	wait "$idle_pid" || :
	cat "$out"
	grep -qx "answered $IDLE reset 0 other 0" "$out"
	for i in "${!pids[@]}"; do wait "${pids[i]}"; done
	for ((i = 0; i < DOWNLOADS; i++)); do cmp "$BATS_TEST_TMPDIR/dl$i.bin" "$TB_RUNDIR/b1/www/big.bin"; done
	tb_in c1 sysctl -qw net.ipv4.tcp_rmem="4096 131072 6291456"
}
