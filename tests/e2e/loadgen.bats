#!/usr/bin/env bats
# qlb-loadgen end to end against nginx: the testbed with one backend (its
# own namespaces, removed in teardown_file whatever happens), the generator
# run inside b1 against b1's own address, so every packet stays on b1's
# loopback. No balancer: this checks the generator, not qlb.

bats_require_minimum_version 1.5.0

REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
LOADGEN=${QLB_BUILD:-$REPO/build}/qlb-loadgen
export TB_PREFIX=qlblg TB_CLIENTS=1 TB_BACKENDS=1
# gzip only where a request asks for it (--compressed)
export TB_NGINX_HTTP='gzip on; gzip_types *; gzip_min_length 0;'
# shellcheck source=../../scripts/testbed.sh
source "$REPO/scripts/testbed.sh"

URL=http://$(tb_backend_ip4 1)/
FILES=1k.bin,10k.bin,100k.bin

loadgen() { tb_in b1 "$LOADGEN" "$@"; }

setup_file() {
	tb_up
	tb_make_file 1k.bin 1024
	tb_make_file 10k.bin 10240
	tb_make_file 100k.bin 102400
}

teardown_file() {
	tb_down
}

@test "5000 requests at 2000/s: all ok, one connection and one log row each" {
	local log=$BATS_FILE_TMPDIR/run.csv before
	before=$(tb_nginx_count 1)
	run -0 --separate-stderr loadgen --url "$URL" --files "$FILES" --requests 5000 \
		--rate 2000 --seed 1 --log "$log" --json
	echo "$output"
	[ "$(jq '[.requests, .sent, .ok, .failed, .timeouts, .dropped_client] | join(" ")' \
		<<<"$output")" = '"5000 5000 5000 0 0 0"' ]
	# Each file once in every block of three: 1666 blocks of 111 KiB, and two
	# of the three files in the last.
	jq -e '.bytes > 189000000 and .bytes < 190000000 and .duration_s > 2.3 and
		.duration_s < 3.5 and .p99_ms > 0 and .seed == 1 and .rate == 2000' <<<"$output"
	[ "$(wc -l <"$log")" -eq 5001 ]
	[ "$(head -1 "$log")" = idx,file,sched_us,start_us,connect_us,ttfb_us,total_us,bytes,http_status,curl_code ]
	# Every index once, every row a 200 with the whole file, curl code 0.
	[ "$(tail -n +2 "$log" | cut -d, -f1 | sort -n | uniq | wc -l)" -eq 5000 ]
	[ "$(tail -n +2 "$log" | awk -F, '$9 != 200 || $10 != 0 ||
		$8 != ($2 == "1k.bin" ? 1024 : $2 == "10k.bin" ? 10240 : 102400)' | wc -l)" -eq 0 ]
	# nginx saw 5000 requests on 5000 connections ($connection is the last field).
	[ $(($(tb_nginx_count 1) - before)) -eq 5000 ]
	[ "$(tail -n 5000 "$(tb_nginx_log 1)" | awk '{ print $NF }' | sort -u | wc -l)" -eq 5000 ]
}

@test "a seed is one schedule, and the run follows it" {
	local a=$BATS_FILE_TMPDIR/a b=$BATS_FILE_TMPDIR/b log=$BATS_FILE_TMPDIR/follow.csv
	"$LOADGEN" --dump-schedule --files "$FILES" --requests 300 --rate 1000 --seed 9 >"$a"
	"$LOADGEN" --dump-schedule --files "$FILES" --requests 300 --rate 1000 --seed 9 >"$b"
	cmp "$a" "$b"
	[ "$(wc -l <"$a")" -eq 300 ]
	"$LOADGEN" --dump-schedule --files "$FILES" --requests 300 --rate 1000 --seed 10 >"$b"
	run ! cmp -s "$a" "$b"
	run -0 loadgen --url "$URL" --files "$FILES" --requests 300 --rate 1000 --seed 9 \
		--log "$log"
	[[ $output == *$'\nok=300\n'* ]]
	tail -n +2 "$log" | sort -t, -k1,1n | awk -F, '{ print $3, $2 }' >"$b"
	cmp "$a" "$b"
}

@test "--compressed: gzip on the wire, the decoded body counted, each one whole" {
	local before
	before=$(tb_nginx_count 1)
	run -0 --separate-stderr loadgen --url "$URL" --files 100k.bin --requests 200 \
		--rate 500 --seed 3 --compressed --json
	echo "$output"
	jq -e '.ok == 200 and .failed == 0 and .bytes == 200 * 102400' <<<"$output"
	# nginx sent each a gzip body, far smaller than the file ($body_bytes_sent
	# is field 7: the quoted request line takes three).
	[ $(($(tb_nginx_count 1) - before)) -eq 200 ]
	[ "$(tail -n 200 "$(tb_nginx_log 1)" | awk '$6 == 200 && $7 > 0 && $7 < 10240' | wc -l)" -eq 200 ]
	# Without it, the same server sends the file as it is.
	run -0 --separate-stderr loadgen --url "$URL" --files 100k.bin --requests 20 \
		--rate 500 --seed 3 --json
	jq -e '.ok == 20 and .bytes == 20 * 102400' <<<"$output"
	[ "$(tail -n 20 "$(tb_nginx_log 1)" | awk '$7 == 102400' | wc -l)" -eq 20 ]
}

@test "in-flight cap: dropped_client, never delayed; timeouts end the run" {
	local log=$BATS_FILE_TMPDIR/cap.csv
	# 10.200.1.250 is nobody: ARP never answers, connects time out. Ten
	# requests 10 ms apart, two in flight at most: two time out, the other
	# eight are dropped, and the run ends 0.4 s after the last schedule.
	run -0 --separate-stderr loadgen --url http://10.200.1.250/ --files x --requests 10 \
		--rate 100 --arrivals const --seed 1 --timeout 0.4 --max-inflight 2 \
		--log "$log" --json
	echo "$output"
	[ "$(jq '[.sent, .ok, .failed, .timeouts, .dropped_client] | join(" ")' <<<"$output")" = \
		'"2 0 2 2 8"' ]
	jq -e '.duration_s > 0.35 and .duration_s < 1.5' <<<"$output"
	[ "$(wc -l <"$log")" -eq 11 ]
	[ "$(grep -c ',,,,,0,0,$' "$log")" -eq 8 ]
	[ "$(awk -F, '$10 == 28' "$log" | wc -l)" -eq 2 ]
}

@test "bad arguments: exit 2, one line on stderr, no log file" {
	local log=$BATS_FILE_TMPDIR/never.csv args
	for args in "--requests 0" "--rate 2e6" "--files a,,b" "--url ftp://x/" \
		"--url http://[::1/" "--arrivals exp" "--max-inflight 0" "--timeout 0" "--bogus" \
		"--seed -1" "stray"; do
		# shellcheck disable=SC2086
		run -2 --separate-stderr loadgen --url "$URL" --files a --requests 5 --rate 10 \
			--seed 1 --log "$log" $args
		echo "$args -> $stderr"
		[ "${#stderr_lines[@]}" -eq 1 ]
		[[ $stderr == "qlb-loadgen: "* ]]
		[ -z "$output" ]
		[ ! -e "$log" ]
	done
	run -2 --separate-stderr loadgen --files a --requests 5 --rate 10 --seed 1
	[ "$stderr" = "qlb-loadgen: --url is required" ]
}
