#!/usr/bin/env bats
# The repository stands alone: what it runs reads nothing outside its
# checkout. (docs/ records past runs as they were made, paths included.)

REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)

@test "no tracked file outside docs/ names a path outside the checkout" {
	cd "$REPO"
	# (the brackets keep this file from matching itself)
	run git grep -nE '[.][.]/shared|/wor[k]/' -- . ':!docs' ':!data'
	echo "$output"
	[ "$status" -eq 1 ]
}

@test "the traces the tests read are in the repository, as data/traces/README.md lists them" {
	cd "$REPO/data/traces"
	sed -n '/^```$/,/^```$/p' README.md | grep -E '^[0-9a-f]{64}  ' | sha256sum -c --quiet -
	[ "$(grep -cE '^[0-9a-f]{64}  ' README.md)" -eq "$(ls ./*.csv.gz | wc -l)" ]
}
