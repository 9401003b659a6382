#!/usr/bin/env bats
# End to end through the kernel's XDP path: two client namespaces, the
# balancer, three nginx backends, real HTTP clients (curl, h2load). The
# testbed is built in setup_file and removed in teardown_file, whatever
# happens in between.

bats_require_minimum_version 1.5.0

REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
QLB=${QLB:-$REPO/build/qlb}
export TB_PREFIX=qlbe2e TB_CLIENTS=2 TB_BACKENDS=3
export QLB_PIN_DIR=/sys/fs/bpf/qlb-e2e
# shellcheck source=../../scripts/testbed.sh
source "$REPO/scripts/testbed.sh"
# shellcheck source=lib.bash
source "$BATS_TEST_DIRNAME/lib.bash"

VIP=$TB_VIP4:80
VIP6="[$TB_VIP6]:80"
WEIGHTS=(0 1 2 3) # backends b1..b3

qlb() { tb_in lb "$QLB" "$@"; }

setup_file() {
	"$QLB" detach --all --purge >/dev/null 2>&1 || true
	tb_up
	qlb attach eth0 --backend-iface eth1
	qlb vip add "$VIP"
	qlb vip add "$VIP6"
	for i in 1 2 3; do
		qlb backend add "$VIP" "$(tb_backend_ip4 "$i")" --weight "${WEIGHTS[i]}"
		qlb backend add "$VIP6" "[$(tb_backend_ip6 "$i")]" --weight 1
	done
	tb_make_file big.bin 4000000
}

teardown_file() {
	"$QLB" detach --all --purge || true
	tb_down
}

# Per-backend counter from `qlb stats --json`: field $1 of backend $2 of VIP $3.
backend_counter() {
	qlb stats --json | jq -r --arg f "$1" --arg b "$2" --arg v "${3:-$VIP}" \
		'.vips[] | select(.vip == $v) | .backends[] | select(.backend == $b) | .[$f]'
}

reason_counter() {
	qlb stats --json | jq -r --arg r "$1" '.reasons[$r].packets'
}

# N requests from client $1 with one connection each (Connection: close);
# prints one line per response: the body ("backend bN").
curl_many() {
	local client=$1 n=$2 url=$3 cfg
	cfg=$(mktemp)
	for ((k = 0; k < n; k++)); do echo "url = \"$url\""; done >"$cfg"
	tb_in "$client" curl --silent --show-error --fail --parallel --parallel-max 16 \
		--max-time 10 -H 'Connection: close' -K "$cfg"
	local rc=$?
	rm -f "$cfg"
	return $rc
}

@test "10,000 HTTP requests through the VIP: right content, weighted split, exact counters" {
	local before=() logged=() flows=() closed=() total=0 out1 out2
	for i in 1 2 3; do before[i]=$(tb_nginx_count "$i"); done
	out1=$(mktemp) out2=$(mktemp)
	curl_many c1 5000 "http://$TB_VIP4/" >"$out1" &
	local p1=$!
	curl_many c2 5000 "http://$TB_VIP4/" >"$out2" &
	local p2=$!
	wait $p1
	wait $p2
	# Every response is whole and comes from one of the backends.
	[ "$(cat "$out1" "$out2" | wc -l)" -eq 10000 ]
	[ "$(cat "$out1" "$out2" | grep -cxE 'backend b[123]')" -eq 10000 ]
	for i in 1 2 3; do
		logged[i]=$(($(tb_nginx_count "$i") - before[i]))
		flows[i]=$(backend_counter flows_new "$(tb_backend_ip4 "$i")")
		closed[i]=$(backend_counter flows_closed "$(tb_backend_ip4 "$i")")
		answered=$(cat "$out1" "$out2" | grep -cx "backend b$i" || true)
		echo "b$i weight ${WEIGHTS[i]}: client saw $answered, nginx logged ${logged[i]}, qlb counted ${flows[i]} new / ${closed[i]} closed"
		# The balancer, the servers and the client agree exactly.
		[ "${flows[i]}" -eq "${logged[i]}" ]
		[ "${closed[i]}" -eq "${logged[i]}" ]
		[ "$answered" -eq "${logged[i]}" ]
		total=$((total + logged[i]))
	done
	[ "$total" -eq 10000 ]
	# Shares follow the weights 1:2:3 (16.7/33.3/50 %) within 3 points.
	for i in 1 2 3; do
		share=$((flows[i] * 1000 / 10000))        # per mille
		want=$((WEIGHTS[i] * 1000 / 6))
		[ $((share - want)) -lt 30 ] && [ $((want - share)) -lt 30 ]
	done
	rm -f "$out1" "$out2"
}

@test "IPv6 VIP: requests succeed across all backends" {
	local out
	out=$(curl_many c1 300 "http://[$TB_VIP6]/")
	[ "$(grep -cxE 'backend b[123]' <<<"$out")" -eq 300 ]
	for i in 1 2 3; do grep -qx "backend b$i" <<<"$out"; done
}

@test "non-VIP traffic passes to the balancer's own stack" {
	local icmp_before
	icmp_before=$(reason_counter pass_not_tcp_udp)
	tb_in c1 ping -c 3 -i 0.2 -W 1 "$TB_LB_IP4"
	[ "$(reason_counter pass_not_tcp_udp)" -ge $((icmp_before + 3)) ]
}

@test "draining a backend stops new flows; a long-lived download on it completes" {
	local conn backend victim idx out flows_before
	# A slow download (about 8 s) holds one connection open. A small
	# receive buffer keeps the server from finishing early into it.
	tb_in c1 sysctl -qw net.ipv4.tcp_rmem="4096 65536 65536"
	tb_in c1 curl --silent --fail --max-time 30 --limit-rate 500k -o "$BATS_TEST_TMPDIR/big.bin" \
		"http://$TB_VIP4/big.bin" &
	local pid=$!
	for _ in $(seq 50); do
		conn=$(qlb conn list --open --client "$(tb_client_ip4 1)" --json |
			jq -r '.[0].backend // empty')
		[ -n "$conn" ] && break
		sleep 0.1
	done
	[ -n "$conn" ]
	# The data plane's tick clock agrees with CLOCK_MONOTONIC: a flow
	# that is moving data now is not idle.
	idle=$(qlb conn list --open --client "$(tb_client_ip4 1)" --json | jq '.[0].idle_s')
	echo "idle_s of the live download: $idle"
	awk -v i="$idle" 'BEGIN { exit !(i >= 0 && i < 2) }'
	victim=$conn
	for i in 1 2 3; do [ "$(tb_backend_ip4 "$i")" = "$victim" ] && idx=$i; done
	qlb backend set "$VIP" "$victim" --drain
	flows_before=$(backend_counter flows_new "$victim")
	out=$(curl_many c2 600 "http://$TB_VIP4/")
	[ "$(grep -cxE 'backend b[123]' <<<"$out")" -eq 600 ]
	[ "$(grep -cx "backend b$idx" <<<"$out" || true)" -eq 0 ]
	[ "$(backend_counter flows_new "$victim")" -eq "$flows_before" ]
	# The connection that was there before the drain still finishes whole.
	kill -0 "$pid"
	wait "$pid"
	cmp "$BATS_TEST_TMPDIR/big.bin" "$TB_RUNDIR/b$idx/www/big.bin"
	tb_in c1 sysctl -qw net.ipv4.tcp_rmem="4096 131072 6291456"
	qlb backend set "$VIP" "$victim" --undrain
	out=$(curl_many c2 300 "http://$TB_VIP4/")
	grep -qx "backend b$idx" <<<"$out"
}

@test "killing every qlb process does not interrupt traffic" {
	local flows_before report
	flows_before=$(qlb stats --json | jq '[.vips[] | select(.vip == "'"$VIP"'") | .backends[].flows_new] | add')
	qlb stats --watch 0.2 >/dev/null &
	report=$(mktemp)
	tb_in c1 h2load --h1 -n 3000 -c 10 -H 'Connection: close' "http://$TB_VIP4/" >"$report" &
	local load=$!
	sleep 0.3
	# Every qlb process of this test; others on the host (a long
	# evaluation, say) are not ours to kill.
	local ours
	ours=$(for p in $(pgrep -x qlb); do
		grep -qxz "QLB_PIN_DIR=$QLB_PIN_DIR" "/proc/$p/environ" 2>/dev/null && echo "$p"
	done)
	[ -n "$ours" ]
	# shellcheck disable=SC2086
	kill -9 $ours
	for p in $ours; do ! tb__alive "$p" || { sleep 0.2; ! tb__alive "$p"; }; done
	wait "$load"
	cat "$report"
	grep -q '3000 succeeded, 0 failed, 0 errored, 0 timeout' "$report"
	# A new qlb process picks up the same pinned state.
	[ "$(qlb stats --json | jq '[.vips[] | select(.vip == "'"$VIP"'") | .backends[].flows_new] | add')" -eq $((flows_before + 3000)) ]
	qlb status | grep -q 'eth0 .* via bpf_link'
	rm -f "$report"
}

@test "upgrading the program in place under long downloads breaks none" {
	local pids=() i prog_before prog_after n=10
	tb_in c1 sysctl -qw net.ipv4.tcp_rmem="4096 65536 65536"
	for ((i = 0; i < n; i++)); do
		tb_in c1 curl --silent --fail --max-time 40 --limit-rate 1m \
			-o "$BATS_TEST_TMPDIR/dl$i.bin" "http://$TB_VIP4/big.bin" &
		pids+=($!)
	done
	sleep 1
	prog_before=$(qlb status --json | jq -r '.program.id')
	# Five upgrades, each an atomic swap on both interfaces.
	for i in 1 2 3 4 5; do
		run --separate-stderr qlb attach --replace
		echo "$stderr"
		[ "$status" -eq 0 ]
		[ "$stderr" = "qlb: replaced the program on 2 interfaces; flows, counters and rings kept" ]
		sleep 0.5
	done
	prog_after=$(qlb status --json | jq -r '.program.id')
	echo "program id $prog_before -> $prog_after"
	[ "$prog_before" != "$prog_after" ]
	for i in "${!pids[@]}"; do wait "${pids[i]}"; done
	for ((i = 0; i < n; i++)); do cmp "$BATS_TEST_TMPDIR/dl$i.bin" "$TB_RUNDIR/b1/www/big.bin"; done
	tb_in c1 sysctl -qw net.ipv4.tcp_rmem="4096 131072 6291456"
	qlb status | grep -q 'eth0 .* via bpf_link'
	# New connections after the upgrades, all answered.
	[ "$(curl_many c2 300 "http://$TB_VIP4/" | grep -cxE 'backend b[123]')" -eq 300 ]
	# Pins of another ABI are refused by the upgrade, in one line that
	# says what to do, and nothing changes.
	local abi bytes
	# The abi pin's one value: version (4 bytes), hash seed (4 bytes).
	bytes=$(bpftool -j map dump pinned "$QLB_PIN_DIR/abi" |
		jq -r '.[0].value | map(ltrimstr("0x")) | join(" ")')
	abi=${bytes%% *}
	[ "$abi" = "07" ]
	bpftool map update pinned "$QLB_PIN_DIR/abi" key hex 00 00 00 00 value hex 06 ${bytes#* }
	run --separate-stderr qlb attach --replace
	echo "$stderr"
	[ "$status" -ne 0 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ $stderr == *"ABI 6"*"purge"* ]]
	bpftool map update pinned "$QLB_PIN_DIR/abi" key hex 00 00 00 00 value hex $bytes
	[ "$(qlb status --json | jq -r '.program.id')" = "$prog_after" ]
}

@test "bad CLI input: one-line error, exit code 2, no change" {
	local before after
	before=$(qlb vip list --json; qlb backend list --json; qlb status --json)
	bad=(
		"vip add 10.200.2.300:80"
		"vip add 10.200.2.1:0"
		"vip add 10.200.2.1:65536"
		"vip add 10.200.2.1"
		"vip add fd00::1:80"
		"vip add [fd00::1:80"
		"vip add 10.200.2.1:80 --proto sctp"
		"vip add $VIP"
		"vip del 10.200.2.9:80"
		"vip frob $VIP"
		"backend add $VIP $(tb_backend_ip4 1)"
		"backend add $VIP 10.200.1.99:x"
		"backend add $VIP $(tb_backend_ip4 1):80 --weight -1"
		"backend add 10.200.2.9:80 $(tb_backend_ip4 1)"
		"backend add $VIP [fd00:200:1::11]"
		"backend set $VIP $(tb_backend_ip4 1) --weight 70000"
		"backend set $VIP $(tb_backend_ip4 1) --weight abc"
		"backend set $VIP $(tb_backend_ip4 1) --drain --undrain"
		"backend set $VIP 10.200.1.77"
		"backend del $VIP 10.200.1.77"
		"attach nosuch0"
		"attach eth0 --backend-iface nosuch0"
		"attach eth0 --mode turbo"
		"detach nosuch0"
		"stats --watch 0"
		"stats --count 3"
		"frobnicate"
		"vip add $VIP --bogus"
		"vip add 0.0.0.0:80"
		"vip add 255.255.255.255:80"
		"vip add 224.0.0.1:80"
		"vip add 127.0.0.1:80"
		"vip add [::]:80"
		"vip add [::1]:80"
		"vip add [ff02::1]:80"
		"backend add $VIP 0.0.0.0"
		"backend add $VIP 127.0.0.1"
		"backend add $VIP 224.0.0.5"
		"backend add $VIP 255.255.255.255"
		"backend add $VIP6 [::]"
		"backend add $VIP6 [ff02::1]"
		"backend add $VIP $(tb_backend_ip4 1):80"
		"backend add $VIP $TB_LB_BIP4"
		"backend add $VIP $TB_LB_IP4"
	)
	assert_usage_errors "${bad[@]}"
	after=$(qlb vip list --json; qlb backend list --json; qlb status --json)
	[ "$before" = "$after" ]
}

@test "an interface owned by another XDP program is not taken over" {
	local rc=0 out
	tb_in lb ip link add qx0 type veth peer name qx1
	tb_in lb ip link set qx0 up
	tb_in lb ip link set qx1 up
	tb_in lb xdp-loader load qx0 /usr/lib/x86_64-linux-gnu/bpf/xdpfilt_alw_all.o
	out=$(qlb attach qx0 2>&1) || rc=$?
	echo "$out"
	# Either libxdp's dispatcher runs both, or qlb refuses: never a silent
	# replacement of the other program.
	if [ "$rc" -eq 0 ]; then
		tb_in lb xdp-loader status qx0 | grep -q xdpfilt_alw_all
		qlb detach qx0
	else
		[ "$(wc -l <<<"$out")" -eq 1 ]
		[[ $out == "qlb: "* ]]
		tb_in lb ip link show qx0 | grep -q 'prog/xdp'
		tb_in lb xdp-loader status qx0 | grep -q xdpfilt_alw_all
		[ "$(qlb status | grep -c qx0)" -eq 0 ]
	fi
	tb_in lb ip link del qx0
}

# b3 drops SYNs to port 80: a server that is gone without a RST.
silence_b3() { tb_in b3 nft -f - <<<'table inet qlbsilent { chain in { type filter hook input priority 0; tcp dport 80 tcp flags & (syn | ack) == syn drop; }; }'; }
unsilence_b3() { tb_in b3 nft delete table inet qlbsilent 2>/dev/null || :; }

teardown() { unsilence_b3; }

@test "a backend that leaves SYNs unanswered: the clients' retries go elsewhere" {
	local body out slow=0 t i b3 refused_before
	b3=$(tb_backend_ip4 3)
	refused_before=$(backend_counter refused "$b3")
	silence_b3
	body=$(mktemp)
	# One connection at a time: b3 owns half the ring, so some land on
	# it; each of those is rescued by its client's second SYN retry (2 s),
	# and b3 then counts as refusing for 1 s, so new flows pass it over.
	for ((i = 0; i < 30; i++)); do
		t=$(tb_in c1 curl --silent --show-error --fail --max-time 6 -H 'Connection: close' \
			-o "$body" -w '%{time_total}' "http://$TB_VIP4/")
		out=$(cat "$body")
		echo "$i: $out in $t s"
		[[ $out =~ ^backend\ b[12]$ ]]
		awk -v t="$t" 'BEGIN { exit !(t < 1) }' || slow=$((slow + 1))
	done
	rm -f "$body"
	echo "$slow of 30 waited for a SYN retry; b3 refused $(($(backend_counter refused "$b3") - refused_before))"
	[ "$slow" -ge 1 ]
	[ "$(backend_counter refused "$b3")" -gt "$refused_before" ]
	unsilence_b3
	# Back: b3 answers again once its hold is over.
	sleep 1.2
	[ "$(curl_many c1 60 "http://$TB_VIP4/" | grep -cx 'backend b3')" -gt 0 ]
}

@test "help documents every command" {
	run qlb --help
	[ "$status" -eq 0 ]
	for c in attach detach vip backend stats status conn; do
		run qlb "$c" --help
		[ "$status" -eq 0 ]
		[[ $output == Usage:* ]]
	done
}
