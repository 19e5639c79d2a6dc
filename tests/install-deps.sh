#!/bin/sh
# Install the Debian packages samsa's build and tests need, if missing,
# then the one npm package the client tests use (kafkajs, into
# tests/clients/node_modules, pinned by tests/clients/package-lock.json).
# Non-interactive; uses sudo when not root; names the packages when it cannot.
# A no-op when everything is already there.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PKGS="gcc make clang libcmocka-dev graphviz zlib1g-dev libssl-dev pkg-config python3"
# The real Kafka clients of tests/clients/ (Debian 12 versions: kcat 1.7.1,
# librdkafka 2.0.2, kafka-python 2.0.2, confluent-kafka-python 1.7.0).
PKGS="$PKGS kcat librdkafka-dev python3-kafka python3-confluent-kafka"
# The lab's network (tests/clients/test_lab_topology.py): namespaces and
# links (iproute2), link cuts (nftables), setpriv and unshare (util-linux).
PKGS="$PKGS iproute2 nftables util-linux"
# The lab's clock skew (libfaketime) and its timeline pictures (matplotlib);
# make test runs a lab smoke (tests/clients/test_lab_smoke.py).
PKGS="$PKGS faketime python3-matplotlib"
# Node may come from elsewhere (nodesource, nvm): only ask Debian for it
# when the command is missing.
command -v node >/dev/null 2>&1 || PKGS="$PKGS nodejs"
command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"
KAFKAJS=kafkajs@2.2.4

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done

if [ -n "$missing" ]; then
	echo "install-deps: installing:$missing"
	SUDO=""
	if [ "$(id -u)" != 0 ]; then
		if command -v sudo >/dev/null 2>&1; then
			SUDO="sudo"
		else
			echo "install-deps: not root and no sudo; please install:$missing" >&2
			exit 1
		fi
	fi
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086
	if ! $SUDO apt-get install -y -q $missing >/tmp/samsa-apt.log 2>&1; then
		$SUDO apt-get update -q >>/tmp/samsa-apt.log 2>&1
		if ! $SUDO apt-get install -y -q $missing >>/tmp/samsa-apt.log 2>&1; then
			tail -n 20 /tmp/samsa-apt.log >&2
			echo "install-deps: could not install:$missing (log: /tmp/samsa-apt.log)" >&2
			exit 1
		fi
	fi
	echo "install-deps: done"
fi

# kafkajs, into the tree (node_modules is gitignored).
if ! grep -qs '"version": "2.2.4"' "$ROOT/tests/clients/node_modules/kafkajs/package.json"; then
	echo "install-deps: npm install $KAFKAJS into tests/clients"
	if ! npm install --prefix "$ROOT/tests/clients" --save-exact --no-audit \
		--no-fund "$KAFKAJS" >/tmp/samsa-npm.log 2>&1; then
		tail -n 20 /tmp/samsa-npm.log >&2
		echo "install-deps: could not install $KAFKAJS (log: /tmp/samsa-npm.log)" >&2
		exit 1
	fi
fi
exit 0
