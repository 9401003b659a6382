#!/usr/bin/env bash
# End-to-end test of scripts/testbed.sh: topology, nginx backends, files,
# cgroups and cleanup (also after a signal). Needs root. Uses its own prefix
# so it never touches a testbed someone else has up.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TB_PREFIX=qlbtt TB_RUNDIR=/tmp/qlbtt TB_CLIENTS=2 TB_BACKENDS=3
# shellcheck source=SCRIPTDIR/../../scripts/testbed.sh
source "$here/../../scripts/testbed.sh" || exit 1

pass=0 fail=0
exec 3>&1 # a trap may fire inside a command whose stdout is /dev/null
# TAP, so that prove runs this beside the unit and bats tests.
ok() { pass=$((pass + 1)); echo "ok $((pass + fail)) - $*" >&3; }
bad() { fail=$((fail + 1)); echo "not ok $((pass + fail)) - $*" >&3; }
check() { # check DESCRIPTION CMD...
	local d=$1
	shift
	if "$@"; then ok "$d"; else bad "$d"; return 1; fi
}
# Runs on every exit path, after tb_trap_cleanup's tb_down.
finish() {
	local rc=$?
	(TB_PREFIX=qlbtx TB_RUNDIR=/tmp/qlbtx tb_down) # the signal sub-test's
	((rc == 0 || fail > 0)) || bad "test aborted (exit status $rc)"
	echo "1..$((pass + fail))" >&3
	echo "# $pass passed, $fail failed" >&3
	exit $((fail > 0))
}
trap finish EXIT
tb_trap_cleanup

curl_in() { tb_in "$1" curl -sg --noproxy '*' --max-time 2 "${@:2}"; }
body_is() { # body_is NS URL EXPECTED
	local out
	out=$(curl_in "$1" "$2") && [[ $out == "$3" ]]
}
fails() { ! "$@" >/dev/null 2>&1; }
quiet() { "$@" >/dev/null 2>&1; }
has_line() { grep -qx -- "$2" "$1"; } # has_line FILE LINE
prefix_namespaces() { ip netns list | awk -v p="$1" '$1 ~ "^" p "-" { print $1 }'; }
nginx_from_rundir() { # pids of nginx processes whose cwd is under $1
	local d
	for d in /proc/[0-9]*; do
		[[ $(readlink "$d/exe" 2>/dev/null) == /usr/sbin/nginx && $(readlink "$d/cwd" 2>/dev/null) == "$1"/* ]] &&
			echo "${d#/proc/}"
	done
	return 0
}

foreign_before=$(ip netns list | grep -v '^qlbtt-' | sort)

check "tb_up" tb_up || exit 1
check "tb_up again (idempotent)" tb_up || exit 1
check "tb_nginx_start on a running backend is a no-op" tb_nginx_start 1

for ((i = 1; i <= TB_BACKENDS; i++)); do
	check "b$i answers on IPv4" body_is "b$i" "http://${TB_BACKEND_IP4[i]}/" "backend b$i"
	check "b$i answers on IPv6" body_is "b$i" "http://[${TB_BACKEND_IP6[i]}]/id.txt" "backend b$i"
	check "b$i access log counts requests" test "$(tb_nginx_count "$i")" -ge 2
done
log_line=$(tail -n1 "$(tb_nginx_log 1)")
check "access log format: $log_line" \
	grep -qE '^fd00:200:1::11 [0-9]+ "GET /id.txt HTTP/1.1" 200 11 [0-9.]+ [0-9]+$' <<<"$log_line"

for ((i = 1; i <= TB_CLIENTS; i++)); do
	check "c$i cannot reach the IPv4 VIP without a balancer" fails curl_in "c$i" "http://$TB_VIP4/"
	check "c$i cannot reach the IPv6 VIP without a balancer" fails curl_in "c$i" "http://[$TB_VIP6]/"
	check "c$i cannot reach a backend (lb does not forward)" fails tb_in "c$i" ping -c1 -W1 "$(tb_backend_ip4 1)"
	check "c$i pings lb eth0 (IPv4)" quiet tb_in "c$i" ping -c1 -W1 "$TB_LB_IP4"
	check "c$i pings lb eth0 (IPv6)" quiet tb_in "c$i" ping -c1 -W1 "$TB_LB_IP6"
done
check "b2 pings lb eth1 (IPv6)" quiet tb_in b2 ping -c1 -W1 "$TB_LB_BIP6"

check "tb_make_file" tb_make_file big.bin 1000003
for ((i = 1; i <= TB_BACKENDS; i++)); do
	f=$TB_RUNDIR/b$i/www/big.bin
	check "b$i big.bin has 1000003 bytes" test "$(stat -c %s "$f" 2>/dev/null)" = 1000003
	check "b$i big.bin equals b1's" cmp -s "$f" "$TB_RUNDIR/b1/www/big.bin"
done
check "b3 serves big.bin" test "$(curl_in b3 -o /dev/null -w '%{size_download}' "http://${TB_BACKEND_IP4[3]}/big.bin")" = 1000003
check "tb_make_file rejects a path" fails tb_make_file ../x 10
check "tb_make_file rejects a kind" fails tb_make_file x 10 random
check "tb_make_file numbers" tb_make_file text.bin 100000 numbers
f=$TB_RUNDIR/b2/www/text.bin
check "b2 text.bin has 100000 bytes" test "$(stat -c %s "$f" 2>/dev/null)" = 100000
check "b2 text.bin starts 1, 2, 3" test "$(head -3 "$f" | tr '\n' ' ')" = "1 2 3 "
# Work for gzip: it compresses far less than the "yes" file does.
check "text.bin is not a repeated line" test "$(gzip -c "$f" | wc -c)" -gt 20000

mapfile -t pids < <(tb_nginx_pids 1)
check "b1 has a master and a worker" test "${#pids[@]}" -ge 2
check "tb_backend_cpu" tb_backend_cpu 1 50000
check "cpu quota set" test "$(cat "/sys/fs/cgroup/cpu/$TB_PREFIX/b1/cpu.cfs_quota_us")" = 50000
for p in "${pids[@]}"; do
	check "nginx pid $p in cpu cgroup" has_line "/sys/fs/cgroup/cpu/$TB_PREFIX/b1/tasks" "$p"
done
# cpuacct, where it is a hierarchy of its own: the agent's cgroup usage
# source reads b1's CPU time there.
if [[ -d /sys/fs/cgroup/cpuacct && ! /sys/fs/cgroup/cpuacct -ef /sys/fs/cgroup/cpu ]]; then
	for p in "${pids[@]}"; do
		check "nginx pid $p in cpuacct cgroup" has_line "/sys/fs/cgroup/cpuacct/$TB_PREFIX/b1/tasks" "$p"
	done
	u0=$(cat "/sys/fs/cgroup/cpuacct/$TB_PREFIX/b1/cpuacct.usage" 2>/dev/null || echo 0)
	for _ in 1 2 3 4 5 6 7 8 9 10; do curl_in b1 -o /dev/null "http://${TB_BACKEND_IP4[1]}/big.bin" || :; done
	u1=$(cat "/sys/fs/cgroup/cpuacct/$TB_PREFIX/b1/cpuacct.usage" 2>/dev/null || echo 0)
	check "b1's cpuacct.usage grows as it serves" test "$u1" -gt "$u0"
fi
check "tb_backend_mem" tb_backend_mem 2 $((256 << 20))
for p in $(tb_nginx_pids 2); do
	check "nginx pid $p in memory cgroup" has_line "/sys/fs/cgroup/memory/$TB_PREFIX/b2/tasks" "$p"
done
check "b1 still answers under its quota" body_is b1 "http://${TB_BACKEND_IP4[1]}/" "backend b1"
check "tb_nginx_stop b1" tb_nginx_stop 1
check "tb_nginx_start b1 again" tb_nginx_start 1
mapfile -t pids < <(tb_nginx_pids 1)
check "restarted b1 has a master and a worker" test "${#pids[@]}" -ge 2
for p in "${pids[@]}"; do
	check "restarted nginx pid $p is back in b1's cpu cgroup" has_line "/sys/fs/cgroup/cpu/$TB_PREFIX/b1/tasks" "$p"
	[[ ! -d /sys/fs/cgroup/cpuacct/$TB_PREFIX ]] ||
		check "restarted nginx pid $p is back in b1's cpuacct cgroup" has_line "/sys/fs/cgroup/cpuacct/$TB_PREFIX/b1/tasks" "$p"
done

check "tb_nginx_stop" tb_nginx_stop 3
check "tb_nginx_stop again (idempotent)" tb_nginx_stop 3
check "b3 is down" fails curl_in b3 "http://${TB_BACKEND_IP4[3]}/"
check "tb_nginx_start" tb_nginx_start 3
check "b3 is back" body_is b3 "http://${TB_BACKEND_IP4[3]}/" "backend b3"

check "tb_down" tb_down
check "no namespace left" test -z "$(prefix_namespaces "$TB_PREFIX")"
check "no nginx left" test -z "$(nginx_from_rundir "$TB_RUNDIR")"
for p in "${pids[@]}"; do check "nginx pid $p is gone" fails tb__alive "$p"; done
check "no cpu cgroup left" test ! -e "/sys/fs/cgroup/cpu/$TB_PREFIX"
check "no memory cgroup left" test ! -e "/sys/fs/cgroup/memory/$TB_PREFIX"
check "no cpuacct cgroup left" test ! -e "/sys/fs/cgroup/cpuacct/$TB_PREFIX"
check "no run dir left" test ! -e "$TB_RUNDIR"
check "tb_down again (idempotent)" tb_down
check "other namespaces untouched" test "$(ip netns list | grep -v '^qlbtt-' | sort)" = "$foreign_before"

# A script killed by SIGTERM still cleans up, and its own EXIT trap still runs.
# shellcheck disable=SC2016 # the inner script expands its own variables
out=$(TB_PREFIX=qlbtx TB_RUNDIR=/tmp/qlbtx TB_CLIENTS=1 TB_BACKENDS=1 timeout 30 bash -c '
	source "$1" || exit 9
	trap "echo own-exit-trap" EXIT
	tb_trap_cleanup
	tb_up || exit 9
	tb_backend_cpu 1 20000 || exit 9
	echo up
	kill -TERM $$
	sleep 10' _ "$here/../../scripts/testbed.sh")
rc=$?
check "killed script: exit status 143 (got $rc)" test "$rc" = 143
check "killed script: testbed was up, own EXIT trap ran" test "$out" = $'up\nown-exit-trap'
check "killed script: no namespace left" test -z "$(prefix_namespaces qlbtx)"
check "killed script: no nginx left" test -z "$(nginx_from_rundir /tmp/qlbtx)"
check "killed script: no cgroup or run dir left" test ! -e /sys/fs/cgroup/cpu/qlbtx -a ! -e /sys/fs/cgroup/cpuacct/qlbtx -a ! -e /tmp/qlbtx
