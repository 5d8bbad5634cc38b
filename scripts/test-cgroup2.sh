#!/bin/sh
# The cgroup tests on a pure cgroup v2 kernel (as root): the tests marked `cgroup2` (placement, resources and
# their v1->v2 conversions, pause/resume, update, stats and OOM events, the cgroup namespace's view), run by
# scripts/cgroup2-vm in a software-emulated VM: the quick subset of scripts/test-vm.sh (the whole suite there,
# which CI runs). 1-2 minutes on a 2-vCPU machine; the VM is killed after
# CGROUP2_VM_TIMEOUT seconds (default 600). Extra arguments go to pytest (e.g. -k pause, -x).
set -eu
cd "$(dirname "$0")/.."
exec bash scripts/cgroup2-vm --timeout "${CGROUP2_VM_TIMEOUT:-600}" -- \
    python3 -m pytest -q -p no:cacheprovider -m cgroup2 "$@" tests/integration
