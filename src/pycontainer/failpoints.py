"""Failpoints: a test-only switch that kills the runtime at a named step.

Reliability tests set PYCONTAINER_FAILPOINT to a step name (for example
``create.cgroup-made``); the process that reaches that step (nsinit, or the
container's init before it execs) dies by SIGKILL on the spot, as if the
machine had pulled the plug.  The tests then check that ``nsinit delete
--force`` brings the host back to what it was.

Without the variable, ``reached()`` is one dict lookup.  Step names are
listed in STEPS so the tests can walk every one of them.
"""

from __future__ import annotations

import os
import sys

ENV = "PYCONTAINER_FAILPOINT"

# Every step a failpoint may name, in the order a create/start/exec/delete
# reaches them.  A module that adds a reached() call adds its step here.
# "init.*" and "exec.namespaces-joined" are reached in the container's
# processes (before they exec), the others in nsinit.
STEPS: list[str] = [
    "create.state-dir",  # the state dir and exec fifo exist, state.json not yet
    "create.state-saved",  # state.json: the cgroups about to be made, no init pid
    "create.cgroup-dir-made",  # in each hierarchy in turn (the first: between two)
    "create.cgroup-made",
    "create.resources-applied",
    "create.init-cloned",
    "init.started",  # the init has its namespaces
    "init.mounts-made",
    "create.runtime-hooks-run",  # prestart and createRuntime, run by nsinit
    "init.create-hooks-run",  # createContainer, run by the init
    "create.init-in-cgroup",
    "init.root-changed",  # after pivot_root
    "init.ready",  # the init outlives nsinit create from here
    "create.init-ready",
    "create.state-complete",  # state.json with the init's pid
    "create.pid-file",
    "start.fifo-removed",
    "start.started",
    "init.start-received",
    "exec.process-cloned",
    "exec.namespaces-joined",
    "exec.process-in-cgroup",
    "delete.killed",
    "delete.cgroups-removed",
    "delete.state-removed",
]

# Networking (pycontainer.network): reached in nsinit once the init is ready,
# only for a config with a pycontainer.network section or linux.netDevices.
STEPS += ["network.devices-moved", "network.veth-created", "network.bridge-created", "network.nft-added"]


# Also test-only: with PYCONTAINER_NO_PATHS_FROM set to a step, the process
# that reaches it fails on any import or open by path from then on.  The init
# from "init.root-changed" on (right after the switch of root) must use only
# the fds it holds: a path there would be resolved in the container's tree.
NO_PATHS_ENV = "PYCONTAINER_NO_PATHS_FROM"


# Also test-only: with PYCONTAINER_INTERRUPT_AT set to a step, the process
# that reaches it raises KeyboardInterrupt there, as a Ctrl-C would: the
# library must undo what it made and let the interrupt through.
INTERRUPT_ENV = "PYCONTAINER_INTERRUPT_AT"


def reached(step: str) -> None:
    """Die by SIGKILL here if the failpoint names this step (raise
    KeyboardInterrupt if PYCONTAINER_INTERRUPT_AT does)."""
    if os.environ.get(NO_PATHS_ENV) == step:
        forbid_paths(step)
    if os.environ.get(INTERRUPT_ENV) == step:
        raise KeyboardInterrupt(f"failpoint {step}")
    if os.environ.get(ENV) == step:
        os.kill(os.getpid(), 9)
        # Still here: the init of a pid namespace, which the kernel shields
        # from its own SIGKILL.  _exit runs no handler either.
        os._exit(137)


# Steps where a test may stop the runtime instead (SIGSTOP; the test sends
# SIGCONT) to change the world under it: here, between taking the init's
# pidfd and acting on it, the init dies and its pid goes to another process.
PAUSE_ENV = "PYCONTAINER_PAUSE_AT"
PAUSE_STEPS = ["kill.init-checked", "exec.init-checked", "delete.init-checked"]


def pause_point(step: str) -> None:
    """Stop this process here (until SIGCONT) if PYCONTAINER_PAUSE_AT names the step."""
    if os.environ.get(PAUSE_ENV) == step:
        os.kill(os.getpid(), 19)  # SIGSTOP


def forbid_paths(step: str) -> None:
    """From now on an import, or an open of anything named by a path, raises
    (an audit hook; it cannot be removed).  An fd given to open() is fine, and
    so is "/": the process's own root, which nothing in the container can
    redirect (finalize.enter_cwd resolves the cwd below it)."""

    def hook(event: str, args: tuple) -> None:
        if event == "import" or (event == "open" and isinstance(args[0], (str, bytes)) and args[0] != "/"):
            raise RuntimeError(f"{event} of {args[0]!r} by path after {step}")

    sys.addaudithook(hook)
