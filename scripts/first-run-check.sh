#!/usr/bin/env bash
# The README's promise, checked for real: on a machine without some of qlb's
# packages, `make demo` and then `make test` each succeed on their first run
# in a fresh clone that has nothing next to it.
#
#   scripts/first-run-check.sh [--keep] [PACKAGE ...]
#
# For `make demo` and then for `make test`: removes PACKAGE ... (default: the
# build-only libjansson-dev and libcmocka-dev) with apt-get, clones this
# repository's HEAD into a new temporary directory with nothing beside it,
# runs the target once there, and prints a line with its exit status and
# time. The runs themselves install the packages again (that is what is
# checked).
# --keep keeps the clone and the logs. Needs root; changes the machine's
# packages, so it is not part of `make test`.
set -euo pipefail

prog=first-run-check
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
keep=0
packages=()
for a in "$@"; do
	case $a in
	--keep) keep=1 ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	-*)
		echo "$prog: unknown option '$a'" >&2
		exit 2
		;;
	*) packages+=("$a") ;;
	esac
done
((${#packages[@]})) || packages=(libjansson-dev libcmocka-dev)
[[ $(id -u) -eq 0 ]] || { echo "$prog: needs root (it removes packages)" >&2; exit 2; }

work=$(mktemp -d /tmp/qlb-first-run.XXXXXX)
cleanup() { ((keep)) || rm -rf -- "$work"; }
trap cleanup EXIT

remove_packages() {
	echo "$prog: removing ${packages[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq "${packages[@]}" >/dev/null
	for p in "${packages[@]}"; do
		if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
			echo "$prog: $p is still installed" >&2
			exit 1
		fi
	done
}

rc_all=0
step() { # step NAME MAKE-ARGS...: a fresh clone, the packages gone, one run
	local name=$1 t0 rc=0 dir=$work/$1
	shift
	remove_packages
	mkdir -p "$dir"
	git clone -q "$repo" "$dir/qlb"
	echo "$prog: clone of $(git -C "$dir/qlb" rev-parse --short HEAD) in $dir/qlb; beside it: $(ls -A "$dir" | tr '\n' ' ')"
	t0=$(date +%s)
	(cd "$dir/qlb" && make "$@") >"$dir.log" 2>&1 || rc=$?
	printf '%s: %-10s exit %d after %d s (log %s)\n' "$prog" "make $*" "$rc" $(($(date +%s) - t0)) "$dir.log"
	((rc == 0)) || { tail -n 20 "$dir.log" | sed 's/^/    /'; rc_all=1; }
}
step "make-demo" demo DEMO_SECONDS=12
grep -E '^(b[0-9]: [0-9]+ requests|deps.sh: installing)' "$work/make-demo.log" | sed "s/^/$prog:   /" || :
step "make-test" test
grep -E '^(Files=|Result:|deps.sh: installing)|1,000 requests:' "$work/make-test.log" | sed "s/^/$prog:   /" || :
if ((rc_all)); then
	keep=1
	echo "$prog: FAILED; logs kept in $work"
else
	echo "$prog: both passed at their first run"
fi
exit "$rc_all"
