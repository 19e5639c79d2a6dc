#!/bin/sh
# Run samsa's tests and print one closing line: "N passed, N failed".
#
#   tests/run.sh BUILD_DIR          every unit test binary and every script test
#   tests/run.sh BUILD_DIR NN       the unit tests of chapters 00..NN only (make test-NN)
#
# Unit tests are the cmocka binaries in BUILD_DIR/tests (one per chapter);
# each cmocka test case counts once. Script tests are tests/*_test.sh; each
# prints its own "N passed, N failed" line, which is added in, and may print
# lines of its own counts ("clients/test_groups: 17 passed, 0 failed"), which
# are shown. One line per binary or script; what failed is shown in full.
# A binary or script that dies without reporting counts as one failure.
set -u
BUILD=${1:-build}
UPTO=${2:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export SAMSA_BUILD="$BUILD" SAMSA_ROOT="$ROOT"
passed=0
failed=0
failures=""
out=$(mktemp)
trap 'rm -f "$out"' EXIT
COUNTS='^[A-Za-z0-9_./-]+: [0-9]+ passed, [0-9]+ failed'

add_result() { # name rc passed failed
	passed=$((passed + $3))
	failed=$((failed + $4))
	if [ "$2" != 0 ] && [ "$4" = 0 ]; then
		failed=$((failed + 1))
		failures="$failures $1(exit $2)"
	elif [ "$4" != 0 ]; then
		failures="$failures $1"
	fi
}

# One line for a binary or script; its whole output when something failed.
report() { # name rc passed failed
	note=""
	[ "$2" != 0 ] && [ "$4" = 0 ] && note=" (exited $2 without reporting a failure)"
	echo "$1: $3 passed, $4 failed$note"
	if [ "$2" != 0 ] || [ "$4" != 0 ]; then
		echo "---- $1: full output"
		grep -vE "$COUNTS" "$out" | sed 's/^/   | /'
	fi
	add_result "$1" "$2" "$3" "$4"
}

in_range() { # test binary name -> is its chapter <= UPTO?
	[ -z "$UPTO" ] && return 0
	n=$(echo "$1" | cut -c1-2)
	[ "$n" -le "$UPTO" ] 2>/dev/null
}

for t in "$BUILD"/tests/*_test; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	in_range "$name" || continue
	"$t" >"$out" 2>&1
	rc=$?
	p=$(grep -cE '^\[       OK \]' "$out")
	f=$(grep -cE '^\[  (FAILED|ERROR) +\] test' "$out")
	report "$name" "$rc" "$p" "$f"
done

for t in "$ROOT"/tests/*_test.sh; do
	[ -z "$UPTO" ] && [ -f "$t" ] || continue
	name=$(basename "$t")
	sh "$t" >"$out" 2>&1
	rc=$?
	grep -E "$COUNTS" "$out" | sed 's/^/   /'
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
	p=$(echo "${line:-0 passed, 0 failed}" | sed -E 's/^([0-9]+) passed.*/\1/')
	f=$(echo "${line:-0 passed, 0 failed}" | sed -E 's/.* ([0-9]+) failed.*/\1/')
	report "$name" "$rc" "$p" "$f"
done

[ -n "$failures" ] && echo "failed:$failures"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
