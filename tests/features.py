"""What this host has, found out rather than assumed.

Each probe returns None when the feature is there, or the reason a test
that needs it skips: a sentence naming the missing feature (and, where it
helps, the package that brings it).  Probes look, and make nothing that
outlives them; each answers once per session (a host's features do not
change under a test run).  ``require`` skips the calling test with the
reason.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import uuid

import pytest


def require(reason: str | None) -> None:
    """Skip the calling test when a probe found something missing."""
    if reason is not None:
        pytest.skip(reason)


@functools.cache
def command(name: str, package: str) -> str | None:
    if shutil.which(name) is None:
        return f"{name} is not installed (Debian package {package})"
    return None


def _probe_cgroup(hierarchy: str) -> list[str]:
    """The files a new cgroup gets in ``hierarchy`` (made and removed at
    once), which is what a container's cgroup will get: on cgroup v2 some
    files never show in the root cgroup."""
    probe = os.path.join(hierarchy, f"pycontainer-probe-{uuid.uuid4().hex[:8]}")
    os.mkdir(probe)
    try:
        return os.listdir(probe)
    finally:
        os.rmdir(probe)


@functools.cache
def blkio_weight() -> str | None:
    """``linux.resources.blockIO.weight`` needs an I/O scheduler with weights:
    CFQ (``blkio.weight``) or BFQ (``blkio.bfq.weight``) on cgroup v1, BFQ
    (``io.bfq.weight``) or io.cost (``io.weight``) on cgroup v2.  mq-deadline,
    kyber and none have none."""
    from pycontainer.cgroups.detect import detect

    layout = detect()
    if "blkio" in layout.v1:
        names, where = ("blkio.weight", "blkio.bfq.weight"), "the blkio cgroup (v1)"
        files = _probe_cgroup(layout.v1["blkio"])
    elif layout.unified is not None and "io" in layout.unified_controllers:
        names, where = ("io.weight", "io.bfq.weight"), "the io cgroup (v2)"
        enabled = open(os.path.join(layout.unified, "cgroup.subtree_control")).read().split()
        if "io" not in enabled:
            return "the io controller is not enabled below the cgroup v2 root"
        files = _probe_cgroup(layout.unified)
    else:
        return "no blkio (v1) or io (v2) cgroup controller on this host"
    if not any(name in files for name in names):
        schedulers = _schedulers()
        return (
            f"no block I/O weights: {where} has no {' or '.join(names)} "
            f"(the disks' I/O schedulers: {schedulers}; weights need CFQ or BFQ)"
        )
    return None


def _schedulers() -> str:
    found = []
    for disk in sorted(os.listdir("/sys/block")):
        try:
            with open(f"/sys/block/{disk}/queue/scheduler") as f:
                text = f.read().split()
        except OSError:
            continue
        active = next((s.strip("[]") for s in text if s.startswith("[")), None)
        if active and not disk.startswith(("loop", "ram")):
            found.append(f"{disk} {active}")
    return ", ".join(found) or "none found"


@functools.cache
def link_type(kind: str) -> str | None:
    """Whether the kernel makes links of ``kind`` (``ip link add ... type
    KIND``): the dummy driver, for one, is not built into every kernel."""
    name = f"tprobe{uuid.uuid4().hex[:8]}"
    extra = ["peer", "name", name + "p"] if kind == "veth" else []
    r = subprocess.run(["ip", "link", "add", name, "type", kind, *extra], capture_output=True, text=True)
    if r.returncode != 0:
        return f"the kernel makes no {kind} links here ({r.stderr.strip()})"
    subprocess.run(["ip", "link", "del", name], capture_output=True)
    return None
