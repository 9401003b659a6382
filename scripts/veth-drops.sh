#!/usr/bin/env bash
# Where the XDP balancers' interface drops come from (docs/eval/README.md, Metrics): a
# namespace testbed of 2 clients and 2 nginx servers behind qlb (lc), ten
# 7 MB fetches one after another, then five pairs at once, printing every
# interface of the switch and balancer namespaces that dropped something.
# Traffic stays inside the namespaces it creates; they go on any exit.
# usage: scripts/veth-drops.sh (as root, after make)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export TB_PREFIX=qlbdr TB_CLIENTS=2 TB_BACKENDS=2 QLB_PIN_DIR=/sys/fs/bpf/qlbdr
QLB=${QLB:-$here/../build/qlb}
# shellcheck source=scripts/testbed.sh
source "$here/testbed.sh"
# The pins first; tb_trap_cleanup chains the testbed's removal after them.
trap 'rm -rf "$QLB_PIN_DIR"' EXIT
tb_trap_cleanup
qlb() { tb_in lb "$QLB" "$@"; }
show() {
	local ns
	for ns in sw lb; do
		tb_in "$ns" ip -s -j link show | jq -r --arg ns "$ns" '.[] |
			select(.stats64.rx.dropped + .stats64.tx.dropped > 0) |
			"\($ns) \(.ifname) rx_dropped \(.stats64.rx.dropped) tx_dropped \(.stats64.tx.dropped)"'
	done
}
tb_up >/dev/null
tb_make_file big.bin 6999000
qlb attach eth0 --backend-iface eth1 >/dev/null
qlb vip add "$TB_VIP4:80" --policy lc
qlb backend add "$TB_VIP4:80" "$(tb_backend_ip4 1)"
qlb backend add "$TB_VIP4:80" "$(tb_backend_ip4 2)"
for ((i = 0; i < 10; i++)); do tb_in c1 curl -s --max-time 20 -o /dev/null "http://$TB_VIP4/big.bin"; done
echo "after 10 fetches one after another:"
show
for ((i = 0; i < 5; i++)); do
	tb_in c1 curl -s --max-time 20 -o /dev/null "http://$TB_VIP4/big.bin" &
	tb_in c2 curl -s --max-time 20 -o /dev/null "http://$TB_VIP4/big.bin" &
	wait
done
echo "after 5 pairs at once:"
show
qlb detach --all --purge >/dev/null
