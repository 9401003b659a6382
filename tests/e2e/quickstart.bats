#!/usr/bin/env bats
# The README's quick start, run as it is: its shell block is taken from
# README.md between the quickstart markers, so that the README cannot drift
# from what works. The lab it builds (lab-* namespaces, python3 http.server
# backends, `qlb -n`, three backend interfaces, weights 1:2:5) then carries
# 1,000 requests, whose split must fit the weights; the README's cleanup
# block takes it down, and teardown_file makes sure of it.

bats_require_minimum_version 1.5.0

REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
QLB=${QLB:-$REPO/build/qlb}
LAB_NS=(lab-client lab-lb lab-b1 lab-b2 lab-b3)

# The shell between <!-- NAME --> and <!-- /NAME --> in the README, fences off.
readme_block() {
	awk -v b="<!-- $1 -->" -v e="<!-- /$1 -->" \
		'$0 == b { f = 1; next } $0 == e { f = 0 } f && !/^```/' "$REPO/README.md"
}

lab_pids() {
	local ns
	for ns in lab-b1 lab-b2 lab-b3; do
		[[ -e /run/netns/$ns ]] && ip netns pids "$ns"
	done
	return 0
}

setup_file() {
	local ns
	for ns in "${LAB_NS[@]}"; do
		if [[ -e /run/netns/$ns ]]; then
			echo "namespace $ns exists already: this test would take it over" >&2
			return 1
		fi
	done
	# `qlb` on the PATH, as the README asks.
	mkdir -p "$BATS_FILE_TMPDIR/bin"
	ln -sf "$QLB" "$BATS_FILE_TMPDIR/bin/qlb"
	readme_block quickstart >"$BATS_FILE_TMPDIR/quickstart.sh"
	readme_block quickstart-cleanup >"$BATS_FILE_TMPDIR/cleanup.sh"
	[ -s "$BATS_FILE_TMPDIR/quickstart.sh" ] && [ -s "$BATS_FILE_TMPDIR/cleanup.sh" ]
}

teardown_file() {
	local ns pids
	PATH=$BATS_FILE_TMPDIR/bin:$PATH bash "$BATS_FILE_TMPDIR/cleanup.sh" >/dev/null 2>&1 || true
	# Whatever the cleanup block left: the servers by PID, then the rest.
	mapfile -t pids < <(lab_pids)
	((${#pids[@]} == 0)) || kill "${pids[@]}" 2>/dev/null || true
	for ns in "${LAB_NS[@]}"; do
		[[ ! -e /run/netns/$ns ]] || ip netns del "$ns" 2>/dev/null || true
	done
	rm -rf /sys/fs/bpf/qlb/netns/lab-lb /tmp/qlb-lab
	rmdir /sys/fs/bpf/qlb/netns /sys/fs/bpf/qlb 2>/dev/null || true
}

@test "the README's quick start runs as it is" {
	# fd 3 closed: the servers it leaves running must not hold bats's.
	PATH=$BATS_FILE_TMPDIR/bin:$PATH run --separate-stderr timeout 120 \
		bash -e "$BATS_FILE_TMPDIR/quickstart.sh" 3>&-
	echo "$output"
	echo "stderr: $stderr"
	[ "$status" -eq 0 ]
	# doctor found nothing, and every backend answered
	grep -qx 'no problems found' <<<"$output"
	for i in 1 2 3; do grep -qE "^ +[0-9]+ backend b$i$" <<<"$output"; done
	# no warning from attach or backend add
	[ -z "$stderr" ]
	[[ $(qlb_pin_dir) == /sys/fs/bpf/qlb/netns/lab-lb ]]
}

qlb_pin_dir() { "$QLB" -n lab-lb status --json | jq -r .pin_dir; }

@test "1,000 requests through the lab: the split fits 1:2:5, none failed" {
	local cfg=$BATS_TEST_TMPDIR/urls out n1 n2 n3 codes
	for ((k = 0; k < 1000; k++)); do
		printf 'url = "http://10.0.100.1/"\nwrite-out = " %%{http_code}\\n"\n'
	done >"$cfg"
	out=$(ip netns exec lab-client curl --silent --parallel --parallel-max 8 --max-time 10 \
		-H 'Connection: close' -K "$cfg") || true
	codes=$(grep -c '^ 200$' <<<"$out" || true)
	n1=$(grep -c '^backend b1$' <<<"$out" || true)
	n2=$(grep -c '^backend b2$' <<<"$out" || true)
	n3=$(grep -c '^backend b3$' <<<"$out" || true)
	echo "# 1,000 requests: $codes answered 200, split $n1 / $n2 / $n3 (1:2:5 is 125 / 250 / 625)" >&3
	[ "$codes" -eq 1000 ]
	[ $((n1 + n2 + n3)) -eq 1000 ]
	# Flows hash uniformly onto ring slots held 1:2:5: each count is
	# binomial (n = 1000, p = 1/8, 2/8, 5/8); 4.5 standard deviations
	# either side make a false failure about one in 10^5.
	((n1 >= 78 && n1 <= 172))
	((n2 >= 188 && n2 <= 312))
	((n3 >= 556 && n3 <= 694))
}

@test "the README's cleanup takes the lab down" {
	local ns p pids
	mapfile -t pids < <(lab_pids)
	[ "${#pids[@]}" -ge 3 ]
	PATH=$BATS_FILE_TMPDIR/bin:$PATH run bash -e "$BATS_FILE_TMPDIR/cleanup.sh"
	echo "$output"
	[ "$status" -eq 0 ]
	for ns in "${LAB_NS[@]}"; do [ ! -e "/run/netns/$ns" ]; done
	[ ! -e /sys/fs/bpf/qlb/netns/lab-lb ]
	for p in "${pids[@]}"; do
		for ((t = 0; t < 20; t++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		! kill -0 "$p" 2>/dev/null
	done
}
