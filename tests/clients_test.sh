#!/bin/sh
# Real Kafka clients against a real samsa broker: every tests/clients/test_*.py
# module (kcat, librdkafka, confluent-kafka, kafka-python, kafkajs, raw bad
# input, the config file). Each module starts its own brokers on free
# loopback ports with temporary data directories and prints its own
# "N passed, N failed"; this script adds them up into one such line.
#
#   sh tests/clients_test.sh               (SAMSA_BUILD picks build/ or build/sanitize/)
#   SAMSA_ONLY=sigkill sh tests/clients_test.sh     only tests whose name has "sigkill"
#
# One line per module with its counts ("clients/test_groups: 17 passed,
# 0 failed"); then each failed test's output in full (traceback and broker
# log); every module's whole output is kept in
# $SAMSA_BUILD/tests/clients-logs/.
set -u
ROOT=${SAMSA_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${SAMSA_BUILD:-build}
export SAMSA_ROOT="$ROOT" SAMSA_BUILD="$BUILD" PYTHONDONTWRITEBYTECODE=1
PY=/usr/bin/python3
MODULE_TIMEOUT=${SAMSA_CLIENT_TIMEOUT:-300}
LOGS="$ROOT/$BUILD/tests/clients-logs"
passed=0
failed=0
failed_modules=""

if [ ! -x "$ROOT/$BUILD/samsa" ] || [ ! -x "$ROOT/$BUILD/tests/clients/rdkafka_client" ]; then
	echo "missing $BUILD/samsa or $BUILD/tests/clients/rdkafka_client: run make unit-tests first"
	echo "0 passed, 1 failed"
	exit 1
fi
mkdir -p "$LOGS"

for t in "$ROOT"/tests/clients/test_*.py; do
	name=$(basename "$t" .py)
	log="$LOGS/$name.log"
	(cd "$ROOT/tests/clients" && timeout "$MODULE_TIMEOUT" $PY "$t") >"$log" 2>&1
	rc=$?
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
	p=$(echo "${line:-0 passed, 0 failed}" | sed -E 's/^([0-9]+) passed.*/\1/')
	f=$(echo "${line:-0 passed, 0 failed}" | sed -E 's/.* ([0-9]+) failed$/\1/')
	note=""
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		f=1 # died (or timed out, rc 124) before reporting a failure
		note=" (exited $rc without reporting a failure)"
	fi
	echo "clients/$name: $p passed, $f failed$note"
	[ "$f" != 0 ] && failed_modules="$failed_modules $name"
	passed=$((passed + p))
	failed=$((failed + f))
done

for name in $failed_modules; do
	log="$LOGS/$name.log"
	echo "---- clients/$name: the failed tests in full ($log)"
	if grep -q '^FAIL ' "$log"; then
		# From each FAIL line to the next result line: the traceback and
		# the broker's log tail. librdkafka's own debug lines are dropped.
		awk '/^FAIL /{show=1} /^ok /{show=0} show' "$log" | grep -v '^%[0-9]|'
	else
		cat "$log" # died before any result: all of it
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
