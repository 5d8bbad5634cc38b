#!/bin/sh
# Set up a fresh Debian machine (as root) for pycontainer, then run a container:
# Debian packages, the package with its C extension, nsinit on PATH, the example rootfs.
set -eu
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
    echo "scripts/setup.sh: run it as root (it installs Debian packages and /usr/local/bin/nsinit)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
need=""
for cmd in busybox gcc unshare ip pgrep newuidmap nft; do command -v "$cmd" >/dev/null || need=1; done
dpkg -s busybox-static >/dev/null 2>&1 || need=1
if [ -n "$need" ]; then
    apt-get update -qq
    apt-get install -y -qq busybox-static gcc libc6-dev iproute2 nftables util-linux procps uidmap >/dev/null
fi
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore -e ".[test]"
# pyenv makes a shim, early on PATH, for every script an installed package
# has; the package has none now, and a rehash drops one an older install left.
if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
sh scripts/install-nsinit
found=$(command -v nsinit || true)
if [ "$found" != /usr/local/bin/nsinit ]; then
    echo "scripts/setup.sh: warning: $found comes before /usr/local/bin/nsinit on PATH" >&2
fi
[ -x specs/rootfs/bin/busybox ] || sh specs/mkrootfs specs/rootfs
# The demo: a container that says who and where it is.
/usr/local/bin/nsinit exec specs/busybox/config.json
