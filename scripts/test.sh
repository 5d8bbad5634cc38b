#!/bin/sh
# Run the test suite (as root, for the real containers; the unit tests also run unprivileged).
set -eu
cd "$(dirname "$0")/.."
exec python3 -m pytest -q -p no:cacheprovider "$@" tests
