#!/bin/sh
# The docs checker (STYLE.md §9): it passes on this tree, and it fails on a
# doc or diagram that cites a name or a path that does not exist, and on a
# chapter whose "Uses chapters" line differs from the headers it includes.
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
chapter01() { # the "Uses chapters" text, then the includes
	printf '/* SPDX-License-Identifier: MIT */\n/*\n * Segment.\n * See also: docs. %s\n */\n%s\nint seg_append(void);\n' \
		"$1" "$2" >"$tmp/chapters/01_segment.c"
}
chapter01 "Uses chapter 00 (base)." '#include "00_base.h"
#include "01_segment.h"'

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

printf 'digraph{ a [label="seg_append"]; }\n' >"$tmp/diagrams/01_segment.dot"
check "the uses line of a chapter that matches its includes passes" 0 $PY "$ROOT/tests/check_docs.py" "$tmp"

chapter01 "Uses chapter 00 (base)." '#include "00_base.h"
#include "02_index.h"'
check "a chapter including a chapter its uses line omits fails" 1 $PY "$ROOT/tests/check_docs.py" "$tmp"
grep -q "says it uses chapters 00, but it includes 00, 02" /tmp/samsa-check-docs.out && pass=$((pass+1)) \
	|| { fail=$((fail+1)); echo "FAIL the message names both lists"; cat /tmp/samsa-check-docs.out; }

chapter01 "Uses chapters 00 (base), 02 (index: idx_open, 03 soon)." '#include "00_base.h"'
check "a uses line naming a chapter it does not include fails" 1 $PY "$ROOT/tests/check_docs.py" "$tmp"

chapter01 "Built on chapter 00." '#include "00_base.h"'
check "a chapter without a uses line fails" 1 $PY "$ROOT/tests/check_docs.py" "$tmp"

rm -rf "$tmp" /tmp/samsa-check-docs.out
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
