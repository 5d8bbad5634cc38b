#!/bin/sh
# Set up a fresh Debian machine (as root) for pycontainer, then run a container:
# Debian packages, the package with its C extension, the example rootfs.
set -eu
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
if ! command -v busybox >/dev/null || ! dpkg -s busybox-static >/dev/null 2>&1 || ! command -v gcc >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq busybox-static gcc libc6-dev iproute2 util-linux procps >/dev/null
fi
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore -e ".[test]"
[ -x specs/rootfs/bin/busybox ] || specs/mkrootfs specs/rootfs
# The demo: a container that says who and where it is.
python3 bin/nsinit exec specs/busybox/config.json
