#!/usr/bin/env bash
# The simulator study of the evaluation: `qlb sim` runs every policy (rr, wrr,
# lc, p2c, lcpu, lram, dlbqt, qlb) and the oracle on heterogeneous pools of
# 2, 8, 64 and 1,000 backends, under Poisson, bursty (on/off) and
# trace-driven arrivals, over several seeds. Writes DIR/sim.csv (one row per
# pool size, arrivals, load, policy and seed) and DIR/sim.md (a "Simulator
# study" section: one table per pool size and arrival kind, averaged over the
# seeds, and the line that reproduces it).
#
#   scripts/eval-sim.sh --profile quick|full --out DIR [--seeds N] [--qlb PATH] [--jobs N]
#
# quick: load 0.8, 1 seed, short runs (a smoke test, well under a minute).
# full:  loads 0.7 and 0.9, 3 seeds, every backend sees >= ~10^4 requests
#        (~14 CPU-minutes: about 7 minutes on 2 idle cores).
# The binary is --qlb, else $QLB, else build/qlb of this repository. The trace
# is the repository's data/traces/worldcup98-per-minute.csv.gz
# ($QLB_TRACES_DIR overrides the directory); when it is missing the
# trace-driven rows are skipped and sim.md says so. Runs go to a temporary
# directory; DIR gets sim.csv and sim.md only once everything succeeded.
# Bad arguments: one line on stderr, exit 2, nothing written.
set -euo pipefail

prog=eval-sim
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}
bad() {
	echo "$prog: $*" >&2
	exit 2
}
die() {
	echo "$prog: $*" >&2
	exit 1
}

profile='' out='' seeds='' jobs=''
qlb=${QLB:-$repo/build/qlb}
qlb_from=QLB
[[ -n ${QLB:-} ]] || qlb_from='default binary'
while (($#)); do
	case $1 in
	--profile | --out | --seeds | --qlb | --jobs)
		(($# >= 2)) || bad "$1 needs a value (see --help)"
		case $1 in
		--profile) profile=$2 ;;
		--out) out=$2 ;;
		--seeds) seeds=$2 ;;
		--qlb) qlb=$2 qlb_from=--qlb ;;
		--jobs) jobs=$2 ;;
		esac
		shift 2
		;;
	-h | --help)
		usage
		exit 0
		;;
	*) bad "unknown argument '$1' (see --help)" ;;
	esac
done

# Heterogeneous capacities: per-server rates 4:2:1 (x 100 requests/s),
# cycled over the backends. Three capacity classes spanning a factor of 4, as
# in a pool mixing 4-, 2- and 1-vCPU instances or three hardware generations:
# wide enough that a capacity-blind policy overloads the slow class, and
# with a middle class, so a policy cannot get it right by telling just "fast"
# from "slow" (the 2-backend pool is 400:200 req/s).
mu_ratio=4:2:1
pools=(2 8 64 1000)
# Requests per run: R = max(min_requests, round(load x capacity x seconds)),
# i.e. at least `seconds` simulated seconds (policy windows of 1 s) for the
# large pools, and at least min_requests for the small ones (their tails).
case $profile in
quick)
	# 6 s at load 0.8: every one of the 1,000 backends still sees ~1,100
	# requests on average.
	loads=(0.8) min_requests=100000 seconds=6
	: "${seeds:=1}"
	;;
full)
	# 60 windows: the 1,000-backend pool gets 9.8M (0.7) and 12.6M (0.9)
	# requests, ~10^4 per backend; the small pools 10^6 each.
	loads=(0.7 0.9) min_requests=1000000 seconds=60
	: "${seeds:=3}"
	;;
'') bad "--profile quick|full is required (see --help)" ;;
*) bad "--profile: want quick or full, not '$profile'" ;;
esac
[[ -n $out ]] || bad "--out DIR is required (see --help)"
[[ ! -e $out || -d $out ]] || bad "--out: '$out' exists and is not a directory"
if ! [[ $seeds =~ ^[1-9][0-9]{0,2}$ ]] || ((seeds > 100)); then
	bad "--seeds: want 1-100, not '$seeds'"
fi
: "${jobs:=$(nproc 2>/dev/null || echo 2)}"
if ! [[ $jobs =~ ^[1-9][0-9]{0,2}$ ]] || ((jobs > 256)); then
	bad "--jobs: want 1-256, not '$jobs'"
fi
[[ -f $qlb && -x $qlb ]] || bad "$qlb_from: '$qlb' is not an executable file"
command -v jq >/dev/null || die "jq is required"

# Trace-driven arrivals: the WorldCup98 per-minute counts from the start of
# the trace, one row per 1 s window, scaled to the load (Poisson within a
# window): real rate swings of up to ~3x the mean. Not NASA-HTTP: at its
# start it averages ~1 request/s, so its per-second rows scaled to the load
# are mostly counting noise (0 to 7x the mean, second to second).
trace_name=worldcup98-per-minute.csv.gz
trace_dir=${QLB_TRACES_DIR:-$repo/data/traces}
trace=$trace_dir/$trace_name
trace_shown=${QLB_TRACES_DIR:+$trace}
trace_shown=${trace_shown:-data/traces/$trace_name}
arrivals=(poisson onoff)
if [[ -r $trace ]]; then
	arrivals+=(trace)
	trace_note=''
else
	trace_note="Trace-driven arrivals skipped: $trace_shown was not found."
	echo "$prog: $trace not found, skipping the trace-driven rows" >&2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/eval-sim.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/runs"
start=$SECONDS

# The fixed parameters are passed explicitly, so that the study does not move
# when a default of `qlb sim` does.
fixed=(--policy all --mu-ratio "$mu_ratio" --servers 1 --service exp --queue 1000
	--window 1 --warmup 0.1)

# One run: index backends arrivals load seed requests (under xargs, so the
# fixed arguments come as a string: none of them has a space).
sim_one() {
	local f=$tmp/runs/$1.json arr=$3 fx rc=0 why
	read -ra fx <<<"$fixed_str"
	[[ $arr != trace ]] || arr=trace:$trace
	"$qlb" sim "${fx[@]}" --backends "$2" --arrivals "$arr" --load "$4" \
		--seed "$5" --requests "$6" --json >"$f" 2>"$f.err" || rc=$?
	((rc)) || return 0
	why=$(head -n 1 "$f.err")
	((rc <= 128)) || why="killed by signal $((rc - 128)) $why"
	echo "$prog: qlb sim --backends $2 --arrivals $arr --load $4 --seed $5" \
		"--requests $6 failed (exit $rc): $why" >&2
	return 255 # xargs stops at the first failure
}

# requests BACKENDS LOAD: see the profiles above.
requests() {
	awk -v n="$1" -v l="$2" -v ratio="$mu_ratio" -v mn="$min_requests" -v s="$seconds" '
		BEGIN {
			k = split(ratio, r, ":")
			for (i = 0; i < n; i++) cap += 100 * r[i % k + 1]
			x = int(l * cap * s + 0.5)
			print (x > mn ? x : mn)
		}'
}

# The job list, largest pool first so that the long runs start early.
idx=0
for ((p = ${#pools[@]} - 1; p >= 0; p--)); do
	for a in "${arrivals[@]}"; do
		for l in "${loads[@]}"; do
			r=$(requests "${pools[p]}" "$l")
			for ((s = 1; s <= seeds; s++)); do
				idx=$((idx + 1))
				echo "$idx ${pools[p]} $a $l $s $r"
			done
		done
	done
done >"$tmp/jobs"
echo "$prog: profile $profile, $idx runs of qlb sim (9 policies each), $jobs at a time" >&2

export -f sim_one
export prog qlb tmp trace
export fixed_str="${fixed[*]}"
# shellcheck disable=SC2016 # expanded by the inner bash
xargs -r -P "$jobs" -L 1 bash -c 'sim_one "$@"' _ <"$tmp/jobs" ||
	die "a run failed, nothing written"

# sim.csv: the jobs in pool, arrivals, load, seed order (the JSON in seconds
# and fractions; the CSV in ms and %).
{
	echo "backends,mu_ratio,arrivals,load,policy,seed,requests,mean_ms,p50_ms,p99_ms,loss_pct,throughput,jain,beta,arrival_rate,arrived,completed,dropped,sim_s,wall_s,trace,servers,service,queue,window_s,warmup"
	sort -k2,2n -k1,1n "$tmp/jobs" | while read -r i _; do
		jq -r --arg mu "$mu_ratio" --arg trace "$trace_name" '
			.scenario as $s | .results[] |
			[$s.backends, $mu, $s.arrivals, $s.load, .policy, $s.seed, $s.requests,
			 .mean_s, .p50_s, .p99_s, .loss, .throughput, .jain, .beta,
			 $s.arrival_rate, .arrivals, .completions, .drops, .sim_s, .wall_s,
			 (if $s.arrivals == "trace" then $trace else "" end),
			 $s.servers, $s.service, $s.queue, $s.window_s, $s.warmup] | @tsv' \
			"$tmp/runs/$i.json"
	done | awk -F '\t' -v OFS=, '
		function f(v, fmt, scale) { return v == "" ? "" : sprintf(fmt, v * scale) }
		{
			$8 = f($8, "%.4f", 1000); $9 = f($9, "%.4f", 1000); $10 = f($10, "%.4f", 1000)
			$11 = f($11, "%.4f", 100); $12 = f($12, "%.1f", 1); $13 = f($13, "%.4f", 1)
			$14 = f($14, "%.4f", 1); $15 = f($15, "%.1f", 1); $19 = f($19, "%.3f", 1)
			$20 = f($20, "%.3f", 1)
			print
		}'
} >"$tmp/sim.csv"

# sim.md: means over the seeds, one table per pool size and arrival kind,
# one column group per load.
commit=$(git -C "$repo" describe --always --dirty 2>/dev/null || echo unknown)
awk -F, -v ratio="$mu_ratio" -v seeds="$seeds" -v profile="$profile" -v commit="$commit" \
	-v trace="$trace_shown" -v note="$trace_note" -v mn="$min_requests" -v secs="$seconds" '
	function add(list, n, v) { if (!((n, v) in list)) { list[n, v] = 1; list[n, ++list[n]] = v } }
	function ms(v) { return v < 10 ? sprintf("%.2f", v) : v < 1000 ? sprintf("%.1f", v) : sprintf("%.0f", v) }
	NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
	{
		b = $c["backends"]; a = $c["arrivals"]; l = $c["load"]; p = $c["policy"]
		add(L, "b", b); add(L, "a", a); add(L, "l", l); add(L, "p", p)
		k = b SUBSEP a SUBSEP l SUBSEP p
		n[k]++; mean[k] += $c["mean_ms"]; p99[k] += $c["p99_ms"]; loss[k] += $c["loss_pct"]
	}
	END {
		name["poisson"] = "Poisson arrivals"
		name["onoff"] = "bursty arrivals (on/off: 1.8x / 0.2x the rate, 5 s mean periods)"
		name["trace"] = "trace-driven arrivals (WorldCup98)"
		k = split(ratio, r, ":")
		print "## Simulator study\n"
		printf "`qlb sim` puts each policy and the oracle (square-root split on the true rates) in front of "
		printf "the same stream of requests per seed: M/M/1 backends (exponential service, a waiting room of "
		printf "1,000; arrivals finding it full are lost) whose rates are %s x 100 requests/s, cycled over ", ratio
		printf "the pool; a 1 s policy window; the first 10%% of the requests left out. Pools:"
		for (i = 1; i <= L["b"]; i++) {
			nb = L["b", i]; cap = 0; split("", cnt)
			for (j = 0; j < nb; j++) { cnt[r[j % k + 1]]++; cap += 100 * r[j % k + 1] }
			s = ""
			for (j = 1; j <= k; j++) if (cnt[r[j]]) { s = s (s == "" ? "" : " + ") cnt[r[j]] " x " 100 * r[j]; delete cnt[r[j]] }
			printf "%s %d backends = %s req/s (capacity %d req/s)", (i > 1 ? ";" : ""), nb, s, cap
		}
		printf ". Load = mean arrival rate / total capacity. The operator gives no weights (1 each: wrr "
		printf "is then rr, and qlb starts from an equal split)."
		if (("a", "trace") in L) {
			printf " Trace-driven: the per-minute request counts of WorldCup98 from its start, one row "
			printf "per 1 s window, scaled to the load, Poisson within a window."
		}
		printf " Cells: mean and p99 response time (ms) and loss (%% of requests), the mean over "
		printf "%d seed%s.\n\n", seeds, (seeds > 1 ? "s" : "")
		printf "Reproduce (qlb %s): `scripts/eval-sim.sh --profile %s --seeds %d --out DIR`, ", commit, profile, seeds
		printf "which runs `qlb sim --policy all --mu-ratio %s --servers 1 --service exp --queue 1000 ", ratio
		printf "--window 1 --warmup 0.1 --backends N --arrivals A --load L --seed S --requests R --json` for N in"
		for (i = 1; i <= L["b"]; i++) printf " %s", L["b", i]
		printf ", A in"
		for (i = 1; i <= L["a"]; i++) printf " %s", L["a", i] == "trace" ? "trace:" trace : L["a", i]
		printf ", L in"
		for (i = 1; i <= L["l"]; i++) printf " %s", L["l", i]
		printf ", S = 1..%d and R = max(%d, round(L x capacity x %d s)) (the `requests` column of sim.csv).\n", seeds, mn, secs
		if (note != "") printf "\n%s\n", note
		for (i = 1; i <= L["b"]; i++) for (j = 1; j <= L["a"]; j++) {
			b = L["b", i]; a = L["a", j]
			printf "\n### %s backends, %s\n\n| policy |", b, name[a] ? name[a] : a
			for (m = 1; m <= L["l"]; m++) { l = L["l", m]; printf " mean ms @%s | p99 ms @%s | loss %% @%s |", l, l, l }
			printf "\n|---|"
			for (m = 1; m <= L["l"]; m++) printf "---:|---:|---:|"
			printf "\n"
			for (q = 1; q <= L["p"]; q++) {
				p = L["p", q]; printf "| %s |", p
				for (m = 1; m <= L["l"]; m++) {
					key = b SUBSEP a SUBSEP L["l", m] SUBSEP p
					if (!n[key]) { printf " | | |"; continue }
					printf " %s | %s | %.2f |", ms(mean[key] / n[key]), ms(p99[key] / n[key]), loss[key] / n[key]
				}
				printf "\n"
			}
		}
	}' "$tmp/sim.csv" >"$tmp/sim.md"

# Into DIR: each file renamed into place, so DIR never holds half a file.
rows=$(($(wc -l <"$tmp/sim.csv") - 1))
mkdir -p "$out"
for f in sim.csv sim.md; do
	cp "$tmp/$f" "$out/.$f.new"
	mv -f "$out/.$f.new" "$out/$f"
done
echo "$prog: wrote $out/sim.csv ($rows rows) and $out/sim.md in $((SECONDS - start)) s" >&2
