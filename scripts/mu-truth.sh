#!/usr/bin/env bash
# The agent's capacity estimate against the truth, on the real data plane.
#
#   2 clients (c1 c2) -- balancer (lb, XDP) -- nginx b1 b2 b3 at 30/20/10 %
#   of a CPU (cgroup v1 quotas), a connection per request
#
# --work says what a request costs: "gzip" (the default) compresses 100 KB
# of text per request, work that nginx does and its quota bounds; "file" is
# the demo's 100 KB file by sendfile, where most of the work (the kernel's
# transmit, in softirq) is charged to no backend's quota, so a backend's
# capacity moves with its concurrency and from run to run.
#
# Truth: all three behind the VIP with lc (which keeps a queue at each, where
# a weighted split would hold the fast ones to the slow one's pace in a
# closed loop), saturated together by a closed loop (wrk from both clients, 64 connections in all, --runs
# times), each backend's requests counted in its nginx log: its capacity is
# the median of those throughputs. Each backend alone (16 and 64
# connections) is shown too; it differs, since what the host's other work
# costs a backend's quota (softirq time is charged to whoever runs) depends
# on what else is running.
# Estimates: all three behind the VIP with the qlb policy and `qlb agent`,
# under a closed loop (the demo's 16 connections) and under open-loop
# Poisson arrivals at --load of the summed capacity (qlb-loadgen), each
# without a usage source and with the cgroup source (cpuacct); the estimate
# is the median of μ̂ over the second half of the phase's windows.
# Prints a markdown table (capacity, μ̂ and its error per backend and phase,
# the ranking) and keeps every raw file in --out.
#
# usage: scripts/mu-truth.sh [--work gzip|file] [--runs N] [--seconds S]
#                            [--load F] [--agent-args "ARGS"] [--out DIR]
#   --work W     gzip (default) or file, as above
#   --agent-args passed to every `qlb agent`, e.g. "--occupancy"
#   --runs N     saturating runs per backend and connection count (default 3)
#   --seconds S  length of each estimate phase (default 40; truth runs 8 s)
#   --load F     open-loop arrival rate over the summed capacity (default 0.6)
#   --out DIR    raw data (default build/mu-truth)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
QLB=${QLB:-$repo/build/qlb}
LOADGEN=${LOADGEN:-$repo/build/qlb-loadgen}

bad() {
	echo "mu-truth: $*" >&2
	exit 2
}

work=gzip runs=3 seconds=40 load=0.6 out=$repo/build/mu-truth agent_args=()
while (($#)); do
	case $1 in
	--work | --runs | --seconds | --load | --out | --agent-args)
		(($# >= 2)) || bad "$1 needs a value"
		case $1 in
		--work) work=$2 ;; --runs) runs=$2 ;; --seconds) seconds=$2 ;; --load) load=$2 ;; --out) out=$2 ;;
		--agent-args) read -ra agent_args <<<"$2" ;;
		esac
		shift 2
		;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*) bad "unknown argument '$1'" ;;
	esac
done
[[ $work == gzip || $work == file ]] || bad "--work '$work': want gzip or file"
[[ $runs =~ ^[1-9][0-9]?$ ]] || bad "--runs '$runs': want 1-99"
{ [[ $seconds =~ ^[1-9][0-9]{1,3}$ ]] && ((seconds >= 20)); } || bad "--seconds '$seconds': want 20-9999"
awk -v f="$load" 'BEGIN { exit !(f ~ /^[0-9.]+$/ && f > 0 && f < 1) }' || bad "--load '$load': want a fraction in (0, 1)"
[[ -x $QLB ]] || bad "no qlb binary at $QLB (run make)"
[[ -x $LOADGEN ]] || bad "no qlb-loadgen at $LOADGEN (run make)"
for tool in wrk jq; do command -v "$tool" >/dev/null || bad "$tool not installed (run scripts/deps.sh)"; done

export TB_PREFIX=qlbmu TB_CLIENTS=2 TB_BACKENDS=3
export QLB_PIN_DIR=/sys/fs/bpf/qlb-mu-truth
# shellcheck source=scripts/testbed.sh
source "$here/testbed.sh"
QUOTAS=(0 30000 20000 10000) # b1..b3, of a 100 ms period
VIP=$TB_VIP4:80
WRK_ENCODING=() LOADGEN_ENCODING=()
if [[ $work == gzip ]]; then
	export TB_NGINX_HTTP='gzip on; gzip_types *; gzip_min_length 0; gzip_comp_level 1;'
	WRK_ENCODING=(-H 'Accept-Encoding: gzip') LOADGEN_ENCODING=(--compressed)
fi

agent_pid='' load_pids=()
stop_children() {
	local p
	for p in $agent_pid "${load_pids[@]}"; do kill "$p" 2>/dev/null || :; done
	for p in $agent_pid "${load_pids[@]}"; do wait "$p" 2>/dev/null || :; done
	agent_pid='' load_pids=()
}
cleanup() {
	stop_children
	[[ ! -e /run/netns/$TB_PREFIX-lb ]] || tb_in lb "$QLB" detach --all --purge >/dev/null 2>&1 || :
	rm -rf "$QLB_PIN_DIR"
	tb_down
}
trap cleanup EXIT
tb_trap_cleanup

qlb() { tb_in lb "$QLB" "$@"; }
say() { printf '== %s\n' "$*" >&2; }

# Requests/s of both clients' wrk logs together.
wrk_rps() {
	awk '/^Requests\/sec:/ { s += $2 } END { printf "%.1f\n", s }' "$@"
}

closed_loop() { # SECONDS CONNS_PER_CLIENT LOGPREFIX
	local c
	load_pids=()
	for c in 1 2; do
		tb_in "c$c" timeout $(($1 + 15)) wrk -t1 -c"$2" -d "${1}s" -H 'Connection: close' \
			"${WRK_ENCODING[@]}" "http://$TB_VIP4/work.bin" >"$3-c$c.log" 2>&1 &
		load_pids+=($!)
	done
	wait "${load_pids[@]}"
	load_pids=()
}

open_loop() { # SECONDS RATE LOGPREFIX
	local c n
	n=$(awk -v s="$1" -v r="$2" 'BEGIN { printf "%d", s * r / 2 }')
	load_pids=()
	for c in 1 2; do
		tb_in "c$c" "$LOADGEN" --url "http://$TB_VIP4/" --files work.bin --requests "$n" \
			--rate "$(awk -v r="$2" 'BEGIN { print r / 2 }')" --arrivals poisson --seed "$c" \
			"${LOADGEN_ENCODING[@]}" --timeout 10 --json >"$3-c$c.json" 2>&1 &
		load_pids+=($!)
	done
	wait "${load_pids[@]}"
	load_pids=()
}

rm -rf "$out" "$QLB_PIN_DIR"
mkdir -p "$out"
say "testbed: nginx b1 b2 b3 at 30/20/10 % of a CPU, work: $work"
tb_up
for i in 1 2 3; do tb_backend_cpu "$i" "${QUOTAS[i]}"; done
[[ -n $TB_CGROUP_CPUACCT ]] || bad "no separate cpuacct hierarchy: the cgroup source reads cpu,cpuacct"
if [[ $work == gzip ]]; then tb_make_file work.bin 100000 numbers; else tb_make_file work.bin 100000; fi
qlb attach eth0 --backend-iface eth1 >/dev/null

# --- truth ---------------------------------------------------------------
echo "backend,conns,run,rps" >"$out/truth.csv"
qlb vip add "$VIP" --policy wrr >/dev/null
for i in 1 2 3; do
	qlb backend add "$VIP" "$(tb_backend_ip4 "$i")" >/dev/null
	for conns in 8 32; do
		for ((r = 1; r <= runs; r++)); do
			closed_loop 8 "$conns" "$out/truth-b$i-$conns-$r"
			rps=$(wrk_rps "$out/truth-b$i-$conns-$r"-c*.log)
			echo "b$i,$((2 * conns)),$r,$rps" >>"$out/truth.csv"
			say "truth: b$i alone, $((2 * conns)) connections, run $r: $rps requests/s"
		done
	done
	qlb backend del "$VIP" "$(tb_backend_ip4 "$i")" >/dev/null
done
qlb vip del "$VIP" >/dev/null
echo "backend,run,rps" >"$out/together.csv"
qlb vip add "$VIP" --policy lc >/dev/null
for i in 1 2 3; do qlb backend add "$VIP" "$(tb_backend_ip4 "$i")" >/dev/null; done
for ((r = 1; r <= runs; r++)); do
	before=() line=''
	for i in 1 2 3; do before[i]=$(tb_nginx_count "$i"); done
	closed_loop 8 32 "$out/together-$r"
	for i in 1 2 3; do
		rps=$(awk -v n="$(($(tb_nginx_count "$i") - before[i]))" 'BEGIN { printf "%.1f", n / 8 }')
		echo "b$i,$r,$rps" >>"$out/together.csv"
		line+=" b$i $rps"
	done
	say "truth: all three together, 64 connections, run $r:$line requests/s"
done
qlb vip del "$VIP" >/dev/null

# --- estimates -----------------------------------------------------------
total=$(python3 -c '
import csv, statistics, sys
v = {}
for r in csv.DictReader(open(sys.argv[1])):
    v.setdefault(r["backend"], []).append(float(r["rps"]))
print(round(sum(statistics.median(x) for x in v.values())))' "$out/together.csv")
rate=$(awk -v t="$total" -v f="$load" 'BEGIN { printf "%.0f\n", t * f }')
for src in none cgroup; do
	for phase in closed open; do
		tag=$src-$phase
		qlb vip add "$VIP" --policy qlb >/dev/null
		for i in 1 2 3; do qlb backend add "$VIP" "$(tb_backend_ip4 "$i")" >/dev/null; done
		usage=()
		if [[ $src == cgroup ]]; then
			for i in 1 2 3; do usage+=(--usage "$(tb_backend_ip4 "$i")=cgroup:$TB_PREFIX/b$i"); done
		fi
		nsenter --net="/run/netns/$TB_PREFIX-lb" -- "$QLB" agent --window 1 --metrics-listen none \
			--history "$out/history-$tag.csv" "${usage[@]}" "${agent_args[@]}" \
			2>"$out/agent-$tag.log" &
		agent_pid=$!
		if [[ $phase == closed ]]; then
			say "estimates ($src): closed loop, 16 connections, ${seconds}s"
			closed_loop "$seconds" 8 "$out/load-$tag"
		else
			say "estimates ($src): open loop, Poisson at $rate requests/s (${load} of $total), ${seconds}s"
			open_loop "$seconds" "$rate" "$out/load-$tag"
		fi
		stop_children
		qlb vip del "$VIP" >/dev/null
	done
done

# --- report ----------------------------------------------------------------
python3 - "$out" "$rate" "$total" "$(for i in 1 2 3; do printf '%s ' "$(tb_backend_ip4 "$i")"; done)" <<'EOF'
import csv, statistics, sys
out, rate, total, addrs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split()
names = [f"b{i + 1}" for i in range(len(addrs))]
def medians(path):
    runs = {}
    for r in csv.DictReader(open(path)):
        runs.setdefault(r["backend"], []).append(float(r["rps"]))
    return runs

truth, alone = medians(f"{out}/together.csv"), medians(f"{out}/truth.csv")
cap = {b: statistics.median(truth[b]) for b in names}
phases = [(s, l) for s in ("none", "cgroup") for l in ("closed", "open")]
label = {"none": "no usage source", "cgroup": "cgroup source", "closed": "closed loop",
         "open": f"open loop {rate}/s"}

def estimate(src, load, addr):
    """Median mu over the second half of the phase's windows; the mean
    throughput over the same windows."""
    rows = [r for r in csv.DictReader(open(f"{out}/history-{src}-{load}.csv")) if r["backend"] == addr]
    half = rows[len(rows) // 2:]
    mus = [float(r["mu"]) for r in half if float(r["mu"]) > 0]
    span = float(half[-1]["ts"]) - float(half[0]["ts"]) if len(half) > 1 else 0
    served = sum(int(r["completions"]) for r in half[1:]) / span if span else 0
    return (statistics.median(mus) if mus else 0), served

with open(f"{out}/estimates.csv", "w") as f:
    f.write("source,load,backend,capacity,mu_hat,served\n")
    print("| backend | quota | alone: median (min-max) | capacity (together): median (min-max) |"
          + "".join(f" {label[s]}, {label[l]}: μ̂ (error; served/s) |" for s, l in phases))
    print("|---" * (4 + len(phases)) + "|")
    quota = {"b1": "30 %", "b2": "20 %", "b3": "10 %"}
    worst, ranked = {p: 0.0 for p in phases}, {p: [] for p in phases}
    for b, addr in zip(names, addrs):
        line = (f"| {b} | {quota[b]} | {statistics.median(alone[b]):.0f} "
                f"({min(alone[b]):.0f}-{max(alone[b]):.0f}) | {cap[b]:.0f} "
                f"({min(truth[b]):.0f}-{max(truth[b]):.0f}) |")
        for p in phases:
            mu, served = estimate(*p, addr)
            err = (mu - cap[b]) / cap[b]
            worst[p] = max(worst[p], abs(err))
            ranked[p].append((mu, b))
            f.write(f"{p[0]},{p[1]},{b},{cap[b]:.1f},{mu:.1f},{served:.1f}\n")
            line += f" {mu:.0f} ({err:+.1%}; {served:.0f}) |"
        print(line)
order = sorted(names, key=lambda b: -cap[b])
print(f"| worst error, ranking | | | {total} in all |" + "".join(
    f" {worst[p]:.1%} {'ok' if worst[p] <= 0.10 else 'FAIL'}, ranking "
    f"{'right' if [b for _, b in sorted(ranked[p], reverse=True)] == order else 'WRONG'} |"
    for p in phases))
EOF
