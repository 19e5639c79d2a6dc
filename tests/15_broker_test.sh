#!/bin/sh
# `samsa dump-log`: prints every batch of a segment in kafka-dump-log.sh's
# words, names the byte where a damaged file stops being valid, and reads
# index files. Segments are built by tests/kbatch.py from Kafka's layout.
set -u
ROOT=${SAMSA_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
SAMSA="$ROOT/${SAMSA_BUILD:-build}/samsa"
PY=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok() { pass=$((pass+1)); echo "ok   $1"; }
bad() { fail=$((fail+1)); echo "FAIL $1"; sed 's/^/     /' "$tmp/out"; }
expect() { # description: the last command's exit must be $2 and grep $3 must match
	if [ "$rc" = "$2" ] && grep -qE "$3" "$tmp/out"; then ok "$1"; else bad "$1 (exit $rc)"; fi
}

seg="$tmp/00000000000000000000.log"
$PY "$ROOT/tests/kbatch.py" segment "$seg" 3 2
"$SAMSA" dump-log "$seg" >"$tmp/out" 2>&1; rc=$?
expect "a valid segment dumps with exit 0" 0 "^baseOffset: 4 lastOffset: 5 count: 2 "
[ "$(grep -c '^baseOffset:' "$tmp/out")" = 3 ] && ok "one line per batch" || bad "one line per batch"
grep -qE "^baseOffset: 0 lastOffset: 1 count: 2 baseSequence: -1 lastSequence: -1 producerId: -1 producerEpoch: -1 partitionLeaderEpoch: 0 isTransactional: false isControl: false position: 0 CreateTime: 1700000000001 size: [0-9]+ magic: 2 compresscodec: none crc: [0-9]+ isvalid: true$" "$tmp/out" \
	&& ok "fields and words match kafka-dump-log.sh" || bad "fields and words match kafka-dump-log.sh"

size=$(stat -c %s "$seg")
batch=$((size / 3))
truncate -s $((size - 5)) "$seg"
"$SAMSA" dump-log "$seg" >"$tmp/out" 2>&1; rc=$?
expect "a torn tail is named at its first byte" 1 "stops being valid at byte $((2 * batch))\\."

$PY "$ROOT/tests/kbatch.py" segment "$seg" 2 2
$PY - "$seg" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[-1] ^= 0xFF; open(p, "wb").write(b)
PY
"$SAMSA" dump-log "$seg" >"$tmp/out" 2>&1; rc=$?
expect "a flipped bit shows isvalid: false and a CRC reason" 1 "isvalid: false"
grep -qi "crc" "$tmp/out" && ok "the reason names the CRC" || bad "the reason names the CRC"

head -c 100 /dev/urandom >"$tmp/00000000000000000007.log"
"$SAMSA" dump-log "$tmp/00000000000000000007.log" >"$tmp/out" 2>&1; rc=$?
expect "garbage is reported, not trusted" 1 "stops being valid at byte 0\\."

$PY "$ROOT/tests/kbatch.py" offset-index "$tmp/00000000000000000100.index" 5:0 9:4200
"$SAMSA" dump-log "$tmp/00000000000000000100.index" >"$tmp/out" 2>&1; rc=$?
expect "index entries are absolute offsets" 0 "^offset: 109 position: 4200$"

$PY "$ROOT/tests/kbatch.py" offset-index "$tmp/00000000000000000000.index" 9:4200 5:0
"$SAMSA" dump-log "$tmp/00000000000000000000.index" >"$tmp/out" 2>&1; rc=$?
expect "an out-of-order index entry is named" 1 "stops being valid at byte 8\\."

"$SAMSA" dump-log >"$tmp/out" 2>&1; rc=$?
expect "no file is a usage error" 2 "usage"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
