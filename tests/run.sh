#!/bin/sh
# Run every test samsa has and print one closing line: "N passed, N failed".
#
#   tests/run.sh BUILD_DIR
#
# Unit tests are the cmocka binaries in BUILD_DIR/tests (one per chapter);
# each cmocka test case counts once. Script tests are tests/*_test.sh; each
# prints its own "N passed, N failed" line, which is added in. A binary or
# script that dies without reporting counts as one failure.
set -u
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export SAMSA_BUILD="$BUILD" SAMSA_ROOT="$ROOT"
passed=0
failed=0
failures=""
out=$(mktemp)
trap 'rm -f "$out"' EXIT

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

for t in "$BUILD"/tests/*_test; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	echo "== $name"
	"$t" >"$out" 2>&1
	rc=$?
	grep -E '^\[ *(OK|FAILED|ERROR|RUN) *\]' "$out" | grep -vE 'RUN' | sed 's/^/   /'
	[ "$rc" != 0 ] && tail -n 30 "$out" | sed 's/^/   | /'
	p=$(grep -cE '^\[       OK \]' "$out")
	f=$(grep -cE '^\[  (FAILED|ERROR) +\] test' "$out")
	add_result "$name" "$rc" "$p" "$f"
done

for t in "$ROOT"/tests/*_test.sh; do
	[ -f "$t" ] || continue
	name=$(basename "$t")
	echo "== $name"
	sh "$t" >"$out" 2>&1
	rc=$?
	sed 's/^/   /' "$out" | tail -n 40
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
	p=$(echo "${line:-0 passed, 0 failed}" | sed -E 's/^([0-9]+) passed.*/\1/')
	f=$(echo "${line:-0 passed, 0 failed}" | sed -E 's/.* ([0-9]+) failed.*/\1/')
	add_result "$name" "$rc" "$p" "$f"
done

[ -n "$failures" ] && echo "failed:$failures"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
