#!/bin/sh
# The `samsa` command line. `samsa dump-log` prints every batch of a
# segment in kafka-dump-log.sh's words, names the byte where a damaged file
# stops being valid, and reads index files (segments are built by
# tests/kbatch.py from Kafka's layout), also a running broker's
# preallocated ones. `samsa -h`, a bad --override and a port in use get
# plain words.
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

# A __cluster_metadata segment: a TopicRecord (frame 1, api key 2, version
# 0, name "demo", a topic id, no tagged fields) and a value that is no
# metadata record. Records are printed as kafka-dump-log
# --cluster-metadata-decoder prints them.
mkdir -p "$tmp/__cluster_metadata-0"
$PY - "$tmp/__cluster_metadata-0/00000000000000000000.log" "$ROOT/tests" <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
import kbatch
topic = bytes([1, 2, 0, 5]) + b"demo" + bytes(range(1, 17)) + b"\x00"
open(sys.argv[1], "wb").write(kbatch.batch(0, [topic, b"\x07\x07"]))
PY
"$SAMSA" dump-log "$tmp/__cluster_metadata-0/00000000000000000000.log" >"$tmp/out" 2>&1; rc=$?
expect "a metadata record is printed as JSON" 0 \
	'^\| offset: 0 .* payload: \{"type":"TOPIC_RECORD","version":0,"data":\{"name":"demo","topicId":"'
expect "a value that is no metadata record is skipped" 0 "^\| offset: 1 .*Error at offset 1, skipping\.$"
cp "$tmp/__cluster_metadata-0/00000000000000000000.log" "$tmp/plain.log"
"$SAMSA" dump-log --cluster-metadata-decoder "$tmp/plain.log" >"$tmp/out" 2>&1; rc=$?
expect "--cluster-metadata-decoder decodes any segment" 0 '"type":"TOPIC_RECORD"'

# ---- The command line ----

"$SAMSA" -h >"$tmp/out" 2>&1; rc=$?
expect "samsa -h prints the usage like --help" 0 "^usage: samsa broker"

port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
conf="$tmp/server.properties"
printf 'node.id=1\nlisteners=PLAINTEXT://127.0.0.1:%s\nlog.dirs=%s\nlog.index.interval.bytes=1\n' \
	"$port" "$tmp/data" >"$conf"
"$SAMSA" broker "$conf" --override num.partitions >"$tmp/out" 2>&1; rc=$?
expect "--override without '=' says so" 2 "override 'num.partitions' has no '='"

# A port in use: said in words, before the data directory is made.
$PY -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen(); time.sleep(30)' "$port" &
holder=$!
sleep 0.3
"$SAMSA" broker "$conf" >"$tmp/out" 2>&1; rc=$?
expect "a port in use is named in words" 1 "127\.0\.0\.1:$port is already in use"
grep -q "KB_ERR" "$tmp/out" && bad "no KB_ERR_* for a port in use" || ok "no KB_ERR_* for a port in use"
[ ! -e "$tmp/data" ] && ok "the data directory is not created" || bad "the data directory is not created"
kill "$holder"; wait "$holder" 2>/dev/null

# ---- format and random-uuid (KAFKA: kafka-storage.sh) ----

"$SAMSA" random-uuid >"$tmp/ids" 2>&1; rc=$?
"$SAMSA" random-uuid >>"$tmp/ids" 2>&1
cp "$tmp/ids" "$tmp/out"
expect "random-uuid prints a 22-character base64url id" 0 '^[A-Za-z0-9_][A-Za-z0-9_-]{21}$'
[ "$(grep -cE '^[A-Za-z0-9_][A-Za-z0-9_-]{21}$' "$tmp/ids")" = 2 ] && \
	[ "$(sort -u "$tmp/ids" | wc -l)" = 2 ] && ok "two random-uuids differ" || bad "two random-uuids differ"
cid=$(head -n1 "$tmp/ids")

# A broker-only node of a quorum: KAFKA: its node.id is not a voter.
fconf="$tmp/format.properties"
printf 'node.id=2\nlisteners=PLAINTEXT://127.0.0.1:%s\nlog.dirs=%s\ncontroller.quorum.voters=9@127.0.0.1:1\n' \
	"$port" "$tmp/fdata" >"$fconf"
"$SAMSA" format -t not-a-uuid -c "$fconf" >"$tmp/out" 2>&1; rc=$?
expect "format refuses a bad cluster id in Kafka's words" 1 "Cluster ID string not-a-uuid does not appear to be a valid UUID"
[ ! -e "$tmp/fdata/meta.properties" ] && ok "a bad cluster id writes nothing" || bad "a bad cluster id writes nothing"
"$SAMSA" format -c "$fconf" >"$tmp/out" 2>&1; rc=$?
expect "format without -t is a usage error" 2 "both -t CLUSTER_ID and -c CONFIG"

# An unformatted directory: a cluster node (controller.quorum.voters)
# refuses it and says how to format it.
"$SAMSA" broker "$fconf" >"$tmp/out" 2>&1; rc=$?
expect "a cluster node refuses an unformatted directory" 1 \
	"No meta.properties found in $tmp/fdata \\(have you run samsa format to format the directory\\?\\)"

"$SAMSA" format -t "$cid" -c "$fconf" >"$tmp/out" 2>&1; rc=$?
expect "format says what it formatted" 0 "^Formatting $tmp/fdata with cluster.id $cid, node.id 2"
did=$(sed -n 's/^directory.id=//p' "$tmp/fdata/meta.properties")
{ printf '#\n'; sed -n 2p "$tmp/fdata/meta.properties"
  printf 'cluster.id=%s\ndirectory.id=%s\nnode.id=2\nversion=1\n' "$cid" "$did"; } >"$tmp/want"
cp "$tmp/fdata/meta.properties" "$tmp/out"
cmp -s "$tmp/want" "$tmp/fdata/meta.properties" && sed -n 2p "$tmp/out" | grep -qE '^#[A-Z][a-z]{2} [A-Z][a-z]{2} [0-9]{2} [0-9:]{8} UTC [0-9]{4}$' \
	&& [ "${#did}" = 22 ] && [ "$did" != "$cid" ] \
	&& ok "format writes Kafka's meta.properties exactly" || bad "format writes Kafka's meta.properties exactly"
cp "$tmp/fdata/meta.properties" "$tmp/before"

"$SAMSA" format -t "$cid" -c "$fconf" >"$tmp/out" 2>&1; rc=$?
expect "format refuses a formatted directory in Kafka's words" 1 \
	"^Log directory $tmp/fdata is already formatted\\. Use --ignore-formatted to ignore this directory and format the others\\.$"
"$SAMSA" format -t "$("$SAMSA" random-uuid)" -c "$fconf" --ignore-formatted >"$tmp/out" 2>&1; rc=$?
expect "--ignore-formatted skips a formatted directory" 0 "All of the log directories are already formatted\\."
cmp -s "$tmp/before" "$tmp/fdata/meta.properties" && ok "a formatted directory is left as it was" \
	|| bad "a formatted directory is left as it was"

"$SAMSA" format -t "$cid" -c "$fconf" --override node.id=3 --override "log.dirs=$tmp/fdata3" >"$tmp/out" 2>&1; rc=$?
expect "format takes --override" 0 "^Formatting $tmp/fdata3 with cluster.id $cid, node.id 3"
"$SAMSA" broker "$fconf" --override node.id=3 >"$tmp/out" 2>&1; rc=$?
expect "a node.id other than the formatted one is refused" 1 "Stored node id 2 doesn't match previous node id 3"

# A running broker's active segment: its indexes are preallocated zeros.
"$SAMSA" broker "$conf" >"$tmp/broker.log" 2>&1 &
broker=$!
for _ in $(seq 50); do
	$PY -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),0.2)' "$port" 2>/dev/null && break
	sleep 0.1
done
for i in 1 2 3; do echo "record-$i"; done | kcat -P -b "127.0.0.1:$port" -t dumped -p 0 2>/dev/null
for i in 4 5 6; do echo "record-$i"; done | kcat -P -b "127.0.0.1:$port" -t dumped -p 0 2>/dev/null
"$SAMSA" dump-log "$tmp/data/dumped-0/00000000000000000000.index" >"$tmp/out" 2>&1; rc=$?
expect "a live index stops at its first empty slot" 0 "entries, then [0-9]+ empty preallocated slots"
grep -q "out of order" "$tmp/out" && bad "a live index is not out of order" || ok "a live index is not out of order"
grep -qE "^offset: [1-9]" "$tmp/out" && ok "a live index shows its entries" || bad "a live index shows its entries"
"$SAMSA" dump-log "$tmp/data/dumped-0/00000000000000000000.timeindex" >"$tmp/out" 2>&1; rc=$?
expect "a live time index stops at its first empty slot" 0 "empty preallocated slots"
grep -q "open files: soft limit" "$tmp/broker.log" && ok "the descriptor limit is logged at start" \
	|| { cp "$tmp/broker.log" "$tmp/out"; bad "the descriptor limit is logged at start"; }
kill "$broker"; wait "$broker"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
