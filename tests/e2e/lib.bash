# Shared by the bats files: helpers that are assertions themselves.

# Each argument is one qlb command line (split on spaces): every one must
# fail with exit code 2 and exactly one line on stderr starting "qlb: " (the
# agent's own: "qlb agent: ").
# Needs a `qlb` function that runs the binary where the test wants it.
assert_usage_errors() {
	local cmd
	for cmd in "$@"; do
		# shellcheck disable=SC2086
		run -2 --separate-stderr qlb $cmd
		echo "qlb $cmd -> $stderr"
		[ "${#stderr_lines[@]}" -eq 1 ]
		[[ $stderr == "qlb: "* || ($cmd == agent* && $stderr == "qlb agent: "*) ]]
	done
}
