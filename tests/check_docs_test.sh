#!/bin/sh
# The docs checker (STYLE.md §9): it passes on this tree, and it fails on a
# doc or diagram that cites a name or a path that does not exist.
set -u
ROOT=${SAMSA_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
PY=/usr/bin/python3
pass=0; fail=0
check() { # description expected-exit command...
	desc=$1; want=$2; shift 2
	"$@" >/tmp/samsa-check-docs.out 2>&1
	got=$?
	if [ "$got" = "$want" ]; then pass=$((pass+1)); echo "ok   $desc"
	else fail=$((fail+1)); echo "FAIL $desc (exit $got, want $want)"; cat /tmp/samsa-check-docs.out; fi
}

check "docs and diagrams of this tree cite only real names" 0 $PY "$ROOT/tests/check_docs.py" "$ROOT"

tmp=$(mktemp -d)
mkdir -p "$tmp/chapters" "$tmp/docs" "$tmp/diagrams"
printf 'int seg_append(void);\n' >"$tmp/chapters/01_segment.c"
printf 'digraph{ a [label="seg_append"]; }\n' >"$tmp/diagrams/01_segment.dot"
printf 'Calls `seg_append` in `chapters/01_segment.c`.\n![d](img/01_segment.svg)\n' >"$tmp/docs/01_segment.md"
check "a tree whose citations all exist passes" 0 $PY "$ROOT/tests/check_docs.py" "$tmp"

printf 'Calls `seg_append_renamed`.\n' >>"$tmp/docs/01_segment.md"
check "a doc citing a renamed function fails" 1 $PY "$ROOT/tests/check_docs.py" "$tmp"
grep -q "seg_append_renamed" /tmp/samsa-check-docs.out && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL message names the missing function"; }

printf 'Calls `seg_append`.\n' >"$tmp/docs/01_segment.md"
printf 'digraph{ a [label="struct segment"]; }\n' >"$tmp/diagrams/01_segment.dot"
check "a diagram citing a struct that does not exist fails" 1 $PY "$ROOT/tests/check_docs.py" "$tmp"

printf 'digraph{ a [label="seg_append"]; }\n' >"$tmp/diagrams/01_segment.dot"
printf 'See `chapters/09_missing.c`.\n' >"$tmp/docs/01_segment.md"
check "a doc citing a missing file fails" 1 $PY "$ROOT/tests/check_docs.py" "$tmp"

printf 'ok\n' >"$tmp/docs/01_segment.md"
rm "$tmp/diagrams/01_segment.dot"
check "a chapter without its diagram fails" 1 $PY "$ROOT/tests/check_docs.py" "$tmp"

rm -rf "$tmp" /tmp/samsa-check-docs.out
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
