#!/usr/bin/env bats
# A plain veth lab, as a newcomer builds one: a client, the balancer and two
# backends, each namespace joined to the balancer by its own veth pair
# (l0 to the client, l1 and l2 to the backends). It checks `qlb -n`, the
# default pin directory of a namespace, several backend interfaces, and
# `qlb doctor`: each finding is provoked, reported with its fix, and gone
# once that fix (the command doctor printed) has run.

bats_require_minimum_version 1.5.0

REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
QLB=${QLB:-$REPO/build/qlb}
P=qdoc
NS=("$P-c" "$P-lb" "$P-b1" "$P-b2")
VIP=10.0.100.1:80
OLD_PINS=/sys/fs/bpf/qdoc-old
# shellcheck source=lib.bash
source "$BATS_TEST_DIRNAME/lib.bash"

qlb() { "$QLB" -n "$P-lb" "$@"; }

setup_file() {
	local ns i
	for ns in "${NS[@]}"; do
		[[ ! -e /run/netns/$ns ]] || { echo "namespace $ns exists already" >&2; return 1; }
	done
	for ns in "${NS[@]}"; do
		ip netns add "$ns" && ip -n "$ns" link set lo up || return
	done
	ip link add eth0 netns "$P-c" type veth peer name l0 netns "$P-lb"
	ip -n "$P-c" addr add 10.0.0.2/24 dev eth0
	ip -n "$P-c" link set eth0 up
	ip -n "$P-c" route add default via 10.0.0.1
	ip -n "$P-lb" addr add 10.0.0.1/24 dev l0
	ip -n "$P-lb" link set l0 up
	for i in 1 2; do
		ip link add eth0 netns "$P-b$i" type veth peer name "l$i" netns "$P-lb"
		ip -n "$P-b$i" addr add "10.0.$i.2/24" dev eth0
		ip -n "$P-b$i" link set eth0 up
		ip -n "$P-b$i" route add default via "10.0.$i.1"
		ip -n "$P-lb" addr add "10.0.$i.1/24" dev "l$i"
		ip -n "$P-lb" link set "l$i" up
	done
	for ns in "$P-c" "$P-b1" "$P-b2"; do
		ip netns exec "$ns" ethtool -K eth0 gro on tx off >/dev/null
	done
	ip netns exec "$P-lb" sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0
	qlb attach l0 --backend-iface l1 --backend-iface l2
	qlb vip add "$VIP"
	qlb backend add "$VIP" 10.0.1.2
	qlb backend add "$VIP" 10.0.2.2
	# The fixes doctor prints call `qlb`.
	mkdir -p "$BATS_FILE_TMPDIR/bin"
	ln -sf "$QLB" "$BATS_FILE_TMPDIR/bin/qlb"
}

teardown_file() {
	local ns
	qlb detach --all --purge >/dev/null 2>&1 || true
	"$QLB" -n "$P-c" detach --all --purge >/dev/null 2>&1 || true
	QLB_PIN_DIR=$OLD_PINS "$QLB" detach --all --purge >/dev/null 2>&1 || true
	for ns in "${NS[@]}"; do
		[[ ! -e /run/netns/$ns ]] || ip netns del "$ns" 2>/dev/null || true
	done
	rm -rf "/sys/fs/bpf/qlb/netns/$P-lb" "/sys/fs/bpf/qlb/netns/$P-c" "$OLD_PINS"
	rmdir /sys/fs/bpf/qlb/netns /sys/fs/bpf/qlb 2>/dev/null || true
}

doctor_json() { qlb doctor --json "$@" || true; }

# The fix of the first finding of check $1 (whose problem matches $2, if
# given); fails when there is none.
fix_of() {
	local fix
	fix=$(doctor_json | jq -r --arg c "$1" --arg m "${2:-}" \
		'[.findings[] | select(.check == $c and (.problem | test($m)))][0].fix // empty')
	echo "$1 -> fix: $fix" >&2
	[ -n "$fix" ] && echo "$fix"
}

no_finding() {
	local left
	left=$(doctor_json | jq -r --arg c "$1" --arg m "${2:-}" \
		'.findings[] | select(.check == $c and (.problem | test($m))) | .problem')
	[ -z "$left" ] || { echo "still: $left" >&2; return 1; }
}

# Runs the fix doctor printed, as a user would paste it.
apply() { PATH=$BATS_FILE_TMPDIR/bin:$PATH bash -ec "$1" >/dev/null; }

@test "the lab as built: doctor finds nothing and exits 0" {
	run qlb doctor
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"pins: /sys/fs/bpf/qlb/netns/$P-lb (ABI "* ]]
	[[ $output == *"interface l0: native, client"* ]]
	[[ $output == *"interface l2: native, backend"* ]]
	[[ $output == *"backends checked: 2"* ]]
	[[ ${lines[-1]} == "no problems found" ]]
	run qlb doctor --json
	[ "$status" -eq 0 ]
	jq -e '.findings == [] and .backends == 2 and (.interfaces | length) == 3' <<<"$output"
}

@test "ip netns exec hides the bpffs: one line that says to use qlb -n, exit 2" {
	local cmd
	for cmd in "status" "attach l0" "vip list" "backend list" "stats" "detach --all --purge"; do
		# shellcheck disable=SC2086
		run -2 --separate-stderr ip netns exec "$P-lb" "$QLB" $cmd
		echo "qlb $cmd -> $stderr"
		[ "${#stderr_lines[@]}" -eq 1 ]
		[[ $stderr == "qlb: "*"ip netns exec"*"run 'qlb -n $P-lb COMMAND ...' instead" ]]
	done
	run -1 ip netns exec "$P-lb" "$QLB" doctor --json
	fix=$(jq -r '.findings[] | select(.check == "bpffs") | .fix' <<<"$output")
	[ "$fix" = "qlb -n $P-lb doctor" ]
	apply "$fix"
	# nothing changed under the pins
	[ "$(qlb backend list --json | jq length)" -eq 2 ]
}

@test "veth-napi: a peer without GRO or XDP is reported, and fixed" {
	ip netns exec "$P-b1" ethtool -K eth0 gro off >/dev/null
	fix=$(fix_of veth-napi 'into l1 are dropped')
	[ "$fix" = "ip netns exec $P-b1 ethtool -K eth0 gro on" ]
	run -1 qlb doctor
	apply "$fix"
	no_finding veth-napi
}

@test "veth-csum: a peer that offloads TX checksums is reported, and fixed" {
	ip netns exec "$P-c" ethtool -K eth0 tx on >/dev/null
	fix=$(fix_of veth-csum 'peer of l0')
	[ "$fix" = "ip netns exec $P-c ethtool -K eth0 tx off" ]
	apply "$fix"
	no_finding veth-csum
}

@test "link-down: a peer that is down is reported, and fixed" {
	ip -n "$P-b2" link set eth0 down
	fix=$(fix_of link-down 'peer of l2')
	[ "$fix" = "ip -n $P-b2 link set dev eth0 up" ]
	apply "$fix"
	no_finding link-down
	# the link took the backend's default route with it: that shows next
	fix=$(fix_of backend-return '10.0.2.2 .* has no route back to the clients')
	apply "$fix"
	no_finding backend-return
}

@test "mtu and xdp-mode: a peer MTU too large for native XDP, the generic fallback, and why" {
	local fix_mtu fix_mode
	qlb detach l2
	ip -n "$P-b2" link set eth0 mtu 4000
	run --separate-stderr qlb attach l0 --backend-iface l2
	[ "$status" -eq 0 ]
	echo "$stderr"
	[[ $stderr == *"qlb: warning: qlb runs in generic (skb) mode on l2"* ]]
	[ "$(qlb status --json | jq -r '.interfaces[] | select(.iface == "l2") | .mode')" = generic ]
	fix_mtu=$(fix_of mtu 'peer of l2.*MTU 4000, above 3506')
	fix_mode=$(fix_of xdp-mode 'generic .* on l2.*Numerical result out of range')
	[ "$fix_mtu" = "ip -n $P-b2 link set dev eth0 mtu 1500" ]
	[ "$fix_mode" = "qlb -n $P-lb detach l2 && qlb -n $P-lb attach l0 --backend-iface l2 --mode native" ]
	apply "$fix_mtu"
	no_finding mtu
	apply "$fix_mode"
	no_finding xdp-mode
	[ "$(qlb status --json | jq -r '.interfaces[] | select(.iface == "l2") | .mode')" = native ]
}

@test "backend-iface: a backend behind an interface without qlb is reported, and fixed" {
	qlb detach l2
	fix=$(fix_of backend-iface '10.0.2.2 is reached through l2')
	[ "$fix" = "qlb -n $P-lb attach l0 --backend-iface l2" ]
	apply "$fix"
	no_finding backend-iface
	# backend add warns of the same at once
	qlb detach l2
	qlb backend del "$VIP" 10.0.2.2
	run --separate-stderr qlb backend add "$VIP" 10.0.2.2
	[ "$status" -eq 0 ]
	[[ $stderr == "qlb: warning: backend 10.0.2.2 is reached through l2, where qlb is not attached"* ]]
	qlb attach l0 --backend-iface l2
	no_finding backend-iface
}

@test "backend-route: a backend whose route moved is reported" {
	ip -n "$P-lb" route add 10.0.2.2/32 dev l1
	fix=$(fix_of backend-route '10.0.2.2 was added behind l2, but its route now leaves through l1')
	[ "$fix" = "qlb -n $P-lb backend del $VIP 10.0.2.2 && qlb -n $P-lb backend add $VIP 10.0.2.2 --weight 1" ]
	ip -n "$P-lb" route del 10.0.2.2/32 dev l1
	no_finding backend-route
}

@test "backend-neigh: a next hop without a neighbour entry is reported, and fixed" {
	ip -n "$P-lb" neigh del 10.0.1.2 dev l1
	fix=$(fix_of backend-neigh '10.0.1.2 .* has no neighbour entry')
	[ "$fix" = "ip netns exec $P-lb ping -c 1 -I l1 10.0.1.2" ]
	apply "$fix"
	no_finding backend-neigh
	# a next hop that moved to another MAC
	real=$(ip -n "$P-lb" -j neigh show 10.0.1.2 dev l1 | jq -r '.[0].lladdr')
	ip -n "$P-lb" neigh replace 10.0.1.2 lladdr 02:00:00:00:00:01 dev l1 nud permanent
	fix_of backend-neigh 'is now at 02:00:00:00:00:01, qlb sends to' >/dev/null
	ip -n "$P-lb" neigh replace 10.0.1.2 lladdr "$real" dev l1 nud reachable
	no_finding backend-neigh
}

@test "backend-return: a backend that routes the clients elsewhere is reported, and fixed" {
	ip -n "$P-b1" route del default
	fix=$(fix_of backend-return '10.0.1.2 .* has no route back to the clients')
	[ "$fix" = "ip -n $P-b1 route replace default via 10.0.1.1 dev eth0" ]
	apply "$fix"
	no_finding backend-return
	# through another interface, with strict rp_filter: the requests drop too
	ip -n "$P-b1" link add x0 type veth peer name x1
	ip -n "$P-b1" addr add 10.9.0.1/24 dev x0
	ip -n "$P-b1" link set x0 up
	ip -n "$P-b1" link set x1 up
	ip netns exec "$P-b1" sysctl -qw net.ipv4.conf.all.rp_filter=1
	ip -n "$P-b1" route replace default via 10.9.0.2 dev x0
	fix=$(fix_of backend-return 'routes the clients \(10.0.0.1\) through 10.9.0.2.*strict rp_filter drops the requests')
	apply "$fix"
	no_finding backend-return
	ip -n "$P-b1" link del x0
	ip netns exec "$P-b1" sysctl -qw net.ipv4.conf.all.rp_filter=0
}

@test "forwarding: IP forwarding on the balancer is reported, and fixed" {
	ip netns exec "$P-lb" sysctl -qw net.ipv4.ip_forward=1
	fix=$(fix_of forwarding 'ip_forward is on')
	[ "$fix" = "ip netns exec $P-lb sysctl -w net.ipv4.ip_forward=0" ]
	apply "$fix"
	no_finding forwarding
}

@test "abi: pins of an older qlb, or of another ABI, are refused and can be purged" {
	local v
	mkdir -p "$OLD_PINS"
	bpftool map create "$OLD_PINS/vips" type hash key 4 value 4 entries 1 name vips
	run -1 --separate-stderr env QLB_PIN_DIR=$OLD_PINS "$QLB" status
	echo "$stderr"
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ $stderr == "qlb: the pins under $OLD_PINS are older than qlb ABI "*"qlb detach --all --purge"* ]]
	run -1 env QLB_PIN_DIR=$OLD_PINS "$QLB" doctor --json
	[ "$(jq -r '.findings[] | select(.check == "abi") | .fix' <<<"$output")" = "qlb detach --all --purge" ]
	# another version's abi pin
	bpftool map create "$OLD_PINS/abi" type array key 4 value 8 entries 1 name abi
	bpftool map update pinned "$OLD_PINS/abi" key 0 0 0 0 value 5 0 0 0 0 0 0 0
	run -1 --separate-stderr env QLB_PIN_DIR=$OLD_PINS "$QLB" vip add 10.9.9.9:80
	[[ $stderr == "qlb: the pins under $OLD_PINS are of qlb ABI 5, this qlb speaks ABI "* ]]
	# nothing was added to them
	[ "$(bpftool map dump pinned "$OLD_PINS/vips" -j | jq length)" -eq 0 ]
	QLB_PIN_DIR=$OLD_PINS apply "qlb detach --all --purge"
	[ ! -e "$OLD_PINS" ]
}

@test "pins per namespace: two balancers in two namespaces do not share state" {
	"$QLB" -n "$P-c" vip add 10.0.200.1:80
	[ "$("$QLB" -n "$P-c" status --json | jq -r .pin_dir)" = "/sys/fs/bpf/qlb/netns/$P-c" ]
	[ "$(qlb status --json | jq -r .pin_dir)" = "/sys/fs/bpf/qlb/netns/$P-lb" ]
	[ "$("$QLB" -n "$P-c" vip list --json | jq -r '.[].vip')" = "10.0.200.1:80" ]
	[ "$(qlb vip list --json | jq -r '.[].vip')" = "$VIP" ]
	"$QLB" -n "$P-c" detach --all --purge
	[ ! -e "/sys/fs/bpf/qlb/netns/$P-c" ]
	[ -e "/sys/fs/bpf/qlb/netns/$P-lb/vips" ]
	run -2 --separate-stderr "$QLB" -n no-such-ns status
	[ "$stderr" = "qlb: no network namespace 'no-such-ns' (see 'ip netns list')" ]
	# a path works as well as a name
	[ "$("$QLB" -n "/run/netns/$P-lb" status --json | jq -r .pin_dir)" = "/sys/fs/bpf/qlb/netns/$P-lb" ]
}

@test "attach: several backend interfaces at once, one more later, one removed" {
	qlb detach l1
	qlb detach l2
	ip link add l3 netns "$P-lb" type veth peer name l3p netns "$P-c"
	ip -n "$P-lb" link set l3 up
	qlb attach l0 --backend-iface l1 --backend-iface l2
	roles=$(qlb status --json | jq -r '[.interfaces[] | "\(.iface)=\(.role)"] | sort | join(" ")')
	[ "$roles" = "l0=client l1=backend l2=backend" ]
	qlb attach l0 --backend-iface l3
	[ "$(qlb status --json | jq '.interfaces | length')" -eq 4 ]
	# again: nothing to do, nothing said
	run --separate-stderr qlb attach l0 --backend-iface l1 --backend-iface l2
	[ "$status" -eq 0 ]
	qlb detach l3
	[ "$(qlb status --json | jq -r '[.interfaces[].iface] | sort | join(" ")')" = "l0 l1 l2" ]
	ip -n "$P-lb" link del l3
}

@test "attach: bad input gets one line, exit 2, and attaches nothing" {
	local before
	before=$(qlb status --json)
	assert_usage_errors \
		"attach l0 --backend-iface l1 --backend-iface l1" \
		"attach l0 --mode native --mode generic" \
		"attach l0 -m native -m native" \
		"attach l0 --backend-iface l1 --backend-iface nosuch0" \
		"attach l0 --backend-iface" \
		"attach" \
		"attach l0 l1" \
		"attach l0 --mode turbo" \
		"vip add 10.1.1.1:80 --proto tcp --proto udp" \
		"backend set $VIP 10.0.1.2 --weight 2 --weight 3" \
		"backend set $VIP 10.0.1.2 --drain --undrain" \
		"stats --watch 1 --watch 2" \
		"conn list --limit 1 --limit 2" \
		"agent --window 1 --window 2" \
		"doctor --json --json"
	[ "$(qlb status --json)" = "$before" ]
}
