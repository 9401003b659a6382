#!/usr/bin/env bats
# scripts/eval-sim.sh, the simulator study: the quick profile runs once in
# setup_file and the tests check the shape of what it wrote (never which
# policy wins); bad arguments get one line, exit 2 and no output.

# shellcheck disable=SC2154 # stderr, stderr_lines: set by bats' run
bats_require_minimum_version 1.5.0

REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
export QLB=${QLB:-$REPO/build/qlb}
SCRIPT=$REPO/scripts/eval-sim.sh
POLICIES=(rr wrr lc p2c lcpu lram dlbqt qlb oracle)
POOLS=(2 8 64 1000)
HEADER=backends,mu_ratio,arrivals,load,policy,seed,requests,mean_ms,p50_ms,p99_ms,loss_pct,throughput,jain,beta

setup_file() {
	"$SCRIPT" --profile quick --out "$BATS_FILE_TMPDIR/out"
}

out() { echo "$BATS_FILE_TMPDIR/out/$1"; }

# Arrival kinds the quick profile runs: Poisson, on/off and the trace, which
# the repository carries (data/traces/).
kinds() { echo 3; }

@test "quick profile: sim.csv has the header and a row per pool, arrivals, policy" {
	[[ $(head -n 1 "$(out sim.csv)") == "$HEADER"* ]]
	# 4 pools x kinds x 1 load x 9 policies x 1 seed
	[ "$(($(wc -l <"$(out sim.csv)") - 1))" -eq $((4 * $(kinds) * 9)) ]
	# no leftovers beside the two files
	[ "$(find "$BATS_FILE_TMPDIR/out" -mindepth 1 -printf '%f ' | tr ' ' '\n' | sort | xargs)" = "sim.csv sim.md" ]
}

@test "quick profile: every numeric field of sim.csv is a number" {
	awk -F, '
		NR == 1 { for (i = 1; i <= NF; i++) h[i] = $i; nf = NF; next }
		NF != nf { print "line " NR ": " NF " fields"; bad++; next }
		{
			for (i = 1; i <= NF; i++) {
				if (h[i] ~ /^(mu_ratio|arrivals|policy|trace|service)$/) continue
				if ($i !~ /^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$/) {
					print "line " NR ", " h[i] ": \"" $i "\""; bad++
				}
			}
		}
		END { exit bad > 0 }' "$(out sim.csv)"
}

@test "quick profile: every policy and the oracle for every pool size and arrival kind" {
	local n
	for n in "${POOLS[@]}"; do
		for p in "${POLICIES[@]}"; do
			n_rows=$(awk -F, -v n="$n" -v p="$p" '$1 == n && $5 == p' "$(out sim.csv)" | wc -l)
			echo "$n backends, $p: $n_rows rows"
			[ "$n_rows" -eq "$(kinds)" ]
		done
	done
}

@test "quick profile: sim.md has a table per pool size and arrival kind, with all policies" {
	local md n
	md=$(out sim.md)
	grep -qx '## Simulator study' "$md"
	grep -q '^Reproduce .*scripts/eval-sim.sh --profile quick' "$md"
	for n in "${POOLS[@]}"; do
		[ "$(grep -c "^### $n backends, " "$md")" -eq "$(kinds)" ]
		# the policy column of every table under this pool size
		awk -v n="$n" '/^### / { on = index($0, "### " n " backends, ") == 1 }
			on && /^\| [a-z0-9]+ \|/ && $2 != "policy" { print $2 }' "$md" | sort | uniq -c >"$BATS_TEST_TMPDIR/rows"
		cat "$BATS_TEST_TMPDIR/rows"
		[ "$(wc -l <"$BATS_TEST_TMPDIR/rows")" -eq "${#POLICIES[@]}" ]
		for p in "${POLICIES[@]}"; do
			grep -qx " *$(kinds) $p" "$BATS_TEST_TMPDIR/rows"
		done
	done
	# the three columns: mean, p99 and loss
	grep -q '^| policy | mean ms @0.8 | p99 ms @0.8 | loss % @0.8 |$' "$md"
}

@test "without the traces the trace rows are skipped, and sim.md says so" {
	QLB_TRACES_DIR=$BATS_TEST_TMPDIR/none "$SCRIPT" --profile quick --out "$BATS_TEST_TMPDIR/out"
	[ "$(($(wc -l <"$BATS_TEST_TMPDIR/out/sim.csv") - 1))" -eq $((4 * 2 * 9)) ]
	[ "$(awk -F, '$3 == "trace"' "$BATS_TEST_TMPDIR/out/sim.csv" | wc -l)" -eq 0 ]
	grep -q '^Trace-driven arrivals skipped: ' "$BATS_TEST_TMPDIR/out/sim.md"
}

@test "bad arguments: one line on stderr, exit 2, no output directory" {
	local d=$BATS_TEST_TMPDIR/bad-out args
	for args in "--profile huge" "--profile" "--out $d" "--profile quick --seeds 0" \
		"--profile quick --seeds x" "--profile quick --bogus" "--profile quick --qlb /nonexistent"; do
		# shellcheck disable=SC2086 # one test case per string
		run -2 --separate-stderr "$SCRIPT" $args --out "$d"
		echo "eval-sim.sh $args -> $stderr"
		[ "${#stderr_lines[@]}" -eq 1 ]
		[[ $stderr == "eval-sim: "* ]]
		[ -z "$output" ]
		[ ! -e "$d" ]
	done
	# --out is required
	run -2 --separate-stderr "$SCRIPT" --profile quick
	[ "${#stderr_lines[@]}" -eq 1 ]
}
