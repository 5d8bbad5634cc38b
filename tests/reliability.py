"""Shared by the reliability tests: nsinit as a subprocess, and a search of
the whole host for anything a container left (its state dir, cgroups,
processes, mounts), found by its id."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from tests.conftest import NSINIT

CGROUP_ROOT = "/sys/fs/cgroup"


def nsinit(
    root, *args: str, env: dict | None = None, timeout: float = 30, **kw
) -> subprocess.CompletedProcess:
    """``nsinit --root ROOT ARGS``, stderr in ``.stderr``.  Only a
    ``stdout=subprocess.PIPE`` is a pipe: the container's stdio is nsinit's,
    and a pipe would stay open for as long as a detached container lives."""
    with tempfile.TemporaryFile("w+") as err:
        p = subprocess.run(
            [*NSINIT, "--root", str(root), *args],
            stdin=subprocess.DEVNULL,
            stdout=kw.pop("stdout", subprocess.DEVNULL),
            stderr=err,
            text=True,
            env={**os.environ, **(env or {})},
            timeout=timeout,
            **kw,
        )
        err.seek(0)
        p.stderr = err.read()
    return p


def _cgroup_dirs_named(name: str) -> list[str]:
    found = []
    for hierarchy in os.listdir(CGROUP_ROOT):
        for dirpath, dirnames, _ in os.walk(os.path.join(CGROUP_ROOT, hierarchy)):
            if dirpath.count("/") > 8:
                dirnames[:] = []
            if name in os.path.basename(dirpath):
                found.append(dirpath)
    return found


def _processes_of(name: str) -> list[str]:
    """Processes whose command line or cgroup names the container: nsinit
    itself, the container's init before it execs (a clone of nsinit), and
    every process in the container's cgroups."""
    found = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().decode(errors="replace")
            with open(f"/proc/{entry}/cgroup") as f:
                cgroup = f.read()
            with open(f"/proc/{entry}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue  # exited, waiting to be reaped by whoever adopted it
        except OSError:
            continue
        if name in cmdline or name in cgroup:
            found.append(f"{entry}: {cmdline.replace(chr(0), ' ')[:80]}")
    return found


def _mounts_of(name: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if name in line]


def leftovers(container_id: str, root: str | os.PathLike) -> dict[str, list[str]]:
    """Everything on the host that still names the container; {} when none."""
    found = {
        "state dir": [str(p) for p in [Path(root) / container_id] if os.path.lexists(p)],
        "cgroups": _cgroup_dirs_named(container_id),
        "processes": _processes_of(container_id),
        "mounts": _mounts_of(container_id),
    }
    return {k: v for k, v in found.items() if v}


def wait_no_leftovers(container_id: str, root, timeout: float = 3.0) -> dict[str, list[str]]:
    """leftovers(), allowing a killed process a moment to finish exiting."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        found = leftovers(container_id, root)
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)
