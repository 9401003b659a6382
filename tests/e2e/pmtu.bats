#!/usr/bin/env bats
# Path MTU discovery through the balancer: a client behind a router whose
# link towards it is 1280 bytes, while everything else is 1500. The
# backend's full-size replies reach the router, which answers with ICMP
# "fragmentation needed" to their source, the VIP; qlb must hand that to
# the backend that sent them (rewriting the quoted reply back to it), or the
# download stalls: the PMTU black hole.

bats_require_minimum_version 1.5.0

REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
QLB=${QLB:-$REPO/build/qlb}
export TB_PREFIX=qlbmtu TB_CLIENTS=1 TB_BACKENDS=2
export QLB_PIN_DIR=/sys/fs/bpf/qlb-pmtu-e2e
# shellcheck source=../../scripts/testbed.sh
source "$REPO/scripts/testbed.sh"

VIP=$TB_VIP4:80
# c8 is the router, c9 the client behind it (names tb_down removes).
RT_IP=10.200.0.18 FAR_NET=10.200.9 FAR_MTU=1280

qlb() { tb_in lb "$QLB" "$@"; }

setup_file() {
	"$QLB" detach --all --purge >/dev/null 2>&1 || true
	tb_up
	tb__netns c8 && tb__netns c9
	tb__veth sw c8 c8 eth0 && tb__port c8 brc
	ip link add eth1 netns "$TB_PREFIX-c8" type veth peer name eth0 netns "$TB_PREFIX-c9"
	tb_in c8 ip link set lo up
	tb_in c8 ip link set eth0 up
	tb_in c8 ip addr add "$RT_IP/24" dev eth0
	tb_in c8 ip link set eth1 mtu "$FAR_MTU" up
	tb_in c8 ip addr add "$FAR_NET.1/24" dev eth1
	tb_in c8 ip route add default via "$TB_LB_IP4"
	tb_in c8 sysctl -qw net.ipv4.ip_forward=1
	tb_in c9 ip link set lo up
	tb_in c9 ip link set eth0 up
	tb_in c9 ip addr add "$FAR_NET.2/24" dev eth0
	tb_in c9 ip route add default via "$FAR_NET.1"
	for ns in c8 c9; do
		tb_in "$ns" ethtool -K eth0 tx off tso off gso off >/dev/null
	done
	tb_in c8 ethtool -K eth1 tx off tso off gso off >/dev/null
	tb_in c8 ethtool -K eth0 gro on >/dev/null
	qlb attach eth0 --backend-iface eth1
	qlb vip add "$VIP"
	for i in 1 2; do qlb backend add "$VIP" "$(tb_backend_ip4 "$i")"; done
	tb_make_file big.bin 4000000
}

teardown_file() {
	"$QLB" detach --all --purge || true
	tb_down
}

@test "a fragmentation-needed from a small-MTU hop reaches the backend, and a large download completes" {
	local before after
	before=$(qlb stats --json | jq '.reasons.icmp_error_to_backend.packets')
	run tb_in c9 curl --silent --show-error --fail --max-time 30 \
		-o "$BATS_TEST_TMPDIR/big.bin" "http://$TB_VIP4/big.bin"
	echo "$output"
	[ "$status" -eq 0 ]
	cmp "$BATS_TEST_TMPDIR/big.bin" "$TB_RUNDIR/b1/www/big.bin"
	after=$(qlb stats --json | jq '.reasons.icmp_error_to_backend.packets')
	echo "ICMP errors translated for a backend: $((after - before))"
	[ "$after" -gt "$before" ]
	# The backend learnt the path's MTU for the far client.
	for i in 1 2; do tb_in "b$i" ip route get "$FAR_NET.2"; done | tee /dev/stderr | grep -q "mtu $FAR_MTU"
}

@test "an echo request to the VIP is answered by the balancer" {
	run tb_in c1 ping -c 3 -i 0.2 -w 10 "$TB_VIP4"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(qlb stats --json | jq '.reasons.icmp_echo_reply.packets')" -ge 3 ]
}
