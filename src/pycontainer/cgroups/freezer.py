"""Freezing a container's processes (``nsinit pause`` / ``resume``).

cgroup v1 has the freezer controller (``freezer.state``: THAWED, FREEZING,
FROZEN); cgroup v2 has ``cgroup.freeze`` in every cgroup, reporting through
``cgroup.events`` (``frozen 1``).  On a hybrid host the v1 freezer, where it
is mounted, is the one that counts.  Freezing is asynchronous: we wait until
the kernel says every task is frozen, as runc does, and thaw again if it
never gets there.
"""

from __future__ import annotations

import os
import time

from pycontainer.errors import ContainerError

FREEZE_TIMEOUT = 10.0  # seconds


def _files(paths: dict[str, str]) -> tuple[str, str] | None:
    """("v1", freezer dir) or ("v2", unified dir) for the container's cgroup paths."""
    if "freezer" in paths:
        return "v1", paths["freezer"]
    if "" in paths:
        return "v2", paths[""]
    return None


def is_frozen(paths: dict[str, str]) -> bool:
    where = _files(paths)
    if where is None:
        return False
    kind, directory = where
    try:
        if kind == "v1":
            return _read(directory, "freezer.state") == "FROZEN"
        return "frozen 1" in _read(directory, "cgroup.events").splitlines()
    except OSError:
        return False  # the cgroup is gone: nothing is frozen


def freeze(paths: dict[str, str]) -> None:
    _set(paths, frozen=True)


def thaw(paths: dict[str, str]) -> None:
    _set(paths, frozen=False)


def _set(paths: dict[str, str], frozen: bool) -> None:
    where = _files(paths)
    if where is None:
        raise ContainerError("the container has no freezer (no freezer cgroup and no cgroup v2)")
    kind, directory = where
    if kind == "v1":
        name, value = "freezer.state", ("FROZEN" if frozen else "THAWED")
    else:
        name, value = "cgroup.freeze", ("1" if frozen else "0")
    deadline = time.monotonic() + FREEZE_TIMEOUT
    delay = 0.0005
    while True:
        _write(directory, name, value)
        if is_frozen(paths) == frozen:
            return
        if time.monotonic() > deadline:
            if frozen:
                _set(paths, frozen=False)
            raise ContainerError(
                f"the container's processes did not {'freeze' if frozen else 'thaw'} in time"
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _read(directory: str, name: str) -> str:
    with open(os.path.join(directory, name)) as f:
        return f.read().strip()


def _write(directory: str, name: str, value: str) -> None:
    try:
        with open(os.path.join(directory, name), "w") as f:
            f.write(value)
    except OSError as e:
        raise ContainerError(f"writing {value} to {directory}/{name}: {e.strerror}") from None
