#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The ready-made three-node KRaft cluster on 127.0.0.1 (make cluster).
#
#   tools/cluster.sh [SAMSA]           SAMSA: the broker binary (build/samsa)
#   tools/cluster.sh --secure [SAMSA]  config/cluster-secure/ (make
#       cluster-secure): TLS, SCRAM and ACLs, data in ./data/cluster-secure,
#       certificates from ./certs (make certs); formatted with the SCRAM-SHA-512
#       users admin (a super user), alice and bob, passwords NAME-secret
#
# Like Kafka's quickstart: one cluster id (kafka-storage.sh random-uuid),
# kept in ./data/cluster/cluster.id so a rerun reuses it; each node's
# directory formatted with it (kafka-storage.sh format --ignore-formatted);
# then config/cluster/node1..3.properties started in the background, logs
# in ./data/cluster/nodeN.log. Ctrl-C or SIGTERM stops all three: SIGTERM,
# then SIGKILL for any still running after 10 seconds.
set -eu

CONF=config/cluster
DIR=./data/cluster
SCRAM=""
PORTS="19092,127.0.0.1:29092,127.0.0.1:39092"
if [ "${1:-}" = "--secure" ]; then
	shift
	CONF=config/cluster-secure
	DIR=./data/cluster-secure
	PORTS="19094,127.0.0.1:29094,127.0.0.1:39094 (SSL, mutual TLS), 127.0.0.1:19096,... (SASL_SSL, SCRAM-SHA-512)"
	for u in admin alice bob; do
		SCRAM="$SCRAM --add-scram SCRAM-SHA-512=[name=$u,password=$u-secret]"
	done
	if [ ! -s certs/broker3.pem ]; then
		echo "cluster: certs/broker3.pem is missing: run make certs first" >&2
		exit 1
	fi
fi
SAMSA=${1:-build/samsa}
NODES="1 2 3"
PIDS=""

mkdir -p "$DIR"
if [ ! -s "$DIR/cluster.id" ]; then
	"$SAMSA" random-uuid > "$DIR/cluster.id.tmp"
	mv "$DIR/cluster.id.tmp" "$DIR/cluster.id"
fi
ID=$(cat "$DIR/cluster.id")

for n in $NODES; do
	# shellcheck disable=SC2086 # SCRAM: separate words on purpose
	"$SAMSA" format -t "$ID" -c "$CONF/node$n.properties" \
		--ignore-formatted $SCRAM
done

# Stop every node we started: TERM, wait up to 10 s, then KILL.
stop() {
	trap - INT TERM
	echo "cluster: stopping nodes (pids$PIDS)"
	for p in $PIDS; do kill -TERM "$p" 2>/dev/null || true; done
	i=0
	while [ $i -lt 100 ]; do
		alive=""
		for p in $PIDS; do
			kill -0 "$p" 2>/dev/null && alive="$alive $p"
		done
		[ -z "$alive" ] && break
		sleep 0.1
		i=$((i + 1))
	done
	for p in $PIDS; do
		if kill -0 "$p" 2>/dev/null; then
			echo "cluster: pid $p still running after 10 s: SIGKILL"
			kill -KILL "$p" 2>/dev/null || true
		fi
	done
	wait 2>/dev/null || true
	echo "cluster: stopped"
	exit 0
}
trap stop INT TERM

for n in $NODES; do
	"$SAMSA" broker "$CONF/node$n.properties" \
		> "$DIR/node$n.log" 2>&1 &
	PIDS="$PIDS $!"
done

echo "cluster: id $ID, nodes 1-3 started (logs: $DIR/node1.log ..node3.log)"
echo "cluster: bootstrap servers 127.0.0.1:$PORTS"
echo "cluster: stop with Ctrl-C (or kill -TERM $$)"

# Wait for a signal or for every node to end on its own.
while :; do
	alive=""
	for p in $PIDS; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
	if [ -z "$alive" ]; then
		echo "cluster: every node has exited; see $DIR/node*.log"
		exit 1
	fi
	sleep 1
done
