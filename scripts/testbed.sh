#!/usr/bin/env bash
# qlb testbed: network namespaces joined by a "switch" namespace, with nginx
# backends, for end-to-end tests of the XDP balancer.
#
#   clients c1..cN --(brc)-- eth0 [lb] eth1 --(brb)-- backends b1..bM
#   10.200.0.0/24            VIPs 10.200.2.1         10.200.1.0/24
#   fd00:200:0::/64               fd00:200:2::1      fd00:200:1::/64
#
# Source it (functions return non-zero with a one-line message on failure) or
# run it: testbed.sh up|down|status.  Settings: TB_PREFIX (default qlbt),
# TB_CLIENTS (2), TB_BACKENDS (3), TB_RUNDIR (/tmp/$TB_PREFIX), TB_NGINX_HTTP
# (directives added to each nginx's http block, e.g. gzip to make a response
# cost CPU).
#
# Commands run in a namespace through tb_in (nsenter --net), not
# `ip netns exec`, which remounts /sys and so hides the bpffs.

TB_PREFIX=${TB_PREFIX:-qlbt}
TB_CLIENTS=${TB_CLIENTS:-2}
TB_BACKENDS=${TB_BACKENDS:-3}
TB_NGINX=${TB_NGINX:-/usr/sbin/nginx}
export TB_VIP4=10.200.2.1 TB_VIP6=fd00:200:2::1
export TB_LB_IP4=10.200.0.1 TB_LB_IP6=fd00:200:0::1   # lb eth0 (client side)
export TB_LB_BIP4=10.200.1.1 TB_LB_BIP6=fd00:200:1::1 # lb eth1 (backend side)

tb__err() { echo "testbed: $*" >&2; return 1; }

# Recompute derived names; called by every entry point so that changing
# TB_PREFIX/TB_CLIENTS/TB_BACKENDS after sourcing takes effect.
# The IP arrays are indexed from 1, like the namespaces (b1 is [1]).
# shellcheck disable=SC2034 # the arrays are for scripts that source this file
tb__vars() {
	local i
	# Namespace names ("${P}-b199") stay within 15 chars like interface names.
	[[ $TB_PREFIX =~ ^[A-Za-z0-9_]{1,10}$ ]] || tb__err "TB_PREFIX must be 1-10 chars of [A-Za-z0-9_]" || return
	if ! [[ $TB_CLIENTS =~ ^[1-9][0-9]?$|^1[0-9][0-9]$ && $TB_BACKENDS =~ ^[1-9][0-9]?$|^1[0-9][0-9]$ ]]; then
		tb__err "TB_CLIENTS/TB_BACKENDS must be 1..199" || return
	fi
	# The default run dir follows TB_PREFIX; one set by the user stays.
	if [[ -z ${TB_RUNDIR:-} || $TB_RUNDIR == "${TB__AUTO_RUNDIR:-}" ]]; then
		TB_RUNDIR=/tmp/$TB_PREFIX TB__AUTO_RUNDIR=/tmp/$TB_PREFIX
	fi
	TB_RUNDIR=${TB_RUNDIR%/}
	TB_CGROUP_CPU=/sys/fs/cgroup/cpu/$TB_PREFIX
	TB_CGROUP_MEM=/sys/fs/cgroup/memory/$TB_PREFIX
	# Where cpuacct is a hierarchy of its own (not mounted with cpu), a
	# backend gets a group there too, so that `qlb agent --usage
	# ADDR=cgroup:$TB_PREFIX/bN` reads its CPU time; else it is ''.
	TB_CGROUP_CPUACCT=''
	if [[ -d /sys/fs/cgroup/cpuacct && ! /sys/fs/cgroup/cpuacct -ef /sys/fs/cgroup/cpu ]]; then
		TB_CGROUP_CPUACCT=/sys/fs/cgroup/cpuacct/$TB_PREFIX
	fi
	TB_BACKEND_IP4=() TB_BACKEND_IP6=() TB_CLIENT_IP4=() TB_CLIENT_IP6=()
	for ((i = 1; i <= TB_BACKENDS; i++)); do
		TB_BACKEND_IP4[i]=10.200.1.$((10 + i)) TB_BACKEND_IP6[i]=fd00:200:1::$((10 + i))
	done
	for ((i = 1; i <= TB_CLIENTS; i++)); do
		TB_CLIENT_IP4[i]=10.200.0.$((10 + i)) TB_CLIENT_IP6[i]=fd00:200:0::$((10 + i))
	done
}

tb_backend_ip4() { echo "10.200.1.$((10 + $1))"; }
tb_backend_ip6() { echo "fd00:200:1::$((10 + $1))"; }
tb_client_ip4() { echo "10.200.0.$((10 + $1))"; }
tb_client_ip6() { echo "fd00:200:0::$((10 + $1))"; }

tb_in() {
	local ns=${1:?tb_in NS CMD...}
	shift
	[[ -e /run/netns/$TB_PREFIX-$ns ]] || tb__err "no namespace $TB_PREFIX-$ns" || return
	nsenter --net="/run/netns/$TB_PREFIX-$ns" -- "$@"
}

# Our namespaces only: "qlbt-..." must not match "qlbtt-sw" or foreign ones.
tb__namespaces() {
	ip netns list 2>/dev/null | awk -v p="$TB_PREFIX" \
		'$1 ~ "^" p "-(sw|lb|[cb][0-9]+)$" { print $1 }'
}

# A pid is alive if it exists and is not a zombie (pid 1 may not reap).
tb__alive() {
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	st=${st##*) }
	[[ ${st%% *} != Z ]]
}

tb__children() { # direct children of pid $1
	local f st
	for f in /proc/[0-9]*/stat; do
		st=$(cat "$f" 2>/dev/null) || continue
		st=${st##*) }
		st=${st#* }
		[[ ${st%% *} == "$1" ]] && { f=${f#/proc/}; echo "${f%/stat}"; }
	done
	return 0
}

# nginx processes started from $TB_RUNDIR: the master's cmdline names the
# run dir; workers lose their argv (setproctitle) but inherit the cwd we set.
tb__nginx_orphans() {
	local d p exe cwd
	for d in /proc/[0-9]*; do
		p=${d#/proc/}
		exe=$(readlink "$d/exe" 2>/dev/null) || continue
		[[ $exe == "$TB_NGINX"* ]] || continue
		cwd=$(readlink "$d/cwd" 2>/dev/null) || cwd=
		if [[ $cwd == "$TB_RUNDIR"/* ]] ||
			tr '\0' ' ' <"$d/cmdline" 2>/dev/null | grep -qF -- "$TB_RUNDIR/"; then
			echo "$p"
		fi
	done
	return 0
}

# Wait up to $1 tenths of a second for all the other pids to be gone.
tb__wait_gone() {
	local n=$1 p left
	shift
	while ((n-- > 0)); do
		left=0
		for p in "$@"; do tb__alive "$p" && left=1; done
		((left)) || return 0
		sleep 0.1
	done
	return 1
}

tb__bdir() { echo "$TB_RUNDIR/b$1"; }
tb_nginx_log() { echo "$TB_RUNDIR/b$1/logs/access.log"; }
tb_nginx_count() {
	local f
	f=$(tb_nginx_log "$1")
	[[ -f $f ]] || { echo 0; return 0; }
	wc -l <"$f"
}
tb_nginx_pid() { # master pid, if running
	local p
	p=$(cat "$(tb__bdir "$1")/nginx.pid" 2>/dev/null) && tb__alive "$p" && echo "$p"
}
tb_nginx_pids() { # master and workers
	local p
	p=$(tb_nginx_pid "$1") || return 1
	echo "$p"
	tb__children "$p"
}

tb__nginx_conf() {
	local i=$1 d
	d=$(tb__bdir "$i")
	mkdir -p "$d/logs" "$d/www" "$d/tmp" || return
	printf 'backend b%d\n' "$i" >"$d/www/index.html"
	printf 'backend b%d\n' "$i" >"$d/www/id.txt"
	# Every path nginx-light would default to /etc/nginx, /var/log/nginx,
	# /var/lib/nginx or /var/lock is set here (see `nginx -V`); no include of
	# /etc/nginx/mime.types, so the few types we serve are listed inline.
	# Workers run as root so docroot permissions never depend on the umask.
	cat >"$d/nginx.conf" <<EOF
daemon on;
master_process on;
worker_processes 1;
worker_rlimit_nofile 16384;
worker_shutdown_timeout 3s;
user root root;
pid $d/nginx.pid;
lock_file $d/nginx.lock;
error_log $d/logs/error.log warn;
events { worker_connections 4096; }
http {
	types { text/html html; text/plain txt; }
	default_type application/octet-stream;
	log_format qlb '\$remote_addr \$remote_port "\$request" \$status \$body_bytes_sent \$request_time \$connection';
	access_log $d/logs/access.log qlb;
	client_body_temp_path $d/tmp/body;
	proxy_temp_path $d/tmp/proxy;
	fastcgi_temp_path $d/tmp/fastcgi;
	uwsgi_temp_path $d/tmp/uwsgi;
	scgi_temp_path $d/tmp/scgi;
	# Longer than any idle spell a test holds (the soak idles its
	# keep-alive connections through a two-minute flood).
	keepalive_timeout 600;
	keepalive_requests 100000;
	sendfile on;
	${TB_NGINX_HTTP:-}
	server {
		listen $(tb_backend_ip4 "$i"):80;
		listen [$(tb_backend_ip6 "$i")]:80 ipv6only=on;
		root $d/www;
		index index.html;
	}
}
EOF
}

tb_nginx_start() {
	local i=${1:?tb_nginx_start i} d n=50
	tb__vars || return
	tb_nginx_pid "$i" >/dev/null && return 0
	d=$(tb__bdir "$i")
	[[ -f $d/nginx.conf ]] || tb__nginx_conf "$i" || return
	rm -f "$d/nginx.pid"
	# cwd = run dir, so tb_down can recognise workers (argv is overwritten).
	# The starting shell joins the backend's cgroups first (tb_backend_cpu,
	# tb_backend_mem), so that a restarted nginx keeps its limits.
	(
		for cg in "$TB_CGROUP_CPU/b$i" "$TB_CGROUP_MEM/b$i" ${TB_CGROUP_CPUACCT:+"$TB_CGROUP_CPUACCT/b$i"}; do
			[[ ! -d $cg ]] || echo "$BASHPID" >"$cg/cgroup.procs" || exit
		done
		cd "$d" && tb_in "b$i" "$TB_NGINX" -p "$d/" -c "$d/nginx.conf" </dev/null >/dev/null
	) || tb__err "nginx failed to start on b$i (see $d/logs/error.log)" || return
	# The daemonising parent exits before the master writes its pid file.
	while ((n-- > 0)); do
		tb_nginx_pid "$i" >/dev/null && return 0
		sleep 0.1
	done
	tb__err "nginx on b$i wrote no pid file"
}

tb_nginx_stop() {
	local i=${1:?tb_nginx_stop i} pids
	tb__vars || return
	mapfile -t pids < <(tb_nginx_pids "$i")
	((${#pids[@]})) || return 0
	kill -QUIT "${pids[0]}" 2>/dev/null || : # graceful; workers get at most 3 s
	tb__wait_gone 60 "${pids[@]}" && return 0
	kill -KILL "${pids[@]}" 2>/dev/null || :
	tb__wait_gone 20 "${pids[@]}" || tb__err "nginx on b$i does not exit"
}

# tb_make_file NAME SIZE [yes|numbers]: the same file on every backend;
# "numbers" (decimal lines) costs gzip real work, "yes" (the default) almost
# none.
tb_make_file() {
	local name=${1:?tb_make_file NAME SIZE} size=${2:?tb_make_file NAME SIZE} kind=${3:-yes} i tmp
	tb__vars || return
	[[ $name =~ ^[A-Za-z0-9._-]+$ && $name != .* ]] || tb__err "bad file name: $name" || return
	[[ $size =~ ^[0-9]+$ ]] || tb__err "bad size: $size" || return
	[[ $kind == yes || $kind == numbers ]] || tb__err "bad file kind: $kind" || return
	tmp=$TB_RUNDIR/.make_file.$$
	# Deterministic content; the writer dies of SIGPIPE, which pipefail
	# would report.
	if [[ $kind == yes ]]; then
		{ yes qlb || :; } | head -c "$size" >"$tmp"
	else
		{ seq 1 "$((size / 2 + 1))" || :; } | head -c "$size" >"$tmp"
	fi || tb__err "cannot write $tmp" || return
	for ((i = 1; i <= TB_BACKENDS; i++)); do
		cp "$tmp" "$(tb__bdir "$i")/www/$name" || { rm -f "$tmp"; tb__err "cannot copy $name to b$i"; return; }
	done
	rm -f "$tmp"
}

# cgroup v1 limits for one backend's nginx (master and workers; workers
# respawned later inherit the master's cgroup).
tb__cgroup_move() {
	local cg=$1 i=$2 p pids
	mapfile -t pids < <(tb_nginx_pids "$i")
	((${#pids[@]})) || tb__err "nginx not running on b$i" || return
	for p in "${pids[@]}"; do
		echo "$p" >"$cg/cgroup.procs" || tb__err "cannot move pid $p to $cg" || return
	done
}

tb_backend_cpu() {
	local i=${1:?tb_backend_cpu i QUOTA_US [PERIOD_US]} quota=${2:?quota} period=${3:-100000} cg
	tb__vars || return
	[[ -d ${TB_CGROUP_CPU%/*} ]] || tb__err "no cgroup v1 cpu controller at ${TB_CGROUP_CPU%/*}" || return
	cg=$TB_CGROUP_CPU/b$i
	mkdir -p "$cg" || tb__err "cannot create $cg" || return
	# Quota -1 first: a new period may be refused while below the old quota.
	echo -1 >"$cg/cpu.cfs_quota_us" && echo "$period" >"$cg/cpu.cfs_period_us" &&
		echo "$quota" >"$cg/cpu.cfs_quota_us" ||
		tb__err "cannot set cpu quota $quota/$period on $cg" || return
	tb__cgroup_move "$cg" "$i" || return
	[[ -n $TB_CGROUP_CPUACCT ]] || return 0
	cg=$TB_CGROUP_CPUACCT/b$i
	mkdir -p "$cg" || tb__err "cannot create $cg" || return
	tb__cgroup_move "$cg" "$i"
}

tb_backend_mem() {
	local i=${1:?tb_backend_mem i BYTES} bytes=${2:?bytes} cg
	tb__vars || return
	[[ -d ${TB_CGROUP_MEM%/*} ]] || tb__err "no cgroup v1 memory controller at ${TB_CGROUP_MEM%/*}" || return
	cg=$TB_CGROUP_MEM/b$i
	mkdir -p "$cg" || tb__err "cannot create $cg" || return
	echo "$bytes" >"$cg/memory.limit_in_bytes" || tb__err "cannot set memory limit $bytes on $cg" || return
	tb__cgroup_move "$cg" "$i"
}

tb__cgroups_rm() {
	local root d n
	for root in "$TB_CGROUP_CPU" "$TB_CGROUP_MEM" ${TB_CGROUP_CPUACCT:+"$TB_CGROUP_CPUACCT"}; do
		[[ -d $root ]] || continue
		# Exiting tasks may linger for a moment; retry rmdir briefly.
		for ((n = 0; n < 30; n++)); do
			for d in "$root"/b*/; do [[ ! -d $d ]] || rmdir "$d" 2>/dev/null || :; done
			rmdir "$root" 2>/dev/null && break
			sleep 0.1
		done
		[[ -d $root ]] && echo "testbed: cannot remove $root" >&2
	done
	return 0
}

tb_down() {
	local f ns pids
	tb__vars || return
	for f in "$TB_RUNDIR"/b*/nginx.pid; do
		[[ -e $f ]] || continue
		f=${f%/nginx.pid}
		tb_nginx_stop "${f##*/b}" || :
	done
	mapfile -t pids < <(tb__nginx_orphans)
	if ((${#pids[@]})); then
		kill -KILL "${pids[@]}" 2>/dev/null || :
		tb__wait_gone 30 "${pids[@]}" || echo "testbed: nginx pids ${pids[*]} survive" >&2
	fi
	while read -r ns; do
		[[ -z $ns ]] || ip netns del "$ns" 2>/dev/null || :
	done < <(tb__namespaces)
	tb__cgroups_rm
	# Only delete a run dir tb_up made (marker), never "/" or "/tmp".
	if [[ -e $TB_RUNDIR/.qlb-testbed && $TB_RUNDIR == /?*/?* ]]; then
		rm -rf -- "$TB_RUNDIR"
	fi
	return 0
}

# veth pair: $2 in namespace $1 <-> $4 in namespace $3.
tb__veth() {
	ip link add "$2" netns "$TB_PREFIX-$1" type veth peer name "$4" netns "$TB_PREFIX-$3"
}

# Host side of a veth: eth0 in namespace $1 with addresses $2 (v4) $3 (v6),
# default routes via $4/$5 unless empty.
tb__host() {
	local ns=$1
	tb_in "$ns" ip link set lo up &&
		tb_in "$ns" ip link set eth0 up &&
		tb_in "$ns" ip addr add "$2" dev eth0 &&
		tb_in "$ns" ip addr add "$3" dev eth0 nodad &&
		# Full checksums on the wire: XDP patches them incrementally, and
		# veth would otherwise hand over CHECKSUM_PARTIAL packets.
		tb_in "$ns" ethtool -K eth0 tx off tso off gso off >/dev/null || return
	if [[ -n $4 ]]; then # a client or backend
		tb_in "$ns" ethtool -K eth0 gro on >/dev/null &&
			tb_in "$ns" ip route add default via "$4" &&
			tb_in "$ns" ip -6 route add default via "$5" || return
	fi
}

# Switch side: enslave port $1 to bridge $2. Ports facing the balancer
# (lbc, lbb) run GRO, which makes a veth run NAPI: without it XDP_TX and
# XDP_REDIRECT frames sent into the peer are dropped. Every other port keeps
# GRO off, and the balancer-facing ports checksum in software, because a
# GRO-merged packet re-segmented towards the balancer would reach XDP with a
# CHECKSUM_PARTIAL (pseudo-header only) TCP checksum that XDP cannot see as
# such: on a real NIC every received frame carries its full checksum.
tb__port() {
	tb_in sw ip link set "$1" master "$2" up || return
	case $1 in
	lbc | lbb) tb_in sw ethtool -K "$1" gro on tx off >/dev/null ;;
	*) tb_in sw ethtool -K "$1" gro off >/dev/null ;;
	esac
}

# A namespace whose IPv6 addresses, link-local ones included, are usable at
# once: no duplicate address detection, so neighbour discovery works from
# the first second.
tb__netns() {
	ip netns add "$TB_PREFIX-$1" &&
		tb_in "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 >/dev/null
}

tb__build() {
	local i ns br
	for ns in sw lb; do tb__netns "$ns" || return; done
	for ((i = 1; i <= TB_CLIENTS; i++)); do tb__netns "c$i" || return; done
	for ((i = 1; i <= TB_BACKENDS; i++)); do tb__netns "b$i" || return; done

	# Switch: plain learning bridges, no IPv6 of their own (no RS/MLD noise),
	# no multicast snooping (ND multicast is always flooded).
	tb_in sw sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 >/dev/null &&
		tb_in sw ip link set lo up || return
	for br in brc brb; do
		tb_in sw ip link add "$br" type bridge forward_delay 0 stp_state 0 mcast_snooping 0 &&
			tb_in sw ip link set "$br" up || return
	done

	# Balancer: forwarding off, so only the XDP program moves VIP traffic.
	tb_in lb sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0 >/dev/null &&
		tb_in lb ip link set lo up &&
		tb__veth sw lbc lb eth0 && tb__veth sw lbb lb eth1 &&
		tb__port lbc brc && tb__port lbb brb || return
	tb__host lb "$TB_LB_IP4/24" "$TB_LB_IP6/64" "" "" || return
	tb_in lb ip link set eth1 up &&
		tb_in lb ip addr add "$TB_LB_BIP4/24" dev eth1 &&
		tb_in lb ip addr add "$TB_LB_BIP6/64" dev eth1 nodad &&
		tb_in lb ethtool -K eth1 tx off tso off gso off >/dev/null || return

	for ((i = 1; i <= TB_CLIENTS; i++)); do
		tb__veth sw "c$i" "c$i" eth0 && tb__port "c$i" brc &&
			tb__host "c$i" "$(tb_client_ip4 "$i")/24" "$(tb_client_ip6 "$i")/64" "$TB_LB_IP4" "$TB_LB_IP6" || return
	done
	for ((i = 1; i <= TB_BACKENDS; i++)); do
		tb__veth sw "b$i" "b$i" eth0 && tb__port "b$i" brb &&
			tb__host "b$i" "$(tb_backend_ip4 "$i")/24" "$(tb_backend_ip6 "$i")/64" "$TB_LB_BIP4" "$TB_LB_BIP6" || return
	done
}

# Does backend i serve "backend b<i>" on its own v4 and v6 address?
tb__backend_ok() {
	local i=$1 a out
	for a in "$(tb_backend_ip4 "$i")" "[$(tb_backend_ip6 "$i")]"; do
		out=$(tb_in "b$i" curl -sg --noproxy '*' --max-time 1 "http://$a/") || return 1
		[[ $out == "backend b$i" ]] || return 1
	done
}

tb_up() {
	local i n
	tb__vars || return
	tb_down
	mkdir -p "$TB_RUNDIR" && touch "$TB_RUNDIR/.qlb-testbed" || tb__err "cannot create $TB_RUNDIR" || return
	tb__build || tb__err "building the topology failed" || return
	for ((i = 1; i <= TB_BACKENDS; i++)); do
		tb__nginx_conf "$i" && tb_nginx_start "$i" || return
	done
	for ((i = 1; i <= TB_BACKENDS; i++)); do
		for ((n = 0; n < 50; n++)); do
			tb__backend_ok "$i" && break
			sleep 0.1
		done
		((n < 50)) || tb__err "backend b$i does not answer" || return
	done
}

# On exit run tb_down, then the EXIT trap that was set before (it may call
# exit, so it goes last). INT/TERM run their old trap and then exit, which
# fires the EXIT trap.
declare -gA TB__PREV_TRAP=()
tb__rc() { return "$1"; }
tb__trap() {
	local sig=$1 rc=$2 prev=${TB__PREV_TRAP[$1]:-}
	[[ $sig != EXIT ]] || tb_down
	if [[ -n $prev ]]; then
		# Give the old trap the $? it would have seen.
		if tb__rc "$rc"; then eval "$prev"; else eval "$prev"; fi
	fi
	case $sig in
	INT) exit 130 ;;
	TERM) exit 143 ;;
	esac
	return "$rc"
}
tb_trap_cleanup() {
	local sig prev t
	for sig in EXIT INT TERM; do
		prev=$(trap -p "$sig")
		[[ $prev != *tb__trap* ]] || continue # already installed
		if [[ -n $prev ]]; then
			eval "t=($prev)" # trap -- 'CMD' SIG
			prev=${t[2]}
		fi
		TB__PREV_TRAP[$sig]=$prev
		# shellcheck disable=SC2064 # expand $sig now, $? at trap time
		trap "tb__trap $sig \$?" "$sig"
	done
}

tb_status() {
	local ns i p
	tb__vars || return
	echo "prefix $TB_PREFIX, run dir $TB_RUNDIR, VIPs $TB_VIP4 $TB_VIP6"
	while read -r ns; do
		[[ -n $ns ]] || continue
		echo "== $ns"
		nsenter --net="/run/netns/$ns" -- ip -br addr show | grep -v '^lo ' || :
	done < <(tb__namespaces | sort -V)
	for ((i = 1; i <= TB_BACKENDS; i++)); do
		p=$(tb_nginx_pids "$i" | tr '\n' ' ')
		echo "nginx b$i: ${p:-not running}"
	done
}

tb__vars

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	set -u
	case ${1:-} in
	up) tb_up ;;
	down) tb_down ;;
	status) tb_status ;;
	*)
		echo "usage: $0 up|down|status" >&2
		exit 2
		;;
	esac
fi
