#!/usr/bin/env bats
# The evaluation's quick profile, end to end: scripts/eval.sh builds its own
# testbed (4 clients, balancer, 2 nginx servers), runs every balancer in both
# environments, the capacity runs and the simulator study, and writes the
# report. These tests check that the report is there and well formed; they
# never check who wins (the results are measured, not scripted).

bats_require_minimum_version 1.5.0

REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
QLB=${QLB:-$REPO/build/qlb}
BALANCERS=(lc lcpu lram dlbqt rr wrr p2c qlb qlb+fc haproxy nft)
OUT=/tmp/qlb-eval-quick

setup_file() {
	rm -rf "$OUT" "$OUT.partial"
	EVAL_PREFIX=qlbevq QLB=$QLB LOADGEN=${QLB%/*}/qlb-loadgen timeout 900 bash "$REPO/scripts/eval.sh" \
		--profile quick --out "$OUT" >/tmp/qlb-eval-quick.log 2>&1 3>&- ||
		{ tail -30 /tmp/qlb-eval-quick.log >&3; return 1; }
}

teardown_file() {
	rm -rf "$OUT" "$OUT.partial"
}

number() { [[ $1 =~ ^-?[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?$ || $1 == nan ]]; }

@test "results.csv: one row per environment and balancer, every field filled" {
	[ -f "$OUT/results.csv" ]
	header=$(head -1 "$OUT/results.csv")
	for col in env balancer level seed requests ok rt_mean_ms rt_p50_ms rt_p99_ms \
		throughput_mbps rps tcp_loss_pct failed_pct bal_cpu_ms_per_kreq; do
		[[ ",$header," == *",$col,"* ]] || { echo "no column $col"; false; }
	done
	[ "$(($(wc -l <"$OUT/results.csv") - 1))" -eq $((2 * ${#BALANCERS[@]})) ]
	for env in homo2 het2; do
		for b in "${BALANCERS[@]}"; do
			grep -q "^$env,2,$b,200,1," "$OUT/results.csv" || { echo "no row $env $b"; false; }
		done
	done
	# no empty field anywhere (a missing counter would leave one)
	awk -F, 'NR > 1 { for (i = 1; i <= NF; i++) if ($i == "") { print "row " NR " field " i " empty"; bad = 1 } } END { exit bad }' "$OUT/results.csv"
	# requests, ok and the response times are numbers; every request was sent
	while IFS=, read -r env servers bal level seed requests ok _ _ _ mean p50 p99 _; do
		for v in "$requests" "$ok" "$mean" "$p50" "$p99"; do number "$v" || { echo "$bal: '$v'"; false; }; done
		[ "$requests" -ge 200 ]
	done < <(tail -n +2 "$OUT/results.csv")
}

@test "report.md: the paper's tables for both environments, with Improving rows and Cohen's d" {
	r=$OUT/report.md
	[ -f "$r" ]
	grep -q '^# qlb evaluation report' "$r"
	grep -q '^## Targets' "$r"
	# het2 vs dlbqt and lc, homo2 vs lc; one seed gives no interval
	[ "$(grep -c '^- `[a-z0-9]*`: qlb vs [a-z]*: .*one pair: no interval.*: \*\*\(not \)\{0,1\}met\*\*$' "$r")" -eq 3 ]
	for env in homo2 het2; do grep -q "^## .*(\`$env\`)" "$r"; done
	header="| Total requests | $(IFS='|'; echo "${BALANCERS[*]}" | sed 's/|/ | /g') |"
	[ "$(grep -cF -- "$header" "$r")" -eq 26 ] # 13 metrics x 2 environments
	[ "$(grep -c '^| Improving (qlb, Eq. 1) |' "$r")" -eq 26 ]
	[ "$(grep -c '^| Improving (dlbqt, Eq. 1) |' "$r")" -eq 26 ]
	[ "$(grep -c '^| 200 |' "$r")" -eq 26 ]
	grep -q "^### Effect size (Cohen's d" "$r"
	# packet loss from the interfaces' and the balancer's drop counters too:
	# counts for the XDP balancers, n/a where no XDP program runs
	for env in homo2 het2; do
		sed -n "/(\`$env\`)/,/^## /p" "$r" | grep -A4 '^### Interface drops' |
			grep -E '^\| 200 \|( [0-9]+ \|){11}$'
		sed -n "/(\`$env\`)/,/^## /p" "$r" | grep -A4 '^### Balancer drops' |
			grep -E '^\| 200 \|( [0-9]+ \|){9} n/a \| n/a \|$'
		# the servers' CPU quota throttling, read from their cgroups
		sed -n "/(\`$env\`)/,/^## /p" "$r" | grep -A4 '^### Servers held back by their CPU quota' |
			grep -E '^\| 200 \|( [0-9]+\.[0-9]{2} \|){11}$'
	done
	# every table row has as many cells as its header
	awk -F'|' '/^\| Total requests/ { n = NF } /^\| [0-9]/ && n && NF != n { print; bad = 1 } END { exit bad }' "$r"
}

@test "capacity: qlb, HAProxy and nftables measured at saturation" {
	[ -f "$OUT/capacity.csv" ]
	for b in qlb haproxy nft; do
		line=$(grep "^$b," "$OUT/capacity.csv")
		rps=$(cut -d, -f2 <<<"$line")
		number "$rps"
		awk -v r="$rps" 'BEGIN { exit !(r > 0) }'
	done
	grep -q '^## Capacity' "$OUT/report.md"
}

@test "simulator study and figures are in the report" {
	grep -q '^## Simulator study' "$OUT/report.md"
	[ -f "$OUT/sim/sim.csv" ]
	for f in rt_mean_ms-het2 rt_p99_ms-homo2 tcp_loss_pct-het2 throughput_mbps-het2 history-het2-qlb; do
		png=$OUT/figures/$f.png
		[ -s "$png" ] || { echo "no $png"; false; }
		[ "$(head -c 8 "$png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]
		grep -qF "(figures/$f.png)" "$OUT/report.md"
	done
}

@test "the seeds are recorded and a run's schedule can be replayed" {
	grep -q '^seeds=1$' "$OUT/meta.txt"
	grep -q '^rate=65$' "$OUT/meta.txt"
	files=$(tr ' ' '\n' <<<"1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16" | xargs printf 'f%02d.bin,' | sed 's/,$//')
	# Client 1 of seed 1 played seed 101: 200 / 4 requests at 65 / 4 per s.
	# Replaying that seed gives the files it requested, in the same order.
	replay=$("${QLB%/*}/qlb-loadgen" --files "$files" --requests 50 --rate 16.25 --seed 101 --dump-schedule | awk '{ print $2 }')
	for run in "$OUT"/runs/*/*/seed1/L200; do
		played=$(tail -n +2 "$run/c1.csv" | sort -t, -k1,1n | cut -d, -f2)
		[ "$played" = "$replay" ] || { echo "$run differs from the replay"; false; }
	done
}

@test "report arithmetic: Eq. (1), Cohen's d and the seeds' interval on known figures" {
	run python3 - "$REPO/eval" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import report as r

def rows(pairs, env="het2"):
    out = []
    for seed, (base, new) in enumerate(pairs, 1):
        out.append(dict(env=env, level=1000, seed=seed, balancer="lc", rt_mean_ms=base))
        out.append(dict(env=env, level=1000, seed=seed, balancer="qlb", rt_mean_ms=new))
    return out

# Eq. (1) 20, 30, 10 %: mean 20, sd 10, t(2 df) 4.303 -> 20 -/+ 24.84.
three = rows([(10, 8), (10, 7), (10, 9)])
lo, hi = r.paired_interval(three, "het2", "lc", "rt_mean_ms")
print(f"{lo:.2f} {hi:.2f}")
print(r.resolved((lo, hi), 20))
print(r.resolved((lo, hi), -10))
print(r.resolved((lo, hi), 50))
# A seed without its qlb run, another environment: not pairs.
extra = three + [dict(env="het2", level=1000, seed=9, balancer="lc", rt_mean_ms=1.0)] + rows(
    [(10, 1), (10, 1)], env="het8")
print("%.2f %.2f" % r.paired_interval(extra, "het2", "lc", "rt_mean_ms"))
print(r.paired_interval(three[:2], "het2", "lc", "rt_mean_ms"))
print(r.resolved(None, 20))
# 12 pairs, Eq. (1) 10 and 30 alternating: beyond the table, the normal's
# 1.96: 20 -/+ 1.96 * 10.445 / sqrt(12) = 20 -/+ 5.91.
print("%.2f %.2f" % r.paired_interval(rows([(10, 9), (10, 7)] * 6), "het2", "lc", "rt_mean_ms"))
print(r.improvement(10, 8, True), r.improvement(10, 12, False), r.improvement(0, 1, True))
print(r.cohens_d([(10, 8), (10, 7), (10, 9)], True), r.cohens_d([(10, 8)], True))
PY
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "-4.84 44.84" ]
	[[ ${lines[1]} == *"[-4.8%, +44.8%] spans the bound" ]]
	[[ ${lines[2]} == *"clears the bound" ]]
	[[ ${lines[3]} == *"misses the bound" ]]
	[ "${lines[4]}" = "-4.84 44.84" ]
	[ "${lines[5]}" = "None" ]
	[ "${lines[6]}" = "one pair: no interval" ]
	[ "${lines[7]}" = "14.09 25.91" ]
	[ "${lines[8]}" = "20.0 20.0 nan" ]
	[ "${lines[9]}" = "2.0 nan" ]
}

@test "bad arguments: one line, exit 2, no output" {
	for args in "--profile nope" "--envs het3" "--balancers lc,bogus" "--levels 0" \
		"--seeds x" "--rate -1" "--out" "--frobnicate"; do
		# shellcheck disable=SC2086
		run -2 --separate-stderr bash "$REPO/scripts/eval.sh" $args --out /tmp/qlb-eval-bad
		echo "$args -> $stderr"
		[ "${#stderr_lines[@]}" -eq 1 ]
		[[ $stderr == "eval: "* ]]
		[ ! -e /tmp/qlb-eval-bad ]
	done
	run -2 --separate-stderr python3 "$REPO/eval/report.py" /tmp
	[[ $stderr == "report: "* ]]
}
