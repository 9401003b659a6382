#!/usr/bin/env bats
# The agent end to end: two nginx backends whose CPU quotas are 3:1 (cgroup
# v1 cpu controller), real HTTP load from two clients, qlb on the XDP path
# and `qlb agent` with the qlb policy. The testbed is built in setup_file and
# removed in teardown_file, whatever happens in between.

bats_require_minimum_version 1.5.0

REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
QLB=${QLB:-$REPO/build/qlb}
export TB_PREFIX=qlbagt TB_CLIENTS=2 TB_BACKENDS=2
export QLB_PIN_DIR=/sys/fs/bpf/qlb-agent-e2e
# shellcheck source=../../scripts/testbed.sh
source "$REPO/scripts/testbed.sh"
# shellcheck source=lib.bash
source "$BATS_TEST_DIRNAME/lib.bash"

VIP=$TB_VIP4:80
FAST=$(tb_backend_ip4 1) # 30% of a CPU
SLOW=$(tb_backend_ip4 2) # 10% of a CPU
HISTORY=/tmp/qlbagt-history.csv
AGENT_LOG=/tmp/qlbagt-agent.log

qlb() { tb_in lb "$QLB" "$@"; }

# Extra arguments go to the agent.
start_agent() {
	# nsenter execs qlb, so $! is the agent itself; 3>&-: bats waits for
	# whatever holds its output descriptor open.
	nsenter --net="/run/netns/$TB_PREFIX-lb" -- "$QLB" agent --window 1 \
		--history "$HISTORY" "$@" >>"$AGENT_LOG" 2>&1 3>&- &
	echo $! >"$BATS_FILE_TMPDIR/agent.pid"
	# Ready once its first window is published.
	for _ in $(seq 50); do
		[ "$(qlb stats --json | jq '[.vips[].backends[] | select(.estimate)] | length')" -gt 0 ] && return 0
		sleep 0.1
	done
}

stop_agent() {
	local pid
	pid=$(cat "$BATS_FILE_TMPDIR/agent.pid" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

setup_file() {
	"$QLB" detach --all --purge >/dev/null 2>&1 || true
	rm -f "$HISTORY" "$AGENT_LOG"
	tb_up
	tb_backend_cpu 1 30000
	tb_backend_cpu 2 10000
	tb_make_file work.bin 200000
	qlb attach eth0 --backend-iface eth1
	qlb vip add "$VIP" --policy qlb
	qlb backend add "$VIP" "$FAST"
	qlb backend add "$VIP" "$SLOW"
	start_agent
}

teardown_file() {
	stop_agent
	pkill -f "wrk .*$TB_VIP4" 2>/dev/null || true
	"$QLB" detach --all --purge || true
	tb_down
	echo "agent log:" >&3
	sed 's/^/# /' "$AGENT_LOG" >&3 || true
}

# wrk from both clients for $1 seconds on the CPU-heavy object, one
# connection per request, in the background.
load() {
	LOAD_PIDS=()
	for c in 1 2; do
		tb_in "c$c" timeout $(($1 + 10)) wrk -t1 -c12 -d "${1}s" -H 'Connection: close' \
			"http://$TB_VIP4/work.bin" >"$BATS_FILE_TMPDIR/wrk-c$c.log" 2>&1 3>&- &
		LOAD_PIDS+=($!)
	done
}

# Waits for the load only (a restarted agent is a child of the test too).
wait_load() {
	wait "${LOAD_PIDS[@]}"
}

@test "qlb moves new flows toward the faster backend within 10 windows, without oscillating" {
	local start
	start=$(awk -F, 'NR > 1 { t = $1 } END { print t + 0 }' "$HISTORY")
	load 16
	wait_load
	# Per window: the fast backend's share of new flows, and of the ring.
	awk -F, -v s="$start" -v fast="$FAST" '
		NR > 1 && $1 > s && $9 >= 0 {
			if ($3 == fast) { fa[$1] = $7; fw[$1] = $6 } else { sa[$1] = $7 }
			ts[$1] = 1
		}
		END { for (t in ts) if (fa[t] + sa[t] > 0) printf "%s %.4f %.4f\n", t, fa[t] / (fa[t] + sa[t]), fw[t] }
	' "$HISTORY" | sort -n >"$BATS_FILE_TMPDIR/shares"
	echo "window, fast share of new flows, fast share of the ring:"
	cat "$BATS_FILE_TMPDIR/shares"
	[ "$(wc -l <"$BATS_FILE_TMPDIR/shares")" -ge 12 ]
	# From window 10 on, the fast backend takes more than its equal share
	# and at least the 3:1 capacity split is approached (> 60 %)...
	awk 'NR >= 10 && $2 < 0.60 { bad++ } END { exit bad > 0 }' "$BATS_FILE_TMPDIR/shares"
	# ...and the ring settles: no window moves the fast share by more than
	# 10 points after the first five, and its direction does not flip back
	# and forth (at most 3 sign changes of more than 2 points).
	awk 'NR > 5 { d = $3 - p; if (d > 0.10 || d < -0.10) big++;
		if (d > 0.02) s = 1; else if (d < -0.02) s = -1; else s = 0;
		if (s && ls && s != ls) flips++; if (s) ls = s }
		{ p = $3 } END { exit (big > 0 || flips > 3) }' "$BATS_FILE_TMPDIR/shares"
	[ "$(cat "$BATS_FILE_TMPDIR"/wrk-c*.log | grep -c 'Socket errors\|Non-2xx' || true)" -eq 0 ]
}

@test "qlb stats and the metrics endpoint show lambda, mu, rho and W" {
	load 4
	wait_load
	run --separate-stderr qlb stats --json
	[ "$status" -eq 0 ]
	echo "$output" | jq -e --arg b "$FAST" '.vips[0].backends[] | select(.backend == $b) |
		.estimate.mu > 0 and .estimate.policy == "qlb" and .health == "up"'
	qlb stats | grep -E 'LAMBDA +MU +RHO +W'
	run tb_in lb curl -sf http://127.0.0.1:9464/metrics
	[ "$status" -eq 0 ]
	grep -q "^qlb_backend_mu{vip=\"$VIP\",proto=\"tcp\",backend=\"$FAST\"} [0-9]" <<<"$output"
	grep -q '^qlb_agent_windows_total [1-9]' <<<"$output"
	grep -q '^qlb_backend_response_time_seconds_count' <<<"$output"
	# The forecaster reports which candidate is in use.
	grep -q '^qlb_vip_forecast_in_use{vip="'"$VIP"'"' <<<"$output"
}

@test "the cgroup usage source reads the testbed's backends: CPU utilisation and occupancy in the history" {
	local since fast slow
	stop_agent
	start_agent --usage "$FAST=cgroup:$TB_PREFIX/b1" --usage "$SLOW=cgroup:$TB_PREFIX/b2"
	since=$(awk -F, 'NR > 1 { t = $1 } END { print t + 0 }' "$HISTORY")
	load 6
	wait_load
	# Under load, each backend's cpu_util (column 19) is well above 0 in
	# the windows that saw it: the backend's own CPU time over its quota.
	fast=$(awk -F, -v s="$since" -v b="$FAST" '$1 > s + 2 && $3 == b && $7 > 20 { n++; u += $19 } END { print n ? u / n : -1 }' "$HISTORY")
	slow=$(awk -F, -v s="$since" -v b="$SLOW" '$1 > s + 2 && $3 == b && $7 > 5 { n++; u += $19 } END { print n ? u / n : -1 }' "$HISTORY")
	echo "mean cpu_util under load: fast $fast, slow $slow"
	awk "BEGIN { exit !($fast > 0.3 && $fast <= 1 && $slow > 0.3 && $slow <= 1) }"
	# The same windows' occupancy (column 21), sampled from the data
	# plane's open flows: a backend that is working has flows open most of
	# the time, and never more than all of it.
	fast=$(awk -F, -v s="$since" -v b="$FAST" '$1 > s + 2 && $3 == b && $7 > 20 { n++; u += $21 } END { print n ? u / n : -1 }' "$HISTORY")
	slow=$(awk -F, -v s="$since" -v b="$SLOW" '$1 > s + 2 && $3 == b && $7 > 5 { n++; u += $21 } END { print n ? u / n : -1 }' "$HISTORY")
	echo "mean occupancy under load: fast $fast, slow $slow"
	awk "BEGIN { exit !($fast > 0.3 && $fast <= 1.001 && $slow > 0.3 && $slow <= 1.001) }"
	stop_agent
	start_agent
}

@test "killing and restarting the agent under load resets no connection" {
	local out
	load 8
	# A slow download holds one connection across the restart.
	tb_in c1 sysctl -qw net.ipv4.tcp_rmem="4096 65536 65536"
	tb_in c1 curl --silent --fail --max-time 30 --limit-rate 100k \
		-o "$BATS_FILE_TMPDIR/slow.bin" "http://$TB_VIP4/work.bin" 3>&- &
	local dl=$!
	sleep 2
	kill -9 "$(cat "$BATS_FILE_TMPDIR/agent.pid")"
	sleep 1
	start_agent
	wait "$dl"
	wait_load
	tb_in c1 sysctl -qw net.ipv4.tcp_rmem="4096 131072 6291456"
	cmp "$BATS_FILE_TMPDIR/slow.bin" "$TB_RUNDIR/b1/www/work.bin"
	cat "$BATS_FILE_TMPDIR"/wrk-c*.log
	# wrk reports any reset or failed request as a socket error or non-2xx.
	[ "$(cat "$BATS_FILE_TMPDIR"/wrk-c*.log | grep -c 'Socket errors\|Non-2xx' || true)" -eq 0 ]
	[ "$(cat "$BATS_FILE_TMPDIR"/wrk-c*.log | grep -c 'requests in')" -eq 2 ]
	[ "$(qlb stats --json | jq '.reasons.drop_no_backend.packets')" -eq 0 ]
}

@test "a backend whose nginx stops is out within three windows; later requests all succeed" {
	local t0 t1 out refused
	load 12
	sleep 2
	tb_nginx_stop 2
	t0=$(date +%s.%N)
	for _ in $(seq 60); do
		[ "$(qlb stats --json | jq -r --arg b "$SLOW" '.vips[0].backends[] | select(.backend == $b) | .health')" = down ] && break
		sleep 0.1
	done
	t1=$(date +%s.%N)
	echo "down after $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }') s"
	awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a <= 3.5) }'
	qlb backend list | grep -E "^ +$SLOW +[0-9]+ +[0-9]+ +down"
	# Until then the data plane passed it over after each refusal: the
	# connections it refused are a handful, not a window of them.
	refused=$(qlb stats --json | jq -r --arg b "$SLOW" '.vips[0].backends[] | select(.backend == $b) | .refused')
	echo "refused by the stopped backend: $refused"
	[ "$refused" -ge 1 ]
	[ "$refused" -le 10 ]
	# From now on nothing may fail.
	out=$(tb_in c2 curl --silent --show-error --fail --max-time 5 -H 'Connection: close' \
		--parallel --parallel-max 8 $(for _ in $(seq 300); do echo "http://$TB_VIP4/"; done))
	[ "$(grep -cx 'backend b1' <<<"$out")" -eq 300 ]
	wait_load
	# Back up after it restarts (rise 2).
	tb_nginx_start 2
	for _ in $(seq 60); do
		[ "$(qlb stats --json | jq -r --arg b "$SLOW" '.vips[0].backends[] | select(.backend == $b) | .health')" = up ] && break
		sleep 0.1
	done
	[ "$(qlb stats --json | jq -r --arg b "$SLOW" '.vips[0].backends[] | select(.backend == $b) | .health')" = up ]
}

@test "agent and policy CLI: bad input gets one line, exit 2, no change" {
	local before after
	before=$(qlb vip list --json | jq -c '[.[] | {vip, proto, policy}]')
	before+=$(qlb backend list --json | jq -c '[.[] | {backend, weight}]')
	bad=(
		"agent --window 0"
		"agent --window abc"
		"agent --window 61"
		"agent --health ping"
		"agent --health http:nopath"
		"agent --rise 0"
		"agent --servers 0"
		"agent --metrics-listen localhost"
		"agent --history /nonexistent/dir/h.csv --metrics-listen none"
		"agent extra"
		"agent --scale-down 0.9 --scale-up 0.5"
		"agent --scale-windows 0"
		"vip set $VIP --policy fastest"
		"vip set $VIP"
		"vip set $VIP --policy oracle"
		"vip set 10.200.2.9:80 --policy qlb"
		"backend set $VIP $FAST --policy qlb"
		"sim --load abc"
		"sim --backends 0"
		"sim --policy nope"
		"agent --usage 10.200.1.99=cgroup:none --metrics-listen none"
		"agent --forecast $BATS_TEST_TMPDIR/missing.model --metrics-listen none"
		"agent --forecast $BATS_TEST_TMPDIR/empty.model --metrics-listen none"
		"agent --forecast $BATS_TEST_TMPDIR/random.model --metrics-listen none"
		"agent --forecast $BATS_TEST_TMPDIR/flipped.model --metrics-listen none"
		"agent --forecast $BATS_TEST_TMPDIR/short.model --metrics-listen none"
	)
	# Model files that no agent may start on: empty, random, one bit
	# flipped (CRC), cut short.
	: >"$BATS_TEST_TMPDIR/empty.model"
	head -c 4096 /dev/urandom >"$BATS_TEST_TMPDIR/random.model"
	"$QLB" forecast train --trace "$REPO/data/traces/worldcup98-per-minute.csv.gz" --horizon 1 \
		--limit 2000 --hidden 4 --epochs 1 --out "$BATS_TEST_TMPDIR/good.model" >/dev/null
	python3 - "$BATS_TEST_TMPDIR" <<'PY'
import sys
d = sys.argv[1]
b = bytearray(open(d + "/good.model", "rb").read())
b[len(b) // 2] ^= 0x10
open(d + "/flipped.model", "wb").write(b)
open(d + "/short.model", "wb").write(b[: len(b) // 3])
PY
	assert_usage_errors "${bad[@]}"
	# Ring weights move with the running agent; compare what the CLI owns.
	after=$(qlb vip list --json | jq -c '[.[] | {vip, proto, policy}]')
	after+=$(qlb backend list --json | jq -c '[.[] | {backend, weight}]')
	[ "$before" = "$after" ]
}
