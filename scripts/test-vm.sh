#!/bin/sh
# The whole test suite again on a second kernel (as root): Debian's kernel, pure cgroup v2, in the
# software-emulated VM of scripts/cgroup2-vm (no v1 hierarchy, loopback only, the host's filesystem
# read-only and this checkout read-write). What the VM lacks (an engine, a host feature) skips, naming it.
# Extra arguments go to pytest (e.g. -x, -k pause, -m cgroup2, a test file). The VM is killed after VM_TIMEOUT
# seconds (default 4000, boot included); the README's "Tests and speed" has the measured duration.
set -eu
cd "$(dirname "$0")/.."
# The reliability tests run at full scale on the host (scripts/test.sh); here, where every process start
# is 10-40x slower, the same tests with fewer rounds, so the whole run stays well inside CI's budget.
# Set any of these to run them at another scale.
export PYCONTAINER_FUZZ_EXAMPLES="${PYCONTAINER_FUZZ_EXAMPLES:-100}" PYCONTAINER_SOAK="${PYCONTAINER_SOAK:-40}"
export PYCONTAINER_LOAD="${PYCONTAINER_LOAD:-12}" PYCONTAINER_RANDOM_KILLS="${PYCONTAINER_RANDOM_KILLS:-8}"
target=tests  # unless the arguments name tests (a file, a directory, file::test)
for arg in "$@"; do [ -e "${arg%%::*}" ] && target=; done
exec bash scripts/cgroup2-vm --timeout "${VM_TIMEOUT:-4000}" -- \
    python3 -m pytest -q -p no:cacheprovider "$@" $target
