#!/bin/sh
# Install the Debian packages samsa's build and tests need, if missing.
# Non-interactive; uses sudo when not root; names the packages when it cannot.
set -u
PKGS="gcc make clang libcmocka-dev graphviz zlib1g-dev libssl-dev pkg-config python3"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

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
