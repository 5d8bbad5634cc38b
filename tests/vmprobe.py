"""Probes for host features a test needs and a host may lack: the pure
cgroup v2 VM of scripts/test-vm.sh (Debian's kernel, tmpfs /tmp) lacks some
that the development machines have, and other hosts lack others.  Each probe
asks the kernel, never "are we in the VM", and returns None when the feature
is there, else the reason to skip, naming the feature."""

from __future__ import annotations

import errno
import os

from pycontainer import syscalls
from pycontainer.idmapped import AT_EMPTY_PATH, AT_FDCWD, OPEN_TREE_CLONE, _fstype
from pycontainer.mountopts import MOUNT_ATTR_IDMAP


def no_idmapped_mounts(path: str) -> str | None:
    """Why ``path`` cannot be idmapped (its filesystem, or the kernel), or None.
    The probe idmaps a detached copy of the mount, as the runtime does."""
    try:
        tree = syscalls.open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | os.O_CLOEXEC)
    except OSError as e:
        return f"open_tree (idmapped mounts) fails here: {e.strerror}"
    try:
        userns = syscalls.userns_fd("0 100000 65536\n", "0 100000 65536\n")
        try:
            syscalls.mount_setattr(tree, "", AT_EMPTY_PATH, MOUNT_ATTR_IDMAP, 0, 0, userns)
        finally:
            os.close(userns)
    except OSError as e:
        if e.errno == errno.EINVAL:
            return f"no idmapped mounts on {_fstype(path)} (the filesystem of {path}) with this kernel"
        return f"no idmapped mounts here: mount_setattr: {e.strerror}"
    finally:
        os.close(tree)
    return None


def no_setuid(path: str) -> str | None:
    """Why a setuid program under ``path`` would not gain its owner's ids, or None."""
    if os.statvfs(path).f_flag & os.ST_NOSUID:
        return f"{path} is on a nosuid mount: setuid programs there do not change ids"
    return None
